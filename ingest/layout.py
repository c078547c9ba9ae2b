"""Paragraphs from the lines of a page, as they were printed.

Both a PDF's text layer (``ingest.readers``: PDFium's lines and their character boxes) and OCR
(``ingest.ocr``: the recognizer's line boxes) give a page as lines with positions. ``layout``
joins them into paragraphs the way a reader sees them: a new paragraph starts after a gap wider
than the page's line spacing, at a first line set in from its column's left edge, after a line
that ends short of its column's right edge on a sentence's end, and around a line set larger
(a heading). Columns are found from the reading order: a line that starts above the previous
one begins a new column. ``join_lines`` joins a paragraph's lines: Chinese lines without a
space, Latin ones with one, a word hyphenated at a line's end made whole.

``running_lines`` finds what repeats at the top or bottom of every page (running heads, page
numbers), which is dropped.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass


@dataclass
class Line:
    """One line of a page: its text, its box (left, top, right, bottom; y grows downwards) and
    how sure the reader was of it (1 for a text layer; the recognizer's confidence for OCR)."""
    text: str
    box: tuple[float, float, float, float]
    score: float = 1.0

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_CLOSING = set("”’」』）)】》〉，。、；：！？,.;:!?")
_FINAL = re.compile(r"[。！？!?…；;:：”’」』)）.\"]$")


def turned(x: float, y: float, degrees: float, cx: float, cy: float) -> tuple[float, float]:
    """The point (x, y) turned by ``degrees`` about (cx, cy), in image coordinates (y down)."""
    import math
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c


def join_lines(lines: list[str]) -> str:
    """Lines of one paragraph as one: Chinese lines meet without a space, Latin ones with one,
    and a word hyphenated at a line's end ("recog-" + "nition") is made whole."""
    out = ""
    for ln in lines:
        ln = ln.strip()
        if not ln:
            continue
        if not out:
            out = ln
        elif re.search(r"[A-Za-z]-$", out) and ln[:1].islower():
            out = out[:-1] + ln
        elif _CJK.match(out[-1]) or _CJK.match(ln[0]):
            out += ln
        else:
            out += " " + ln
    return out


def rows(lines: list[Line]) -> list[Line]:
    """Boxes read in any order (OCR) as rows top to bottom, each row's boxes joined left to right
    into one line (boxes whose vertical middles fall inside each other share a row)."""
    groups: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        mid = (ln.box[1] + ln.box[3]) / 2
        if groups and min(b.box[1] for b in groups[-1]) <= mid <= max(b.box[3] for b in groups[-1]):
            groups[-1].append(ln)
        else:
            groups.append([ln])
    out = []
    for g in groups:
        g.sort(key=lambda ln: ln.box[0])
        box = (min(b.box[0] for b in g), min(b.box[1] for b in g), max(b.box[2] for b in g), max(b.box[3] for b in g))
        chars = sum(len(b.text) for b in g)
        out.append(Line(join_lines([b.text for b in g]), box, sum(b.score * len(b.text) for b in g) / max(1, chars)))
    return out


def layout(lines: list[Line]) -> list[list[Line]]:
    """The lines of a page, in reading order, grouped into paragraphs."""
    lines = [ln for ln in lines if ln.text.strip()]
    if not lines:
        return []
    height = statistics.median(ln.height for ln in lines)
    col, cols = 0, []
    for i, ln in enumerate(lines):  # a line that starts well above the one before begins a new column
        if i and ln.box[1] < lines[i - 1].box[1] - height and ln.box[0] > lines[i - 1].box[0] + 2 * height:
            col += 1
        cols.append(col)
    left = {c: statistics.median(ln.box[0] for ln, k in zip(lines, cols) if k == c) for c in set(cols)}
    right = {c: max(ln.box[2] for ln, k in zip(lines, cols) if k == c) for c in set(cols)}
    gaps = [b.box[1] - a.box[3] for a, b, ka, kb in zip(lines, lines[1:], cols, cols[1:])
            if ka == kb and -height / 2 < b.box[1] - a.box[3] < 3 * height]
    spacing = statistics.median(gaps) if gaps else height / 2
    paras: list[list[Line]] = [[lines[0]]]
    for i in range(1, len(lines)):
        prev, ln, cp, cl = lines[i - 1], lines[i], cols[i - 1], cols[i]
        width = right[cp] - left[cp]
        short = right[cp] - prev.box[2] > 2 * height
        ends = short and (_FINAL.search(prev.text) is not None or right[cp] - prev.box[2] > 0.4 * width)
        indented = ln.box[0] - left[cl] > 1.2 * height and (cl != cp or ln.box[0] - prev.box[0] > 1.2 * height)
        gap = cl == cp and ln.box[1] - prev.box[3] > max(spacing * 1.8, spacing + height * 0.6)
        heading = max(ln.height, prev.height) > 1.3 * min(ln.height, prev.height)  # a size change: a heading's edge
        closing = ln.text[:1] in _CLOSING  # (no paragraph starts with a closing quote or bracket)
        if (gap or indented or ends or heading) and not closing:
            paras.append([ln])
        else:
            paras[-1].append(ln)
    return paras


def ends_full(lines: list[Line]) -> bool:
    """Whether a page's last line reaches the right margin (its paragraph may run on); a page of
    fewer than three lines shows no margin to reach."""
    if len(lines) < 3:
        return False
    h = statistics.median(ln.height for ln in lines)
    return max(ln.box[2] for ln in lines) - lines[-1].box[2] <= 2 * h


def starts_flush(lines: list[Line]) -> bool:
    """Whether a page's first line starts at the left margin, not set in (a paragraph running on)."""
    if not lines:
        return False
    h = statistics.median(ln.height for ln in lines)
    return lines[0].box[0] - statistics.median(ln.box[0] for ln in lines) <= 1.2 * h and lines[0].height <= 1.3 * h


_NUMBERS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(r"^(?:[-–—·\s]*\d{1,4}[-–—·\s]*|第\s*\d{1,4}\s*页(?:\s*[/，,]?\s*共\s*\d{1,4}\s*页)?"
                          r"|\d{1,4}\s*/\s*\d{1,4}|page\s+\d{1,4}(?:\s+of\s+\d{1,4})?|p\.\s*\d{1,4})$", re.I)


def running_lines(pages: list[list[Line]], page_heights: list[float], zone: float = 0.1) -> list[set[int]]:
    """For each page, the indexes of its lines that are running heads, footers or page numbers:
    in the top or bottom ``zone`` of the page, and either a bare page number or a line that
    (with its digits ignored) recurs in that zone on at least half the pages (two at least)."""
    def edge(ln: Line, h: float) -> bool:
        return ln.box[3] <= zone * h or ln.box[1] >= (1 - zone) * h

    def shape(ln: Line) -> str:
        return _NUMBERS.sub("#", " ".join(ln.text.split()))
    seen = Counter()
    for lines, h in zip(pages, page_heights):
        seen.update({shape(ln) for ln in lines if edge(ln, h)})
    need = max(2, (len(pages) + 1) // 2)
    return [{i for i, ln in enumerate(lines) if edge(ln, h) and (_PAGE_NUMBER.match(ln.text.strip())
                                                                  or seen[shape(ln)] >= need)}
            for lines, h in zip(pages, page_heights)]
