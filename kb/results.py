"""What a search hands out, and what the CLI, the API, the app, citations and collections
read: ``Hit`` (one cited passage), ``Results`` (the hits with the confidence that the first
answers), ``Filters`` (what a search may return), permalinks (``span_link``), the paragraph a
character offset lies in, and the date form filters and articles use. The ranking that fills
them is ``kb.search``."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field, fields

from .errors import KBError


@dataclass
class Hit:
    """One cited passage."""
    rank: int
    score: float
    article_id: str
    title: str
    path: str
    source: str | None
    url: str | None
    date: str | None
    author: str | None
    lang: str
    passage_id: int
    paragraph: int
    start: int                 # char span of the passage in the article's cleaned text
    end: int
    text: str
    highlight: str             # the sentence that best answers the query
    highlight_start: int       # its span in the article's cleaned text
    highlight_end: int
    marks: list = field(default_factory=list)   # [start, end] of query terms within `text`
    page: int | None = None    # page of the passage's start, for paged sources (PDF)
    dense: float = 0.0         # the meaning part of the score: passage and best-sentence cosine (language-centred)
    lexical: float = 0.0       # share of the question's terms the passage holds (0-1), translated for the other language
    merged: list = field(default_factory=list)  # other passage ids folded into this hit
    matches: list = field(default_factory=list)  # [question term, term found in the passage] pairs
    highlight_paragraph: int = 0  # the paragraph (and page) holding the highlighted sentence: what a citation names
    highlight_page: int | None = None
    ocr: float | None = None   # the article was read by OCR (a scan or a photo): the recognizer's mean confidence

    @property
    def permalink(self) -> str:
        """A stable address of the cited span (``span_link``)."""
        return span_link(self.article_id, self.start, self.end, self.text)

    @property
    def quote_permalink(self) -> str:
        """The permalink of the highlighted sentence alone: ``kb cite`` of it quotes just that."""
        return span_link(self.article_id, self.highlight_start, self.highlight_end, self.highlight)

    def to_dict(self) -> dict:
        return asdict(self) | {"permalink": self.permalink, "quote_permalink": self.quote_permalink}

    @property
    def answer_page(self) -> int | None:
        """The page (PDFs) of the answering sentence, else of the passage: what a citation names."""
        return self.highlight_page or self.page

    @property
    def answer_paragraph(self) -> int:
        """The paragraph of the answering sentence, else of the passage."""
        return self.highlight_paragraph or self.paragraph

    def citation(self, full: bool = False) -> str:
        """A one-paragraph citation to paste into notes: the answering sentence, cited where it
        is (its paragraph, its page in a PDF); ``full`` quotes the whole passage instead."""
        parts = [f"“{self.title}”"]
        for v in (self.author, self.source, self.date):
            if v:
                parts.append(v)
        page = self.page if full else self.answer_page
        parts.append(f"p. {page}" if page else f"para. {self.paragraph if full else self.answer_paragraph}")
        if self.url:
            parts.append(self.url)
        return ", ".join(parts) + f". “{self.text if full else self.highlight or self.text}”"


def span_link(article_id: str, start: int, end: int, text: str) -> str:
    """``ARTICLE_ID:START-END~FP``: the article, the character span of its cleaned text, and a
    fingerprint of the span's text (so a link into an article that has changed since says so).
    Row ids play no part: the link survives re-ingesting an unchanged article and ``kb rebuild``."""
    return f"{article_id}:{start}-{end}~{span_fingerprint(text)}"


def span_fingerprint(text: str) -> str:
    import hashlib
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


@dataclass
class Filters:
    lang: str | None = None
    source: str | None = None
    since: str | None = None   # ISO date, inclusive
    until: str | None = None
    article: str | None = None

    def active(self) -> dict:
        """The filters set, as ``Store.filtered_passage_ids`` takes them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def check(self) -> "Filters":
        """Itself, or a KBError naming the field that holds no valid value (the CLI, the API and
        the app all validate through here)."""
        if self.lang and self.lang not in FILTER_LANGS:
            raise KBError(f"lang: '{self.lang}' is not one of {', '.join(FILTER_LANGS)}")
        if self.article and not re.fullmatch(r"[0-9a-f]{1,40}", self.article):
            raise KBError(f"article: '{self.article}' is not an article id (its letters are 0-9 and a-f; "
                          "`python -m kb list` shows them)")
        for name in ("since", "until"):
            v = getattr(self, name)
            if v and not is_iso_date(v):
                raise KBError(f"{name}: '{v}' is not a date; use YYYY-MM-DD (or YYYY-MM, YYYY)")
        return self


FILTER_LANGS = ("zh", "en", "mixed")


def is_iso_date(s: str) -> bool:
    """A real date written YYYY-MM-DD, YYYY-MM or YYYY (what articles' dates and the date filters hold).

    >>> [is_iso_date(x) for x in ("2023-09-12", "2023-09", "2023", "2023-13", "2023-9-5", "2023-02-30", "soon")]
    [True, True, True, False, False, False, False]
    """
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", s or ""):
        return False
    try:
        dt.date.fromisoformat(s + "-01-01"[:10 - len(s)])
    except ValueError:
        return False
    return True


class Results(list):
    """A search's hits, best first, with how confident the ranking is that the first answers
    the question (``confidence``, 0-1; see ``confidence``) and whether that is too low to call
    it an answer (``no_answer``). Only the hybrid ranking computes them."""
    confidence: float | None = None
    no_answer: bool = False
    reason: str | None = None   # why no_answer is set ("low confidence", or the kind of answer missing)
    signals: dict | None = None


def paragraph_at(text: str, first: int, offset: int) -> int:
    r"""The paragraph of ``text[offset]``, where ``text`` starts inside paragraph ``first``
    (paragraphs are the non-empty lines of an article, ``kb.segment.split_sentences``).

    >>> paragraph_at("一句。\n\n二句。\n三句。", 24, 10)
    26
    """
    lines = text[:offset].split("\n")
    return first + sum(1 for x in lines[1:-1] if x.strip()) + (1 if len(lines) > 1 else 0)


def ocr_confidence(meta) -> float | None:
    """The mean recognition confidence of an article read by OCR (``meta["ocr"]``, written by
    ingest.readers); None for text read from a text layer or a text file."""
    o = meta.get("ocr") if isinstance(meta, dict) else None
    c = o.get("confidence") if isinstance(o, dict) else None
    return float(c) if isinstance(c, (int, float)) else None
