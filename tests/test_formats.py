"""PDF, DOCX and EPUB files made by the tests, read through the real pipeline."""
from __future__ import annotations

import pytest

from ingest import to_article
from ingest.readers import read_file
from kb.errors import ReadError

from .docgen import blank_pdf_bytes, encrypted_pdf_bytes, pdf_bytes, write_docx, write_epub
from .conftest import open_kb


def test_pdf_pages_are_kept_and_cited(tmp_path, hash_model):
    f = tmp_path / "report.pdf"
    f.write_bytes(pdf_bytes(["Market overview. Sellers in Indonesia grew fast this year.",
                             "Risk section. Low price competition squeezes margins on page two."], title="Annual report"))
    art = to_article(f, str(f))
    assert art.title == "Annual report" and art.author == "Test Author"
    assert art.date is None and art.meta["file_created"] == "2023-09-12"  # when the file was made, not published
    assert art.meta["pages"] and art.text[art.meta["pages"][0]:].startswith("Risk section.")
    kb = open_kb(tmp_path / "kb", create=True)
    with kb.writer():
        kb.add(art)
    hit = kb.search("low price competition margins", k=1)[0]
    assert hit.page == 2 and "p. 2" in hit.citation()
    assert kb.search("Indonesia sellers", k=1)[0].page == 1


@pytest.mark.parametrize("title,expected", [(None, "Quarterly logistics review"), ("untitled", "Quarterly logistics review"),
                                            ("Microsoft Word - draft3.docx", "Quarterly logistics review"),
                                            ("Real title", "Real title")])
def test_a_pdf_without_a_real_title_takes_its_first_heading_line(tmp_path, title, expected):
    f = tmp_path / "scan-0042.pdf"
    f.write_bytes(pdf_bytes(["Quarterly logistics review", "Costs fell by five percent."], title=title))
    assert to_article(f, str(f)).title == expected


@pytest.mark.parametrize("maker,reason", [(encrypted_pdf_bytes, "encrypted"), (blank_pdf_bytes, "OCR"),
                                          (lambda: b"%PDF-1.4 garbage", "not a readable PDF")])
def test_bad_pdfs_are_reported(tmp_path, maker, reason):
    f = tmp_path / "x.pdf"
    f.write_bytes(maker())
    with pytest.raises(ReadError, match=reason):
        read_file(f)


def test_docx_headings_become_paragraph_boundaries(tmp_path):
    f = write_docx(tmp_path / "memo.docx", "全托管模式调研", [
        ("背景", ["TikTok电商在美国上线了全托管业务。", "商家将商品供货至广州仓。"]),
        ("风险", ["全托管模式容易出现低价竞争。"])])
    art = to_article(f, str(f))
    assert art.title == "全托管模式调研" and art.author == "李雷"
    assert art.text.split("\n") == ["背景", "TikTok电商在美国上线了全托管业务。", "商家将商品供货至广州仓。", "风险",
                                    "全托管模式容易出现低价竞争。"]
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ReadError, match="not a valid DOCX"):
        read_file(tmp_path / "bad.docx")


def test_epub_chapters_are_sections(tmp_path):
    f = write_epub(tmp_path / "book.epub", "跨境电商简史", [("第一章 起步", "印尼小店在两年前上线。"),
                                                      ("第二章 扩张", "美国市场于九月正式开放。")])
    art = to_article(f, str(f))
    assert art.title == "跨境电商简史" and art.author == "韩梅梅"
    assert "第一章 起步\n印尼小店在两年前上线。" in art.text and "第二章 扩张\n美国市场于九月正式开放。" in art.text
