"""Makes the printed-PDF fixtures beside this file (from the repository root: python tests/data/pdf/print_fixtures.py).

Each is a sample article of data/articles (Wikipedia paragraphs from MLQA, CC BY-SA 3.0; see
data/ATTRIBUTION.md) printed to PDF by Debian's Chromium (tests/docgen.py::printed_pdf): a real
text layer whose lines break where the printer broke them, a running head and a page number on
every page, and — from the CJK font's character map — Kangxi radicals for some characters.

- printed-zh-2col.pdf: wiki-zh-01.txt (2012年印度大停电) in two columns, 22 px type;
- printed-en.pdf: wiki-en-01.md (Enceladus) in one column, 19 px type;
- printed-kangxi.pdf: one sentence written for this project whose characters are typed as the Kangxi
  radicals some PDF fonts map them to (表⽰, ⼩, 四⼗⼀), as such a PDF's text layer holds them."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
sys.path.insert(0, str(ROOT))

from tests.docgen import printed_pdf  # noqa: E402


def article(name: str) -> tuple[str, list[str]]:
    """(title, paragraphs) of a sample article: its first line, then a paragraph a line (the source line left out)."""
    lines = [ln.strip().lstrip("# ") for ln in (ROOT / "data" / "articles" / name).read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("Source:") and not ln.startswith("来源")]
    return lines[0], lines[1:]


def main() -> None:
    title, paras = article("zh/wiki-zh-01.txt")
    (HERE / "printed-zh-2col.pdf").write_bytes(printed_pdf(paras, title=title, columns=2, header="研究资料 · 电力系统", font_px=22))
    title, paras = article("en/wiki-en-01.md")
    (HERE / "printed-en.pdf").write_bytes(printed_pdf(paras, title=title, columns=1, header="Reading list: outer planets",
                                                      font_px=19, lang="en"))
    (HERE / "printed-kangxi.pdf").write_bytes(printed_pdf(["调查表⽰，⼩型企业占四⼗⼀家，噪⾳问题⽐去年少。"], title="⼩型企业调查"))


if __name__ == "__main__":
    main()
