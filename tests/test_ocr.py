"""Scans and photos of pages, read by OCR (ingest.ocr on the real RapidOCR models in its wheel):
the text as printed, paragraphs from the page's geometry, page numbers in citations, the
recognizer's confidence recorded, and the limits that keep a hostile image cheap.

The fixtures in tests/data/ocr/ were made by its make_fixtures.py (text written for this project)."""
from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

from ingest import ingest, ocr, to_article
from ingest.layout import Line, join_lines, layout, rows
from ingest.readers import read_file
from kb.errors import ReadError
from .conftest import open_kb
from .docgen import blank_pdf_bytes, page_image, scanned_pdf_bytes

DATA = Path(__file__).parent / "data" / "ocr"
SCAN = DATA / "scan-molasses.pdf"
PHOTO = DATA / "page-photo.jpg"


def test_a_scanned_pdf_is_read_page_by_page_into_its_paragraphs():
    art = to_article(SCAN, str(SCAN))
    assert art.title == "波士顿糖蜜洪水" and art.meta["kind"] == "pdf"
    paras = art.text.split("\n")
    assert paras[0].startswith("1919年1月15日中午，波士顿北端商业街上一座储存糖蜜的大罐突然破裂。")
    assert paras[0].endswith("冲毁了高架铁路的支柱和附近的房屋。")  # two printed lines, one paragraph, no space
    assert "事后的调查与诉讼" in paras  # a heading is a paragraph of its own
    assert paras[-1] == "这起事故促使马萨诸塞州修改了建筑法规，要求结构计算必须由注册工程师签字并存档。"
    assert len(paras) == 5
    o = art.meta["ocr"]
    assert o["pages"] == [1, 2] and o["confidence"] > 0.97 and o["engine"].startswith("RapidOCR")
    assert art.text[art.meta["pages"][0]:].startswith("事后的调查与诉讼")  # where page 2 begins


def test_a_photo_of_a_page_is_read_with_its_short_last_line():
    art = to_article(PHOTO, str(PHOTO))
    assert art.title == "Reading a scanned page" and art.meta["kind"] == "image"
    assert ("The recognizer still has to find every line, including a short last line." in art.text)
    assert "研究者常常用手机拍下图书馆里的资料，再把照片放进自己的资料库里检索和引用。" in art.text
    assert art.meta["ocr"]["confidence"] > 0.95 and art.meta["image"]["format"] == "JPEG"


def test_scans_are_searchable_and_cited_with_their_page(tmp_path, hash_model):
    folder = tmp_path / "scans"
    folder.mkdir()
    for f in (SCAN, PHOTO):
        shutil.copy(f, folder / f.name)
    kb = open_kb(tmp_path / "kb", create=True)
    s = ingest(kb, [str(folder)], progress=False, echo=False)
    assert len(s.added) == 2 and not s.failed and not s.skipped
    hit = kb.search("审计员听取了多少页证词", k=1)[0]
    assert hit.title == "波士顿糖蜜洪水" and hit.highlight_page == 2 and "p. 2" in hit.citation()
    assert hit.ocr is not None and hit.ocr > 0.97 and hit.to_dict()["ocr"] == hit.ocr
    first = kb.search("糖蜜浪头最高多少米", k=1)[0]
    assert first.title == "波士顿糖蜜洪水" and first.highlight_page == 1
    arts = {a.title: a.summary() for a in kb.articles()}
    assert arts["Reading a scanned page"]["ocr"]["pages"] == [1]
    kb.close()


def test_a_pdf_reads_its_text_layer_and_ocrs_only_the_pages_without_one(tmp_path):
    """A PDF whose first page has text and whose second is a scan: one article, pages in order."""
    from pypdf import PdfReader, PdfWriter
    import io
    from .docgen import pdf_bytes
    img, _ = page_image(["第二页是扫描件：储罐从未做过注水试验。"])
    w = PdfWriter()
    w.add_page(PdfReader(io.BytesIO(pdf_bytes(["Page one has a real text layer about tank tests."]))).pages[0])
    w.add_page(PdfReader(io.BytesIO(scanned_pdf_bytes([img]))).pages[0])
    buf = io.BytesIO()
    w.write(buf)
    f = tmp_path / "mixed.pdf"
    f.write_bytes(buf.getvalue())
    art = to_article(f, str(f))
    assert art.meta["ocr"]["pages"] == [2]
    page2 = art.text[art.meta["pages"][0]:]
    assert "Page one has a real text layer" in art.text[:art.meta["pages"][0]]
    assert page2.strip() == "第二页是扫描件：储罐从未做过注水试验。"


def test_a_blank_pdf_and_a_blank_image_say_ocr_found_nothing(tmp_path):
    f = tmp_path / "blank.pdf"
    f.write_bytes(blank_pdf_bytes())
    with pytest.raises(ReadError, match="no text layer, and OCR found no text on its 2 pages"):
        read_file(f)
    from PIL import Image
    Image.new("RGB", (800, 600), "white").save(tmp_path / "white.png")
    with pytest.raises(ReadError, match="OCR found no text in this image"):
        read_file(tmp_path / "white.png")


def _png_header(w: int, h: int) -> bytes:
    """A PNG that claims ``w`` × ``h`` pixels (a decompression bomb's header) with one tiny IDAT."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("name,data,reason", [
    ("bomb.png", _png_header(100_000, 100_000), "image claims 10,000 M pixels, over the 60 M pixel limit"),
    ("large.png", _png_header(10_000, 8_000), "image is 10,000 × 8,000 pixels, over the 60 M pixel limit"),
    ("truncated.png", _png_header(400, 300)[:40], "not a readable image"),
    ("not-an-image.jpg", b"this is text, not a JPEG", "not a readable image"),
])
def test_bad_images_fail_in_one_line_without_decoding(tmp_path, name, data, reason):
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(ReadError, match=reason) as e:
        read_file(f)
    assert "\n" not in str(e.value)


def test_ocr_work_is_bounded_by_pages_and_seconds(tmp_path, monkeypatch):
    f = tmp_path / "scan.pdf"
    shutil.copy(SCAN, f)
    monkeypatch.setattr(ocr, "MAX_OCR_PAGES", 1)
    with pytest.raises(ReadError, match="2 pages without a text layer, over the 1 pages OCR reads"):
        read_file(f)
    monkeypatch.setattr(ocr, "MAX_OCR_PAGES", 300)
    monkeypatch.setattr(ocr, "MAX_PAGE_SECONDS", 0.01)
    with pytest.raises(ReadError, match=r"OCR of page 1 took .* over the 0.01 s limit a page"):
        read_file(f)


def _line(text, x0, y0, x1, y1):
    return Line(text, (x0, y0, x1, y1), 0.99)


def test_lines_join_into_paragraphs_by_the_page_geometry():
    """Rows at 40 px steps, 30 px high; a paragraph ends at a blank line, at a set-in first line,
    or at a short line after a sentence's end; Latin lines join with a space (hyphens undone),
    Chinese ones without."""
    lines = [_line("The tank was never", 100, 100, 1000, 130), _line("tested with water; its steel was thin-", 100, 140, 1000, 170),
             _line("ner than the design asked.", 100, 180, 500, 210),                      # short, after a full stop
             _line("储罐的主人最终", 160, 220, 1000, 250), _line("支付了赔偿。", 100, 260, 1000, 290),  # set in
             _line("判决之后", 100, 340, 1000, 370),                                         # after a blank line
             _line("法规被修改了。", 100, 380, 400, 410)]
    paras = layout(rows(lines[::-1]))  # (in any order: rows are sorted by position)
    assert [join_lines([ln.text for ln in p]) for p in paras] == [
        "The tank was never tested with water; its steel was thinner than the design asked.",
        "储罐的主人最终支付了赔偿。", "判决之后法规被修改了。"]
    # boxes on one row are read left to right, whatever order the detector gave them in
    row = rows([_line("right half", 600, 100, 1000, 130), _line("left half", 100, 102, 500, 131)])
    assert [ln.text for ln in row] == ["left half right half"]
