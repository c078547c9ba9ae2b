"""Text-layer PDFs read as printed (ingest.readers through PDFium, ingest.layout): paragraphs
rebuilt from the printed lines — across two columns and across pages — running heads and page
numbers dropped, Kangxi radicals from a font's character map folded, and the citation naming the
paragraph and page of the marked sentence. The fixtures were printed by Chromium
(tests/data/pdf/print_fixtures.py) from sample articles of data/articles."""
from __future__ import annotations

from pathlib import Path

import pytest

from ingest import to_article
from kb.text import normalize
from .conftest import open_kb

DATA = Path(__file__).parent / "data" / "pdf"


def article(name: str) -> tuple[str, list[str]]:
    """(title, paragraphs) a fixture was printed from (tests/data/pdf/print_fixtures.py)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("print_fixtures", DATA / "print_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.article(name)


@pytest.mark.parametrize("name,source", [("printed-zh-2col.pdf", "zh/wiki-zh-01.txt"), ("printed-en.pdf", "en/wiki-en-01.md")])
def test_paragraphs_come_back_as_they_were_printed(name, source):
    art = to_article(DATA / name, name)
    title, paras = article(source)
    assert art.title == title
    assert art.text.split("\n") == [normalize(p) for p in paras]  # no line-end breaks, no running heads or page numbers
    assert art.meta["page_count"] >= 2 and len(art.meta["pages"]) == art.meta["page_count"] - 1
    assert "研究资料" not in art.text and "Reading list" not in art.text


def test_a_paragraph_running_on_to_the_next_page_stays_one_and_knows_where_the_page_begins():
    art = to_article(DATA / "printed-zh-2col.pdf", "x")
    page2 = art.meta["pages"][0]
    starts = [0] + [i + 1 for i, ch in enumerate(art.text) if ch == "\n"]
    assert page2 not in starts  # page 2 begins inside a paragraph, not at one's start
    assert art.text[page2 - 1] != "\n" and art.text[page2] != "\n"


def test_kangxi_radicals_in_a_text_layer_are_folded_and_searchable(tmp_path, hash_model):
    f = DATA / "printed-kangxi.pdf"
    import pypdfium2 as pdfium
    raw = pdfium.PdfDocument(str(f))[0].get_textpage().get_text_range()
    assert "⽰" in raw and "⼗" in raw  # what the file holds
    art = to_article(f, str(f))
    assert art.title == "小型企业调查"
    assert art.text == "调查表示，小型企业占四十一家，噪音问题比去年少。"
    kb = open_kb(tmp_path / "kb", create=True)
    with kb.writer():
        kb.add(art)
    hit = kb.search("调查表示噪音问题", k=1)[0]
    assert "表示" in [m[1] for m in hit.matches] or "表示" in hit.highlight
    kb.close()


def test_the_citation_names_the_paragraph_and_page_of_the_marked_sentence(tmp_path, hash_model):
    art = to_article(DATA / "printed-en.pdf", "printed-en.pdf")
    kb = open_kb(tmp_path / "kb", create=True)
    with kb.writer():
        kb.add(art)
    hit = kb.search("Voyager 2 first spacecraft to observe Enceladus surface in detail August 1981", k=1)[0]
    para = art.text.split("\n").index(next(p for p in art.text.split("\n") if p.startswith("Voyager 2")))
    assert hit.highlight_paragraph == para + 1  # the third paragraph is cited as paragraph 3
    page = 1 + sum(1 for p in art.meta["pages"] if p <= hit.highlight_start)
    assert hit.highlight_page == page and f"p. {page}" in hit.citation()
    kb.close()
