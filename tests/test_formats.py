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
    # when the file was saved is metadata, never the publication date
    assert art.date is None and (art.meta["file_created"], art.meta["file_modified"]) == ("2021-03-04", "2022-05-06")
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


def test_kangxi_radicals_from_pdf_fonts_are_folded_in_every_reader(tmp_path):
    """Chromium-printed PDFs map 示 to ⽰ (U+2F70), 小 to ⼩, 十 to ⼗: the stored text, its terms and
    its search must be those of the page as printed (the fold is in kb.text.normalize)."""
    from kb.text import normalize, tokenize
    printed = "这⼀研究表⽰，⼩型企业的⽐例为四⼗⼀，噪⾳与隆\uf906也在内。"
    assert normalize(printed) == "这一研究表示，小型企业的比例为四十一，噪音与隆句也在内。"
    assert "表示" in tokenize(printed) and len(normalize(printed)) == len(printed)  # a character for a character
    f = tmp_path / "kangxi.txt"
    f.write_text("标题\n" + printed + "\n", encoding="utf-8")
    doc = write_docx(tmp_path / "kangxi.docx", "⼩结", [("背景", [printed])])
    for art in (to_article(f, str(f)), to_article(doc, str(doc))):
        assert "表示" in art.text and "⽰" not in art.text and "⼗" not in art.text
    assert to_article(doc, str(doc)).title == "小结"


def test_a_folder_ingest_names_the_files_it_skipped(tmp_path, hash_model):
    from ingest import ingest
    folder = tmp_path / "articles"
    (folder / "sub").mkdir(parents=True)
    (folder / "note.txt").write_text("跨境电商\n全托管模式让商家只负责供货。\n", encoding="utf-8")
    (folder / "sub" / "table.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (folder / ".hidden.xlsx").write_bytes(b"x")  # hidden: neither read nor reported
    kb = open_kb(tmp_path / "kb", create=True)
    s = ingest(kb, [str(folder)], progress=False, echo=False)
    assert len(s.added) == 1 and not s.failed
    assert sorted(s.skipped) == sorted([str(folder / "photo.heic"), str(folder / "sub" / "table.xlsx")])
    assert s.line().endswith("; skipped 2 files of a kind it does not read: photo.heic, table.xlsx")
    kb.close()
