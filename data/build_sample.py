"""Rebuild data/articles/ from ../shared: the seed article plus Wikipedia paragraphs from MLQA.

MLQA (Lewis et al., 2019; facebookresearch/MLQA) is CC BY-SA 3.0; see data/ATTRIBUTION.md.
Paragraphs of one Wikipedia article become one article file here. To show the readers at work,
one Chinese article is written in GBK and one as an HTML page.

    python data/build_sample.py [--data DIR]     # DIR holds bench-data/mlqa/ and seeds/ (default ../shared)
"""
from __future__ import annotations

import argparse
import html
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
OUT = HERE / "articles"

ZH = ["艾萨克·牛顿", "土卫二", "万维网", "统计学", "2012年印度大停电", "DNA纳米技术"]
EN = ["Isaac Newton", "Enceladus", "Internet", "Solar System", "Prime number", "Yellowstone fires of 1988"]


NEEDS = {"bench-data/mlqa/dev-context-zh-question-zh.json": "MLQA v1 dev (github.com/facebookresearch/MLQA, MLQA_V1/dev/)",
         "bench-data/mlqa/dev-context-en-question-zh.json": "MLQA v1 dev (github.com/facebookresearch/MLQA, MLQA_V1/dev/)",
         "seeds/tiktok-shop-us-launch.zh.txt": "the seed article (a copy is data/articles/zh/tiktok-shop-us-launch.zh.txt)"}


def _articles(file: str, titles: list[str]) -> dict[str, list[str]]:
    data = json.loads((SHARED / "bench-data/mlqa" / file).read_text(encoding="utf-8"))["data"]
    return {a["title"]: [p["context"] for p in a["paragraphs"]] for a in data if a["title"] in titles}


def main() -> None:
    global SHARED
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED, help="folder with bench-data/mlqa/ and seeds/ (default ../shared)")
    SHARED = ap.parse_args().data
    missing = [f"{SHARED / f}: {why}" for f, why in NEEDS.items() if not (SHARED / f).exists()]
    if missing:  # checked before data/articles/ is touched
        sys.exit("build_sample: missing input, nothing changed:\n  " + "\n  ".join(missing))
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "zh").mkdir(parents=True)
    (OUT / "en").mkdir(parents=True)
    shutil.copy(SHARED / "seeds/tiktok-shop-us-launch.zh.txt", OUT / "zh" / "tiktok-shop-us-launch.zh.txt")
    src = "来源:维基百科(MLQA 数据集, CC BY-SA 3.0)"
    for i, (title, paras) in enumerate(sorted(_articles("dev-context-zh-question-zh.json", ZH).items())):
        body = "\n\n".join([title, *paras, src]) + "\n"
        name = f"wiki-zh-{i + 1:02d}"
        if title == "统计学":
            (OUT / "zh" / f"{name}.gbk.txt").write_bytes(body.encode("gb18030"))
        elif title == "土卫二":
            ps = "".join(f"<p>{html.escape(p)}</p>\n" for p in paras)
            page = (f"<!doctype html><html lang=zh><head><meta charset=utf-8><title>{title}</title></head><body>"
                    f"<nav>首页 | 科学 | 天文</nav><article><h1>{title}</h1>\n{ps}<p>{src}</p></article>"
                    f"<footer>© 示例站点 版权所有</footer></body></html>\n")
            (OUT / "zh" / f"{name}.html").write_text(page, encoding="utf-8")
        else:
            (OUT / "zh" / f"{name}.txt").write_text(body, encoding="utf-8")
    for i, (title, paras) in enumerate(sorted(_articles("dev-context-en-question-zh.json", EN).items())):
        body = "\n\n".join([title, *paras, "Source: Wikipedia (MLQA dataset, CC BY-SA 3.0)"]) + "\n"
        (OUT / "en" / f"wiki-en-{i + 1:02d}.md").write_text("# " + body, encoding="utf-8")
    (HERE / "ATTRIBUTION.md").write_text(
        "# Sample articles: sources and licences\n\n"
        "- `zh/tiktok-shop-us-launch.zh.txt`: the project's seed article, exactly as scraped (source named in the text: 跨境电商头条).\n"
        "- `zh/wiki-zh-*` and `en/wiki-en-*`: Wikipedia paragraphs from the MLQA v1 dev set "
        "(Lewis et al., \"MLQA: Evaluating Cross-lingual Extractive Question Answering\", arXiv:1910.07475), "
        "licensed CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/). Paragraphs of one Wikipedia "
        "article are joined into one file; text unchanged. These files are shared under the same licence.\n\n"
        "Rebuilt by `python data/build_sample.py` from `../shared/bench-data/mlqa/`.\n", encoding="utf-8")
    print(f"wrote {sum(1 for _ in OUT.rglob('*') if _.is_file())} files under {OUT}")


if __name__ == "__main__":
    main()
