"""The cited page itself (ingest.pages, GET /articles/{id}/pages/{n}.png and …/boxes): a
printed PDF's page and a scan's page rendered from the source file, the marked sentence's
place on it from PDFium's character boxes or the OCR line boxes, and a file that moved or
changed refused in one line instead of showing the wrong page."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import httpx
import pytest
from PIL import Image

from ingest import ingest, pages
from kb.errors import ReadError
from .conftest import open_kb
from .test_api import Server

DATA = Path(__file__).parent / "data"
PRINTED = DATA / "pdf" / "printed-zh-2col.pdf"
SCAN = DATA / "ocr" / "scan-molasses.pdf"


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    """A KB (hash embedder) of a printed two-column PDF, a scanned PDF and a text file."""
    root = tmp_path_factory.mktemp("pages")
    src = root / "src"
    src.mkdir()
    for f in (PRINTED, SCAN):
        shutil.copy(f, src / f.name)
    (src / "note.txt").write_text("笔记\n这是一篇没有页面的文字笔记。\n", encoding="utf-8")
    import os
    from .fakes import HASH
    old = os.environ.get("KB_MODEL")
    os.environ["KB_MODEL"] = HASH
    try:
        kb = open_kb(root / "kb", create=True)
        s = ingest(kb, [str(src)], progress=False, echo=False)
        assert len(s.added) == 3, s.line()
        arts = {Path(a.path).name: kb.store.article(a.id) for a in kb.articles()}
        kb.close()
    finally:
        os.environ.pop("KB_MODEL") if old is None else os.environ.__setitem__("KB_MODEL", old)
    return root, arts


def _span(art, text: str) -> tuple[int, int]:
    at = art.text.index(text)
    return at, at + len(text)


def _orange(img, box) -> int:
    """Outline-coloured pixels (ingest.pages.outlined's orange) inside a fractional box."""
    w, h = img.size
    crop = img.crop((int(box[0] * w) - 6, int(box[1] * h) - 6, int(box[2] * w) + 6, int(box[3] * h) + 6)).convert("RGB")
    return sum(1 for r, g, b in crop.getdata() if r > 200 and 90 < g < 150 and b < 60)


def test_a_sentence_of_a_printed_pdf_is_placed_on_its_page(paged):
    _, arts = paged
    art = arts[PRINTED.name]
    sentence = next(s for s in art.text.split("。") if len(s) > 30) + "。"
    start, end = _span(art, sentence)
    found = pages.boxes(art, 1, start, end)
    assert found and all(0 <= v <= 1 for b in found for v in b)
    assert all(b[2] - b[0] < 0.5 for b in found)  # a two-column page: every line of it is within a column
    img = pages.page_image(art, 1)
    assert max(img.size) == pages.VIEW_SIDE
    marked = pages.outlined(img, found)
    assert _orange(marked, found[0]) > 50 and _orange(img, found[0]) == 0


def test_a_scanned_pages_sentence_is_placed_from_the_ocr_boxes(paged):
    _, arts = paged
    art = arts[SCAN.name]
    start, end = _span(art, "法院委派的审计员听取了三千多页证词")
    found = pages.boxes(art, 2, start, end)
    assert len(found) == 1  # one printed line
    left, top, right, bottom = found[0]
    assert 0.05 < left < 0.25 and 0.1 < top < 0.4 and bottom - top < 0.05  # near the top of page 2, one line high
    assert pages.boxes(art, 1, start, end) == []  # not on page 1


def test_pages_of_a_file_that_moved_or_changed_are_refused(paged, tmp_path):
    root, arts = paged
    note = arts["note.txt"]
    with pytest.raises(ReadError, match="no pages to show"):
        pages.page_image(note, 1)
    art = arts[SCAN.name]
    with pytest.raises(ReadError, match="page 3 does not exist: the article has 2 page"):
        pages.page_image(art, 3)
    moved = type(art)(**{**art.__dict__, "key": str(tmp_path / "gone.pdf")})
    with pytest.raises(ReadError, match="no longer at"):
        pages.page_image(moved, 1)
    other = tmp_path / "changed.pdf"
    other.write_bytes(PRINTED.read_bytes())
    changed = type(art)(**{**art.__dict__, "key": str(other)})
    with pytest.raises(ReadError, match="has changed since it was added"):
        pages.page_image(changed, 1)


@pytest.mark.process
def test_the_api_returns_the_page_and_the_sentences_boxes(paged):
    root, arts = paged
    art = arts[SCAN.name]
    start, end = _span(art, "法院委派的审计员听取了三千多页证词")
    s = Server(root / "kb").wait()
    try:
        with httpx.Client(base_url=s.url, timeout=60) as c:
            r = c.get(f"/articles/{art.id}/pages/2/boxes", params={"start": start, "end": end})
            assert r.status_code == 200, r.text
            got = r.json()
            assert got["page"] == 2 and got["boxes"] == [list(b) for b in pages.boxes(art, 2, start, end)]
            r = c.get(f"/articles/{art.id}/pages/2.png", params={"start": start, "end": end})
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            img = Image.open(io.BytesIO(r.content))
            assert (img.width, img.height) == (got["width"], got["height"]) and _orange(img, got["boxes"][0]) > 50
            plain = Image.open(io.BytesIO(c.get(f"/articles/{art.id}/pages/2.png").content))
            assert _orange(plain, got["boxes"][0]) == 0
            assert c.get(f"/articles/{art.id}/pages/9.png").json()["error"].endswith("the article has 2 page(s)")
            assert c.get(f"/articles/{arts['note.txt'].id}/pages/1.png").status_code == 404
            bad = c.get(f"/articles/{art.id}/pages/1.png", params={"start": 5})
            assert bad.status_code == 422 and "start and end must be given together" in bad.json()["error"]
            # a page of the library is read like the rest: not by a page on another site
            foreign = c.get(f"/articles/{art.id}/pages/1.png", headers={"Origin": "http://evil.example"})
            assert foreign.status_code == 403
            rebound = c.get(f"/articles/{art.id}/pages/1/boxes", params={"start": start, "end": end},
                            headers={"Host": "evil.example"})  # (DNS rebinding: a forged Host)
            assert rebound.status_code == 400 and "boxes" not in rebound.text
    finally:
        s.stop()
