"""The cited page itself: a PDF's or a scan's page as an image, with a sentence's place on it.

A researcher checking a quote wants to see it where it stands. ``page_image`` renders page ``n``
of an article's source file (PDFium for a PDF, the frame of an image), and ``boxes`` finds where
a span of the article's stored text lies on that page: on a text-layer page from PDFium's
character boxes, on a scanned page from the OCR line boxes (read again, as ingest read them;
a few seconds). Both read the file the article was made from, found by its key (its resolved
path, or the upload kept in the KB folder), and only while its bytes are the ones that were
read (``content_hash``): a file changed or moved since gives a one-line error, never the wrong
page.

Boxes are fractions of the page's width and height (left, top, right, bottom), so they fit any
rendering size.
"""
from __future__ import annotations

import hashlib
import io
import re
from functools import lru_cache
from pathlib import Path

from kb.errors import ReadError
from kb.text import normalize

from .readers import MAX_BYTES

VIEW_SIDE = 1400  # pixels on the long side of a page shown on Read or returned by the API


def source_of(art) -> tuple[Path, str]:
    """(the article's source file, its kind: 'pdf' or 'image') when it has pages to show and the
    file is still the one that was read; ReadError (one line) otherwise."""
    kind = (art.meta or {}).get("kind")
    if kind not in ("pdf", "image"):
        raise ReadError("this article has no pages to show (only PDFs and images of pages have)")
    path = Path(art.key)
    if not path.is_file():
        raise ReadError(f"the source file is no longer at {art.key}")
    st = path.stat()
    if _digest(str(path), st.st_size, st.st_mtime_ns) != art.content_hash:
        raise ReadError(f"the source file {path.name} has changed since it was added: add it again to see its pages")
    return path, kind


@lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """The file's SHA-256, read once while its size and time stay (a page view asks twice: image, boxes)."""
    return hashlib.sha256(Path(path).read_bytes() if size <= MAX_BYTES else b"").hexdigest()


def page_count(art) -> int:
    return int((art.meta or {}).get("page_count") or 1)


def page_image(art, n: int, side: int = VIEW_SIDE):
    """Page ``n`` (1-based) of the article's source as a PIL image (RGB, ``side`` px long side)."""
    path, kind = source_of(art)
    if not 1 <= n <= page_count(art):
        raise ReadError(f"page {n} does not exist: the article has {page_count(art)} page(s)")
    return _render(str(path), art.content_hash, kind, n, side).copy()


@lru_cache(maxsize=16)
def _render(path: str, digest: str, kind: str, n: int, side: int):
    """(cached by file, content and page: turning back to a page is instant)"""
    return _source_page(path, kind, n, side).convert("RGB")


def _source_page(path: str, kind: str, n: int, side: int | None = None):
    """Page ``n`` of the source as a PIL image: a PDF's rendered by PDFium (at the OCR size unless
    ``side``), an image's frame as stored (scaled down to ``side`` when given)."""
    if kind == "pdf":
        import pypdfium2 as pdfium

        from .readers import render_page
        doc = pdfium.PdfDocument(path)
        try:
            return render_page(doc, n - 1, side)
        finally:
            doc.close()
    from PIL import Image, ImageSequence
    with Image.open(path) as im:
        img = next(f for i, f in enumerate(ImageSequence.Iterator(im), 1) if i == n).copy()
    s = side / max(img.size) if side else 1
    return img.resize((max(1, round(img.width * s)), max(1, round(img.height * s)))) if s < 1 else img


def boxes(art, n: int, start: int, end: int) -> list[tuple[float, float, float, float]]:
    """Where the article's text ``[start, end)`` lies on page ``n``: a box per printed line it
    covers, as fractions of the page (left, top, right, bottom); [] when it cannot be found there."""
    path, kind = source_of(art)
    want = _flat(art.text[start:end])
    if not want:
        return []
    ocr_pages = ((art.meta or {}).get("ocr") or {}).get("pages") or []
    chars = _ocr_chars(str(path), art.content_hash, kind, n) if n in ocr_pages else _pdf_chars(str(path), art.content_hash, n)
    text = "".join(c for c, _ in chars)
    at = text.find(want)
    if at < 0:  # (a join the page does not show: find its two ends)
        a, b = text.find(want[:8]), text.find(want[-8:])
        if a < 0 or b < a:
            return []
        at, want = a, text[a:b + 8]
    return _merge([box for _, box in chars[at:at + len(want)]])


def _flat(s: str) -> str:
    """Text as compared with a page: normalised (Kangxi radicals folded…), without whitespace or hyphens."""
    return re.sub(r"[\s\-\u00ad]", "", normalize(s))


@lru_cache(maxsize=8)
def _pdf_chars(path: str, digest: str, n: int) -> list[tuple[str, tuple]]:
    """Page ``n``'s printed characters (flattened as ``_flat``) with their boxes, in fractions."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw
    doc = pdfium.PdfDocument(path)
    try:
        page = doc[n - 1]
        tp = page.get_textpage()
        w, h = page.get_size()
        out = []
        for k in range(tp.count_chars()):
            ch = _flat(chr(raw.FPDFText_GetUnicode(tp.raw, k) or 0x20))
            if not ch:
                continue
            l, b, r, t = tp.get_charbox(k)
            out.append((ch[0], (l / w, (h - t) / h, r / w, (h - b) / h)))
        tp.close()
        page.close()
        return out
    finally:
        doc.close()


@lru_cache(maxsize=8)
def _ocr_chars(path: str, digest: str, kind: str, n: int) -> list[tuple[str, tuple]]:
    """A scanned page read again by OCR: each character with a box spread evenly over its line's."""
    from . import ocr
    from .layout import turned
    page = ocr.read_image(_source_page(path, kind, n), n)  # (the page as ingest read it)
    w, h = page.width, page.height
    out = []
    for ln in page.lines:  # (line boxes are straightened; the page image is not: turned back onto it)
        flat = _flat(ln.text)
        x0, y0, x1, y1 = ln.box
        for k, ch in enumerate(flat):
            a, b = x0 + (x1 - x0) * k / len(flat), x0 + (x1 - x0) * (k + 1) / len(flat)
            pts = [turned(x, y, page.skew, w / 2, h / 2) for x, y in ((a, y0), (b, y0), (a, y1), (b, y1))]
            out.append((ch, (min(p[0] for p in pts) / w, min(p[1] for p in pts) / h,
                             max(p[0] for p in pts) / w, max(p[1] for p in pts) / h)))
    return out


def _merge(char_boxes: list[tuple]) -> list[tuple[float, float, float, float]]:
    """Character boxes as one box per printed line (characters whose vertical middles overlap)."""
    lines: list[list[float]] = []
    for l, t, r, b in char_boxes:
        if r <= l or b <= t:
            continue
        mid = (t + b) / 2
        if lines and lines[-1][1] <= mid <= lines[-1][3] and l >= lines[-1][0] - 0.02:
            cur = lines[-1]
            cur[0], cur[1], cur[2], cur[3] = min(cur[0], l), min(cur[1], t), max(cur[2], r), max(cur[3], b)
        else:
            lines.append([l, t, r, b])
    return [tuple(round(v, 4) for v in ln) for ln in lines]


def outlined(img, found: list[tuple], color=(230, 120, 0)):
    """The page image with each box outlined (and lightly filled), as a new image."""
    from PIL import Image, ImageDraw
    base = img.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    w, h = base.size
    pad = max(3, round(w / 250))
    for l, t, r, b in found:  # (thick enough to see on a page shown at half a screen's width)
        box = (l * w - pad, t * h - pad, r * w + pad, b * h + pad)
        d.rectangle(box, fill=color + (40,), outline=color + (255,), width=max(3, round(w / 200)))
    return Image.alpha_composite(base, layer).convert("RGB")


def png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()

