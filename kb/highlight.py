"""The highlight (search stage 5): in each hit, the sentence that answers the question, the
question's terms marked in the passage, and which terms matched (``Hit.matches``), the other
language's through their dictionary translations.

The sentence is chosen with the plain (uncentred) sentence cosine and the share of the
question's terms it holds (IDF-weighted); terms that name the article's subject count for less,
since later sentences refer to the subject without naming it. A question asking for a date or a
number (``kb.answers``) prefers a sentence stating one; the mark is a whole sentence as one would
quote it (clauses cut at ";" joined), and takes in the adjacent sentence when that one holds the
date or number the best one lacks. The ranking is ``kb.search``; the figures, benchmarks/README.md.
"""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from . import answers
from .records import Draft, SentenceRef
from .results import Hit, paragraph_at
from .text import detect_lang, has_han, same_lang, to_simplified

if TYPE_CHECKING:
    from .params import SearchParams
    from .records import Lead, Query


def within(term: str, phrase: str) -> bool:
    """A question term is part of a phrase the dictionary translated (or of a matched term)."""
    return term == phrase or term in phrase.split() or (has_han(term) and term in phrase)


@dataclass
class _Targets:
    """One search's dictionary translations as ``_explain`` looks for them: folded target ->
    (question term, target as written)."""
    by_folded: dict[str, tuple[str, str]]

    @classmethod
    def of(cls, xq) -> "_Targets | None":
        if xq is None:
            return None
        return cls({_fold(target): (src, target) for src, alts in xq.groups.items() for target, _, _ in alts})


def _explain(h: Hit, terms: list[str], targets: _Targets | None, qlang: str) -> None:
    """The question's terms the passage holds, as [question term, passage term] pairs: the term
    itself (found where ``highlight_hit`` marked it), or for a passage in the other language a
    dictionary translation of it (which is marked in the text too)."""
    seen = {_fold(h.text[a:b]) for a, b in h.marks}
    pairs = [[t, t] for t in dict.fromkeys(terms) if t in seen]
    if targets is not None and not same_lang(qlang, h.lang):
        spans = _term_spans(h.text, targets.by_folded)
        shown = {tuple(p) for p in pairs}
        for _, _, t in spans:
            pair = targets.by_folded[t]
            if pair not in shown:
                shown.add(pair)
                pairs.append(list(pair))
        taken = [tuple(m) for m in h.marks]
        for a, b, _ in spans:
            if not any(a < e and s < b for s, e in taken):
                taken.append((a, b))
        h.marks = [list(m) for m in sorted(taken)]
    h.matches = pairs


def highlight(ix, store, q: Query, drafts: list[Draft], lead: Lead, mode: str, p: SearchParams) -> None:
    """Stage 5: in each hit, the answering sentence, the question's terms marked, and which
    terms matched (``Hit.matches``)."""
    hl = Highlighting(
        idf={t: (ix.idf(t) if p.highlight_idf >= 1 else 1.0) for t in set(q.terms)},
        idf_mode=p.highlight_idf, scos=lead.raw_scos, qlang=q.lang, mode=mode,
        wants=q.kind, kinds=tuple(p.highlight_kinds.split(",")),
        lam_same=p.highlight_weight, lam_cross=p.cross_lexical_weight, context=p.highlight_context,
        answer_type=p.highlight_answer_type, subject=p.highlight_subject, lam_translated=p.highlight_translated,
        neighbour=p.highlight_neighbour, question=q.text)
    if hl.subject != 1.0:
        hl.firsts = _first_sentences(drafts, store)
    xq = q.cross
    if xq is not None and hl.lam_translated > 0:
        for alts in xq.groups.values():
            for target, toks, w in alts:
                f = _fold(target)
                hl.translated[f] = max(hl.translated.get(f, 0.0), w * sum(ix.idf(t) for t in toks) / len(toks))
        for t in xq.kept:
            hl.translated[t] = ix.idf(t)
    targets = _Targets.of(xq)
    for d in drafts:
        highlight_hit(d, hl)
        _explain(d.hit, q.terms, targets, q.lang)


@dataclass
class Highlighting:
    """One search's inputs to choosing each hit's sentence (``SearchParams.highlight_*``)."""
    idf: dict[str, float]        # query term -> weight (IDF, or 1 with highlight_idf=0)
    idf_mode: int                # highlight_idf
    scos: dict[int, float]       # sentence id -> cosine with the question
    qlang: str
    mode: str
    wants: str | None            # the kind of answer the question asks for (kb.answers)
    lam_same: float              # highlight_weight
    lam_cross: float             # cross_lexical_weight
    context: float               # highlight_context
    answer_type: float           # highlight_answer_type
    subject: float               # highlight_subject
    firsts: dict[str, str] = field(default_factory=dict)  # article id -> its first sentence
    translated: dict[str, float] = field(default_factory=dict)  # folded translated term -> weight
    lam_translated: float = 0.0  # highlight_translated
    neighbour: float = 0.0       # highlight_neighbour
    kinds: tuple = ("date", "quantity")  # highlight_kinds: the kinds whose answers earn the bonus
    question: str = ""


def highlight_hit(d: Draft, hl: Highlighting) -> None:
    """Choose the answering sentence with the ranking's signals — its own cosine with the
    question plus the IDF-weighted share of query terms it holds — and mark query terms.
    Terms are found the way they are marked (``mark_terms``), once per hit, not re-tokenised."""
    h, art = d.hit, d.art
    # A passage in the other language is read for the question's translated terms (each
    # weighted by its reliability times its IDF) and the names and numbers both share.
    cross = bool(hl.translated) and hl.lam_translated > 0 and not same_lang(hl.qlang, h.lang)
    idf = hl.translated if cross else hl.idf
    qterms = set(idf)
    found = _term_spans(h.text, qterms)
    h.marks = [[a, b] for a, b, _ in found]
    # Query terms in each sentence, from the marks (sentence spans are article offsets).
    sents = d.sents
    starts = [s.start - h.start for s in sents]
    sent_terms: list[set] = [set() for _ in sents]
    for a, _, t in found:
        i = bisect.bisect_right(starts, a) - 1
        if 0 <= i < len(sents) and a < sents[i].end - h.start:
            sent_terms[i].add(t)
    # A term in every sentence of the passage (often the article's subject) cannot tell them
    # apart; a term in one sentence can. Weigh each query term by how few sentences hold it.
    n = len(sent_terms)
    if hl.idf_mode == 2:
        held: dict[str, int] = {}
        for st in sent_terms:
            for t in st:
                held[t] = held.get(t, 0) + 1
        weight = {t: idf[t] * math.log(1 + n / (1 + held.get(t, 0))) for t in qterms}
    else:
        weight = dict(idf)
    if hl.subject != 1.0:
        # The article's subject, named in its title or first sentence, is what later sentences
        # refer to as 它 / 本鱼 / "it": a query term naming it cannot tell those sentences apart.
        subject = _subject_text(art.title, hl.firsts.get(art.id, ""))
        for t in qterms:
            if t in subject:
                weight[t] *= hl.subject
    total = sum(weight.values()) or 1.0
    best, best_score = None, -1e9
    prev: set = set()
    scored: list[float] = []
    for s, st in zip(sents, sent_terms):
        # Query terms in the sentence before count in part: it often names the subject that
        # this one refers to by a pronoun ("环氧氯丙烷是… 它是一个无色液体…").
        overlap = (sum(weight[t] for t in st) + hl.context * sum(weight[t] for t in prev - st)) / total \
            if st or prev else 0.0
        prev = st
        if hl.wants in hl.kinds:  # the question asks for a date or a number and this sentence has one
            overlap += hl.answer_type * answers.fit(hl.question, h.text[s.start - h.start:s.end - h.start])
        elif hl.wants == "cause" and answers.says_unknown(h.text[s.start - h.start:s.end - h.start]):
            overlap -= hl.answer_type  # "the cause is not yet known" does not answer a why-question
        if hl.mode == "lexical":
            sc = overlap
        elif hl.mode == "dense":
            sc = hl.scos.get(s.id, 0.0)
        else:
            slang = h.lang if h.lang != "mixed" else detect_lang(h.text[s.start - h.start:s.end - h.start])
            lam = hl.lam_translated if cross else hl.lam_same if same_lang(hl.qlang, slang) else hl.lam_cross
            sc = hl.scos.get(s.id, 0.0) + lam * overlap
        scored.append(sc)
        if sc > best_score:
            best, best_score = s, sc
    if best is not None:
        lo, hi = _quotable(h, sents, sents.index(best))
        if hl.wants in hl.kinds and hl.neighbour > 0:
            lo, hi = _with_answering_neighbour(h, sents, scored, lo, hi, hl)
        h.highlight_start, h.highlight_end = sents[lo].start, sents[hi].end
        h.highlight = h.text[h.highlight_start - h.start:h.highlight_end - h.start]
    h.highlight_paragraph = paragraph_at(h.text, h.paragraph, h.highlight_start - h.start)
    pages = art.meta.get("pages") if isinstance(art.meta, dict) else None
    if pages is not None:
        h.page = 1 + bisect.bisect_right(pages, h.start)
        h.highlight_page = 1 + bisect.bisect_right(pages, h.highlight_start)


_CLAUSE_END = re.compile(r"[;；:：][”’」』)）》\"']*\Z")


def _adjacent(h: Hit, a: SentenceRef, b: SentenceRef) -> bool:
    """Sentence ``b`` follows ``a`` on the same line (paragraph) of the article."""
    return b.seq == a.seq + 1 and "\n" not in h.text[a.end - h.start:b.start - h.start]


def _quotable(h: Hit, sents: list[SentenceRef], i: int) -> tuple[int, int]:
    """The sentences [lo, hi] of a whole sentence as one would quote it around sentence ``i``: the
    splitter ends a sentence at ";" and "；" (so a long list is read clause by clause), but a
    quotation runs to the full stop."""
    lo = hi = i
    text = lambda j: h.text[sents[j].start - h.start:sents[j].end - h.start]  # noqa: E731
    while lo > 0 and _adjacent(h, sents[lo - 1], sents[lo]) and _CLAUSE_END.search(text(lo - 1)):
        lo -= 1
    while hi + 1 < len(sents) and _adjacent(h, sents[hi], sents[hi + 1]) and _CLAUSE_END.search(text(hi)):
        hi += 1
    # A quotation the splitter cut at its inner full stops (“…故障。（其中）…系统。”) is quoted whole.
    span = lambda: h.text[sents[lo].start - h.start:sents[hi].end - h.start]  # noqa: E731
    for _ in range(3):
        if _open_quotes(span()) > 0 and hi + 1 < len(sents) and _adjacent(h, sents[hi], sents[hi + 1]):
            hi += 1
        elif _open_quotes(span()) < 0 and lo > 0 and _adjacent(h, sents[lo - 1], sents[lo]):
            lo -= 1
        else:
            break
    return lo, hi


def _open_quotes(text: str) -> int:
    """Opening minus closing Chinese quotation marks and corner brackets in ``text``."""
    return text.count("“") + text.count("「") + text.count("『") - text.count("”") - text.count("」") - text.count("』")


def _with_answering_neighbour(h: Hit, sents: list[SentenceRef], scored: list[float], lo: int, hi: int,
                              hl: "Highlighting") -> tuple[int, int]:
    """When the marked sentence holds no answer of the kind asked for and the sentence right after
    (or before) it does and scores nearly as well, the answer spans the two: mark both."""
    span = lambda a, b: h.text[sents[a].start - h.start:sents[b].end - h.start]  # noqa: E731
    if answers.holds(hl.wants, span(lo, hi)):
        return lo, hi
    top = max(scored[lo:hi + 1])
    nxt, before = hi + 1, lo - 1
    if nxt < len(sents) and _adjacent(h, sents[hi], sents[nxt]) and scored[nxt] >= top - hl.neighbour \
            and answers.holds(hl.wants, span(nxt, nxt)):
        return lo, _quotable(h, sents, nxt)[1]
    if before >= 0 and _adjacent(h, sents[before], sents[lo]) and scored[before] >= top - hl.neighbour \
            and answers.holds(hl.wants, span(before, before)):
        return _quotable(h, sents, before)[0], hi
    return lo, hi


def _first_sentences(drafts: list[Draft], store) -> dict[str, str]:
    """The first sentence of each hit's article: from the hit itself when it starts the article
    (often, in short articles), otherwise read, in one query for all."""
    out = {}
    for d in drafts:
        h = d.hit
        s0 = next((s for s in d.sents if s.seq == 0), None)
        if s0 is not None:
            out[h.article_id] = h.text[s0.start - h.start:s0.end - h.start]
    out.update(store.first_sentences(list({d.hit.article_id for d in drafts} - set(out))))
    return out


@lru_cache(maxsize=4096)
def _subject_text(title: str | None, first: str) -> str:
    """The article's title and first sentence, folded as terms are compared. Cached: questions
    about one article come in runs."""
    return _fold(f"{title or ''}\n{first}")


def _fold(text: str) -> str:
    """What a term is compared as: Simplified, lower case (same length as the input)."""
    simp = to_simplified(text)
    folded = simp.lower()
    return folded if len(folded) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in simp)


def mark_terms(text: str, terms) -> list[list[int]]:
    """Non-overlapping [start, end] spans of ``terms`` in ``text``, across scripts and case."""
    return [[a, b] for a, b, _ in _term_spans(text, terms)]


def _term_spans(text: str, terms) -> list[tuple[int, int, str]]:
    """(start, end, term) of each non-overlapping match of ``terms`` in ``text``, scanning left
    to right and taking the longest term where several start at one place (as a regex of the
    terms, longest first, would). Latin terms match whole words only ("us" must not mark
    "business"). Found with ``str.find`` per term: several times faster than one regex
    alternation over a passage."""
    terms = [t for t in terms if t]
    if not terms:
        return []
    folded = _fold(text)
    found = []
    for t in terms:
        latin = not has_han(t)
        i = folded.find(t)
        while i >= 0:
            j = i + len(t)
            if not latin or not (i and _is_word_char(folded[i - 1]) or j < len(folded) and _is_word_char(folded[j])):
                found.append((i, -len(t), t))
            i = folded.find(t, i + 1)
    found.sort()
    out, end = [], 0
    for i, neg, t in found:
        if i >= end:
            out.append((i, i - neg, t))
            end = i - neg
    return out


def _is_word_char(c: str) -> bool:
    """A character that continues a Latin word (``[a-z0-9]`` once folded)."""
    return c.isascii() and c.isalnum()
