"""Text from page images: scans, photos of pages, and PDF pages without a (usable) text layer.

RapidOCR runs PP-OCR's detection and recognition models, shipped inside its wheel (Chinese and
English, about 31 MB), on onnxruntime: nothing is downloaded. It returns a box, a text and a
confidence for each line it reads; ``layout`` puts the lines in reading order (rows by their
vertical position, left to right within a row) and joins them into paragraphs from the page's
geometry (``ingest.layout``, as for a PDF's text layer).

The work is bounded like every reader's (``MAX_OCR_PAGES``, ``MAX_PIXELS``, ``MAX_PAGE_SECONDS``):
an image is scaled down to at most ``OCR_SIDE`` pixels on its long side before it is read, so a
page costs seconds whatever its resolution, and a page that still takes longer than the limit
stops the article with a one-line error.
"""
from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

from kb.errors import ReadError

from .layout import Line, join_lines, layout, rows, turned

MAX_OCR_PAGES = 300        # pages read by OCR in one article (about 5 s each on 2 cores: 25 minutes)
MAX_PIXELS = 60_000_000    # an image's pixels before it is decoded (a 600-dpi A4 scan is 35 M; bombs are billions)
MAX_PAGE_SECONDS = 90      # one page's OCR (a dense page takes 5-10 s here)
OCR_SIDE = 2000            # the long side a page image is scaled to (PDF pages are rendered at this size)

_lock = threading.Lock()
_engine = None


def engine():
    """The OCR engine, loaded once a process (about 1 s; its sessions are reused)."""
    global _engine
    with _lock:
        if _engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as e:  # pragma: no cover - a dependency in requirements.txt
                raise ReadError(f"OCR needs rapidocr and onnxruntime ({e})") from None
            _engine = RapidOCR(params=dict(ENGINE_PARAMS))
        return _engine


ENGINE_PARAMS = {"Global.log_level": "error", "Global.max_side_len": OCR_SIDE,
                 # no line-orientation classifier: on upright pages it turned whole lines over and they
                 # were read as garbage (3 of 8 test pages; benchmarks/README.md "OCR")
                 "Global.use_cls": False,
                 # the detector sees the page at OCR_SIDE (its default scales the short side to 736)
                 "Det.limit_type": "max", "Det.limit_side_len": OCR_SIDE}


@dataclass
class Page:
    """A page as read: its lines in reading order, grouped into paragraphs (lists of lines)."""
    width: int
    height: int
    paragraphs: list[list[Line]] = field(default_factory=list)
    seconds: float = 0.0
    skew: float = 0.0  # degrees the page is turned (clockwise positive); line boxes are given turned back

    @property
    def lines(self) -> list[Line]:
        return [ln for p in self.paragraphs for ln in p]

    def text(self) -> str:
        """The page's text: a line per paragraph."""
        return "\n".join(join_lines([ln.text for ln in p]) for p in self.paragraphs)


def read_image(img, page_no: int = 1) -> Page:
    """OCR one page image (a PIL image). Raises ReadError when it cannot be read in time."""
    img = _fit(img)
    run = engine()
    t = time.perf_counter()
    try:
        import numpy as np
        out = run(np.asarray(img))
        angle = skew(out.boxes)
        if REREAD_SKEWED and abs(angle) > MAX_SKEW:  # (off: benchmarks/ocr.py compares it)
            from PIL import Image
            img = img.rotate(angle, resample=Image.BICUBIC, fillcolor="white")
            out = run(np.asarray(img))
            angle = 0.0
    except ReadError:
        raise
    except Exception as e:  # noqa: BLE001 - the engine's failure is this page's, told in one line
        raise ReadError(f"OCR of page {page_no} failed ({type(e).__name__}: {str(e)[:80]})") from None
    secs = time.perf_counter() - t
    if secs > MAX_PAGE_SECONDS:
        raise ReadError(f"OCR of page {page_no} took {secs:.0f} s, over the {MAX_PAGE_SECONDS} s limit a page")
    # A page turned on the glass: its lines' boxes are turned back (about the page's centre) before
    # the layout reads rows, gaps and indents from them; the recognizer reads turned lines well.
    lines = []
    for box, txt, score in zip(out.boxes if out.boxes is not None else [], out.txts or (), out.scores or ()):
        pts = [turned(x, y, -angle, img.width / 2, img.height / 2) for x, y in box]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        if txt and txt.strip() and score >= MIN_SCORE:
            lines.append(Line(txt.strip(), (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))), float(score)))
    return Page(img.width, img.height, layout(rows(lines)), secs, angle)


MIN_SCORE = 0.5  # lines read with less confidence are noise (a speck, a smudge), not text
REREAD_SKEWED = False  # read a turned page again, straightened (2x the time, no better: benchmarks/README.md "OCR")
MAX_SKEW = 0.25  # degrees, for REREAD_SKEWED


def skew(boxes) -> float:
    """How far the page is turned (degrees, clockwise positive in image coordinates): the median
    slope of the long text boxes' top edges; 0 when there are none."""
    import math
    angles = []
    for b in boxes if boxes is not None else []:
        (x0, y0), (x1, y1) = b[0], b[1]
        if x1 - x0 > 5 * max(1.0, abs(b[3][1] - b[0][1])):
            angles.append(math.degrees(math.atan2(y1 - y0, x1 - x0)))
    return statistics.median(angles) if angles else 0.0


def speckle(img) -> float:
    """The share of pixels that are specks: a dark pixel with no dark neighbour, or a light one
    with no light neighbour (scanner and camera noise; printed strokes have almost none)."""
    import numpy as np
    d = np.asarray(img.convert("L")) < 128
    p = np.pad(d, 1)
    n = sum(p[1 + dy:p.shape[0] - 1 + dy, 1 + dx:p.shape[1] - 1 + dx].astype(np.int8)
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)) - d
    return float(((d & (n == 0)) | (~d & (n == 8))).mean())


SPECKLED = 0.0005  # over this share of specks (clean pages: under 0.00002), a 3×3 median filter goes first:
                   # specks make the detector miss short lines (benchmarks/README.md "OCR")


def _fit(img):
    """The image in RGB, despeckled when it is speckled, scaled down to OCR_SIDE on its long side."""
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGBA") if "A" in img.getbands() or img.mode == "P" else img.convert("RGB")
        if img.mode == "RGBA":  # (a transparent background reads as black: lay it on white)
            from PIL import Image
            bg = Image.new("RGB", img.size, "white")
            bg.paste(img, mask=img.getchannel("A"))
            img = bg
    if speckle(img) > SPECKLED:
        from PIL import ImageFilter
        img = img.filter(ImageFilter.MedianFilter(3))
    if img.mode == "L":
        img = img.convert("RGB")
    side = max(img.size)
    if side > OCR_SIDE:
        s = OCR_SIDE / side
        img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))))
    return img


def confidence(pages: list[Page]) -> float | None:
    """The mean recognition confidence over every character read (None when nothing was read)."""
    n = sum(len(ln.text) for p in pages for ln in p.lines)
    return sum(ln.score * len(ln.text) for p in pages for ln in p.lines) / n if n else None
