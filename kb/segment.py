"""Split cleaned text into sentences and pack whole sentences into short passages.

A passage never cuts a sentence (unless one sentence alone exceeds the maximum), shares
one sentence with its neighbour, and records where it sits in the cleaned text, so a
citation can quote the exact span.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import _HAN, detect_lang

# A sentence ends at Chinese 。！？；, at half-width !?; (the seed article writes "入驻!TikTok"),
# at an ellipsis, and at "." followed by a space or a Han character — but not inside "1.5",
# "U.S." or "e.g.". Closing quotes and brackets stay with the sentence they close.
_CLOSERS = "”’」』)）》\"'"
_END_RE = re.compile(
    rf"(?:[。！？；!?;]+|…+|\.{{3,}}|\.(?=\s|[{_HAN}]))[{re.escape(_CLOSERS)}]*"
)
_ABBREV_RE = re.compile(r"(?:\b[A-Za-z]|\b(?:Mr|Ms|Mrs|Dr|St|vs|No|etc|Inc|Jr|Sr|Co|Ltd|Fig|approx))\Z")
_SOFT_BREAK_RE = re.compile(r"[，,、：:]\s*|\s+")
_TOKEN_RE = re.compile(rf"[{_HAN}]|[A-Za-z0-9]")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    paragraph: int  # 1-based paragraph (non-empty line) number


@dataclass
class Passage:
    seq: int
    start: int
    end: int
    paragraph: int
    paragraph_end: int
    sent_lo: int  # index of the first sentence (into the article's sentence list)
    sent_hi: int  # one past the last sentence
    text: str
    lang: str
    tokens: int = 0
    extra: dict = field(default_factory=dict)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split one over-long sentence at commas or spaces, else hard, into pieces <= max_chars."""
    pieces = []
    while end - start > max_chars:
        limit = start + max_chars
        cut = None
        for m in _SOFT_BREAK_RE.finditer(text, start + max_chars // 3, limit):
            cut = m.end()
        if cut is None or cut <= start:
            cut = limit
        s, e = _trimmed(text, start, cut)
        if e > s:
            pieces.append((s, e))
        start = cut
    s, e = _trimmed(text, start, end)
    if e > s:
        pieces.append((s, e))
    return pieces


def split_sentences(text: str, max_chars: int = 600) -> list[Sentence]:
    """Sentences of ``text`` as spans; each line is a paragraph, no sentence crosses a line.

    >>> [text[s.start:s.end] for text in ["入驻!TikTok推出。Done. OK"] for s in split_sentences(text)]
    ['入驻!', 'TikTok推出。', 'Done.', 'OK']
    """
    out: list[Sentence] = []
    para = 0
    pos = 0
    for line in text.split("\n"):
        lstart, lend = pos, pos + len(line)
        pos = lend + 1
        if not line.strip():
            continue
        para += 1
        cur = lstart
        for m in _END_RE.finditer(text, lstart, lend):
            if m.group().startswith(".") and not m.group().startswith("..") and \
                    _ABBREV_RE.search(text, max(lstart, m.start() - 8), m.start()):
                continue  # "U.S. market", "e.g. this", "Dr. Li"
            for s, e in _cut_long(text, cur, m.end(), max_chars):
                out.append(Sentence(s, e, para))
            cur = m.end()
        for s, e in _cut_long(text, cur, lend, max_chars):
            out.append(Sentence(s, e, para))
    return out


def count_tokens(text: str) -> int:
    """Length in the unit passages are sized by: Han characters / 1.6 (about one jieba word)
    plus Latin words and numbers. Cheaper than running jieba and within a few percent of it."""
    han = 0
    words = 0
    in_word = False
    for ch in text:
        if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff":
            han += 1
            in_word = False
        elif ch.isalnum():
            if not in_word:
                words += 1
            in_word = True
        else:
            in_word = False
    return int(round(han / 1.6)) + words


def make_passages(text: str, sentences: list[Sentence], target_tokens: int = 120,
                  max_chars: int = 600, hard_breaks: list[int] | tuple = ()) -> list[Passage]:
    """Pack whole sentences into passages of about ``target_tokens`` (never over ``max_chars``),
    each starting with the last sentence of the previous one (one sentence of overlap).
    No passage spans an offset in ``hard_breaks`` (page starts), so a citation has one page."""
    if not sentences:
        return []
    import bisect
    breaks = sorted(hard_breaks)
    # section[i]: how many breaks lie before sentence i; sentences pack only within a section
    section = [bisect.bisect_right(breaks, s.start) for s in sentences]
    toks = [count_tokens(text[s.start:s.end]) for s in sentences]
    passages: list[Passage] = []
    lo = 0
    n = len(sentences)
    while lo < n:
        hi = lo + 1
        total = toks[lo]
        while hi < n:
            span = sentences[hi].end - sentences[lo].start
            if total + toks[hi] > target_tokens or span > max_chars or section[hi] != section[lo]:
                break
            total += toks[hi]
            hi += 1
        s, e = sentences[lo].start, sentences[hi - 1].end
        body = text[s:e]
        passages.append(Passage(len(passages), s, e, sentences[lo].paragraph, sentences[hi - 1].paragraph,
                                lo, hi, body, detect_lang(body), total))
        if hi >= n:
            break
        # Overlap by one sentence when the passage has more than one and the overlap fits.
        nxt = hi - 1 if (hi - lo > 1 and sentences[hi].end - sentences[hi - 1].start <= max_chars
                         and section[hi] == section[hi - 1]) else hi
        lo = nxt
    return passages
