"""Hybrid search: passage vectors + sentence vectors + BM25, fused into one cited ranking, fair
across Chinese and English.

A search runs in stages, each a function over the small records of ``kb.records`` (and
``Query`` / ``Lead`` below), so one can be replaced or tested alone:

| stage | function | what it does |
|---|---|---|
| 0 | ``make_query`` | the question's terms, language, centred vectors and translation |
| 1 | ``candidates`` | the best passages by vector and by BM25 (``SearchParams.candidates`` each, plus the BM25 of the translated terms), with every signal memory holds |
| 2 | ``fuse`` | a first score for every candidate |
| 3 | ``rescore_lead`` | the leading ``sentence_depth`` scored in full: best sentence vector, language-aware BM25 weight |
| 4 | ``merge`` | the top k, overlapping passages of one article merged, near-duplicates cited once |
| 5 | ``highlight`` | each hit's answering sentence, marked terms, matched terms |
| 6 | ``confidence`` | how likely the library answers; ``Results.no_answer`` below ``no_answer_below`` or a date / number missing (``no_answer``) |

The indexes are reached only through ``kb.indexes.Indexes`` and the protocols of
``kb.backends``: no engine is named here. ``search(q)`` is ``search_batch([q])[0]``.

How languages are treated (the reason a library can mix them; figures in benchmarks/README.md):

1. Vectors are compared with each language's mean removed (``kb.langspace``). The bundled model
   puts every Chinese text near every other: in a mixed library plain cosine ranked the other
   language's answer first for 1-7% of questions (MLQA mixed, English → Chinese and Chinese →
   English), centred vectors for 57-60%, and the full ranking below for 67-71% (the ranking of
   before reached 56-59% even over a single-language library).
2. The question's terms are translated (``kb.dictionary``: CC-CEDICT under a glossary) and
   searched with BM25 over the other language's passages, each translation weighted by how
   reliable it is. A passage in the question's language gets the BM25 of the question's own
   terms; one in the other language that of the translations (or, if higher, of the names and
   numbers both share). Translation added 3-10 points of recall@1 across languages; it costs
   same-language questions in a mixed library about a point (other-language passages now earn
   lexical credit too).

Score of a passage p for question q (vectors centred on their language and L2-normalised):

    dense(p)   = (1 - w) * cos(q, p) + w * max over sentences s of p of cos(q, s)
    lexical(p) = min(1, BM25(p) / BM25 of an average passage holding every query term once)
    score(p)   = dense(p) + lam(q, p) * lexical(p)

``lam`` is ``lexical_weight`` (KB_LEXICAL_WEIGHT) when question and passage share a language,
otherwise ``translated_lexical_weight`` (KB_TRANSLATED_LEXICAL_WEIGHT) over the translated terms
(or ``cross_lexical_weight`` over the question's own terms, whichever gives more); the weights
are ``kb.params.SearchParams``. The highlighted sentence is chosen with the plain
(uncentred) sentence cosine and the share of query terms it holds; query terms that name the
article's subject count for less there, since later sentences refer to the subject without
naming it. A question asking for a date or a number (``kb.answers``) prefers a sentence stating
one; the mark is a whole sentence as one would quote it (clauses cut at ";" joined), and takes
in the adjacent sentence when that one holds the date or number the best one lacks.

``confidence`` (0-1) says how likely the library answers the question, from signals of the top
hit (``_signals``); below KB_NO_ANSWER_BELOW, or when a date or number question's marked sentence
states none, the search flags that no passage seems to answer (``Results.no_answer``, with
``Results.reason``).
"""
from __future__ import annotations

import bisect
import datetime as dt
import math
import re
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache

import numpy as np

from . import answers
from .dictionary import CrossQuery, cross_query
from .params import SearchParams
from .records import Candidates, PassageRow, SentenceRef
from .store import ArticleMeta
from .text import detect_lang, has_han, normalize, to_simplified, tokenize

MODES = ("hybrid", "dense", "lexical")


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

    def citation(self, full: bool = False) -> str:
        """A one-paragraph citation to paste into notes: the answering sentence, cited where it
        is (its paragraph, its page in a PDF); ``full`` quotes the whole passage instead."""
        parts = [f"“{self.title}”"]
        for v in (self.author, self.source, self.date):
            if v:
                parts.append(v)
        page = self.page if full else (self.highlight_page or self.page)
        parts.append(f"p. {page}" if page else f"para. {self.paragraph if full else self.highlight_paragraph or self.paragraph}")
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
        from .errors import KBError
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


@dataclass
class Query:
    """A question as the stages use it. ``vector`` is its embedding (plain cosine space),
    ``vp`` / ``vs`` the same centred on its language for comparing with passages / sentences
    (``kb.langspace``); all three are None in lexical mode. ``cross``: its terms translated
    for the other language's passages (``kb.dictionary``), when the ranking uses them."""
    text: str
    terms: list[str]
    lang: str
    vector: np.ndarray | None = None
    vp: np.ndarray | None = None
    vs: np.ndarray | None = None
    cross: CrossQuery | None = None
    tp: np.ndarray | None = None   # its word-by-word translation's vector, centred on the other language
    kind: str | None = None        # the kind of answer it asks for (kb.answers: date, quantity, …)


@dataclass
class Lead:
    """The leading candidates after full scoring (stage 3): their rows and sentences, each
    sentence's cosine in the centred space (ranking) and in the plain one (choosing the
    highlight), and per candidate position its dense part and the lexical coverage used
    (with whether it came through translation)."""
    positions: list[int]
    rows: dict[int, PassageRow]
    sents: dict[int, list[SentenceRef]]
    scos: dict[int, float]
    raw_scos: dict[int, float]
    dense_of: dict[int, float]
    lex_of: dict[int, tuple[float, bool]]
    depth: int


@dataclass
class _Draft:
    """A hit being built: its sentences (merged passages add theirs) and its article."""
    hit: Hit
    sents: list[SentenceRef]
    art: ArticleMeta


def _same_lang(a: str, b: str) -> bool:
    return a == b or "mixed" in (a, b)


# --- the search ---------------------------------------------------------------------------------
def search(kb, query: str, k: int = 5, filters: Filters | None = None, mode: str = "hybrid",
           query_vector: np.ndarray | None = None, params: SearchParams | None = None) -> Results:
    """Top ``k`` cited passages for ``query`` (Chinese or English): ``search_batch([query])[0]``.

    ``mode`` 'dense' ranks by passage vectors alone, 'lexical' by BM25 alone (both for
    benchmarks); 'hybrid' is the shipped ranking. An empty query gives no hits. ``params``
    defaults to the KB's (``kb.params``)."""
    return search_batch(kb, [query], k, filters, mode, None if query_vector is None else [query_vector], params)[0]


def search_batch(kb, queries: list[str], k: int = 5, filters: Filters | None = None, mode: str = "hybrid",
                 query_vectors=None, params: SearchParams | None = None) -> list[Results]:
    """``search`` for each query; the questions are embedded in one call (or ``query_vectors``
    given, one per query)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    p = params or kb.params
    texts = [clean_query(q) for q in queries]
    out = [Results() for _ in texts]
    todo = [i for i, t in enumerate(texts) if t]
    if not todo or k <= 0:
        return out
    kb.ensure_indexes()
    # the filters as the index backend takes them: matching passage ids, or the filters themselves
    allowed = kb.indexes.selection(filters.active() if filters is not None else {})
    if isinstance(allowed, np.ndarray) and not len(allowed):
        return out
    vectors: dict[int, np.ndarray] = {}
    glossed: dict[int, np.ndarray] = {}  # the word-by-word translations' vectors (translated_dense)
    if mode != "lexical":
        glosses = {}
        if p.translated_dense and mode == "hybrid":
            from .dictionary import gloss_question
            glosses = {i: g for i in todo if (g := gloss_question(texts[i], detect_lang(texts[i])))}
        if query_vectors is not None:
            vectors = {i: query_vectors[i] for i in todo}
            embedded = kb.query_vectors_of(list(glosses.values())) if glosses else []
        else:
            embedded = kb.query_vectors_of([texts[i] for i in todo] + list(glosses.values()))
            vectors = dict(zip(todo, embedded[:len(todo)]))
            embedded = embedded[len(todo):]
        glossed = dict(zip(glosses, embedded))
    for i in todo:
        q = make_query(kb, texts[i], vectors.get(i), mode, p, glossed.get(i))
        out[i] = rank(kb, q, k, allowed, mode, p)
    return out


def clean_query(q: str | None) -> str:
    """A question as the search embeds and cuts it: normalised, trimmed, at most 2,000 characters
    (a question, not a document: longer adds only cost)."""
    return normalize(q or "").strip()[:2000]


def make_query(kb, text: str, vector: np.ndarray | None, mode: str, p: SearchParams,
               glossed: np.ndarray | None = None) -> Query:
    """Stage 0: the question's terms, language, vectors in the KB's space, translation."""
    ix = kb.indexes
    q = Query(text, tokenize(text), detect_lang(text), vector, kind=answers.answer_type(text))
    if vector is not None:
        q.vp, q.vs = ix.space.query(vector, q.lang)  # centred on the question's language (kb.langspace)
    if glossed is not None and q.lang in ("zh", "en"):
        q.tp, _ = ix.space.query(glossed, "en" if q.lang == "zh" else "zh")
    if mode == "hybrid" and p.translated_lexical_weight > 0 and len(ix.lexical):
        q.cross = cross_query(text, q.lang)
    return q


def rank(kb, q: Query, k: int, allowed, mode: str, p: SearchParams) -> Results:
    """Stages 1-6 for one question: candidates → fusion → lead rescoring → (reranking) →
    merging → highlighting, then the confidence that the first hit answers."""
    ix = kb.indexes
    cands = candidates(ix, q, max(p.candidates, 3 * k), allowed, mode)
    if cands is None:
        return Results()
    scores = fuse(cands, mode, p)
    lead = rescore_lead(ix, q, cands, scores, k, mode, p)
    shown = scores.copy()  # the score a hit reports (the offset below only orders)
    rest = np.ones(len(cands), bool)
    rest[lead.positions] = False
    scores[rest] -= 10  # below every fully scored candidate
    order = np.argsort(-scores, kind="stable")
    if p.reranker and mode == "hybrid":
        order = rerank(kb, q, cands, lead, order, scores, shown, k, p)
    drafts = merge(kb, cands, lead, order, shown, k, kb.build.passage_max_chars)
    highlight(kb, q, drafts, lead, mode, p)
    out = Results(d.hit for d in drafts)
    if drafts and mode == "hybrid":
        out.signals = _signals(drafts, cands, lead, q, ix.lexical)
        out.confidence = confidence(out.signals)
        out.no_answer, out.reason = no_answer(out.signals, out.confidence, q.kind, p)
    return out


def no_answer(signals: dict, conf: float, kind: str | None, p: SearchParams) -> tuple[bool, str | None]:
    """Whether the top hit is not to be called an answer, and why: its confidence is below
    ``no_answer_below``, or the question asks for a number or a date (``kb.answers``) that the
    marked sentence does not state (``no_answer_typed``)."""
    if conf < p.no_answer_below:
        return True, "low confidence"
    if p.no_answer_typed and signals.get("asks_figure") and signals.get("typed_miss"):
        return True, f"the question asks for {'a number' if kind == 'quantity' else 'a date'} and the marked sentence states none"
    return False, None


def candidates(ix, q: Query, n: int, allowed, mode: str) -> Candidates | None:
    """Stage 1: the ``n`` best passages by vector, by BM25 of the question's terms and by BM25
    of their translations, each with every signal that memory holds: its vector's cosine (the
    index's own score, or its stored vector for the BM25-only ones) and both BM25 coverages."""
    cand: set[int] = set()
    dense_top: dict[int, float] = {}
    if q.vp is not None:
        dense_top = dict(zip(*(a.tolist() for a in ix.dense(q.vp, n, allowed))))
        cand.update(dense_top)
    if q.tp is not None:
        cand.update(ix.dense(q.tp, n, allowed)[0].tolist())
    lex = ix.lexical
    ls = lex.scores(q.terms) if len(lex) and q.terms else None
    if ls is not None and mode != "dense":
        cand.update(ls.top(n, allowed))
    lsx = lex.scores(q.cross.terms, q.cross.weights) if q.cross is not None else None
    if lsx is not None:
        cand.update(lsx.top(n, allowed))
    if not cand:
        return None
    pids = sorted(cand)
    bm = ls.get(pids) if ls is not None else np.zeros(len(pids), np.float32)
    if mode == "lexical":
        lexical = bm / (bm.max() or 1.0)
    else:
        scale = ideal_score(lex, q.terms) if ls is not None else 0.0
        lexical = np.minimum(1.0, bm / scale) if scale > 0 else np.zeros(len(pids), np.float32)
    pcos = np.zeros(len(pids), np.float32)
    if q.vp is not None:
        pcos[:] = [dense_top.get(p, 0.0) for p in pids]
        missing = [j for j, p in enumerate(pids) if p not in dense_top]
        if missing:
            pcos[missing] = ix.vector.vectors([pids[j] for j in missing]) @ q.vp
    pcos_t = ix.vector.vectors(pids) @ q.tp if q.tp is not None else None
    lexical_x = np.zeros(len(pids), np.float32)
    if lsx is not None:
        scale_x = q.cross.ideal(lex.idf)
        if scale_x > 0:
            lexical_x = np.minimum(1.0, lsx.get(pids) / scale_x)
    return Candidates(pids, pcos, lexical, lexical_x, dense_top, pcos_t)


def ideal_score(lex, terms: list[str]) -> float:
    """BM25 of a passage of average length holding each query term once: the scale that makes
    scores comparable across queries. Terms absent from the index count at full IDF, so a query
    only partly matched (say, an English question whose only shared term with a Chinese passage
    is "TikTok") scores low."""
    if not len(lex) or not terms:
        return 0.0
    return sum(lex.idf(t) for t in terms)


def fuse(c: Candidates, mode: str, p: SearchParams) -> np.ndarray:
    """Stage 2, fusion: a first score for every candidate from what memory holds, assuming a
    same-language match. Replace this function to try another fusion."""
    if mode == "lexical":
        return c.lexical.astype(np.float64)
    if mode == "dense":
        return c.cos.astype(np.float64)
    cos = c.cos if c.cos_t is None else np.maximum(c.cos, c.cos_t)
    return (cos + p.lexical_weight * c.lexical + p.translated_lexical_weight * c.lexical_x).astype(np.float64)


def rescore_lead(ix, q: Query, c: Candidates, scores: np.ndarray, k: int, mode: str, p: SearchParams) -> Lead:
    """Stage 3: the leading ``sentence_depth`` candidates scored in full, in place in ``scores``:
    the best sentence's vector (from the sentence base, ``kb.sentence_base``), and the BM25
    weight for the passage's language. Reading rows is the costliest step of a search, and a
    passage far down the first ranking does not reach the top k."""
    depth = max(k, p.sentence_depth)
    lead = [int(j) for j in np.argsort(-scores, kind="stable")[:depth]]
    rows, sents, svecs = ix.lead([c.pids[j] for j in lead])
    lead = [j for j in lead if c.pids[j] in rows]  # a passage removed since the index was saved drops out
    scos: dict[int, float] = {}
    raw_scos: dict[int, float] = {}
    if q.vector is not None and len(svecs):
        langs = np.full(len(svecs), "mixed", dtype=object)
        for pid, ss in sents.items():
            if pid in rows:
                langs[[s.row for s in ss]] = rows[pid].lang
        scos_row = ix.space.sentences(svecs, langs) @ q.vs
        raw_row = svecs @ q.vector
        scos = {s.id: float(scos_row[s.row]) for ss in sents.values() for s in ss}
        raw_scos = {s.id: float(raw_row[s.row]) for ss in sents.values() for s in ss}
    dense_of: dict[int, float] = {}
    lex_of: dict[int, tuple[float, bool]] = {}
    lam_same, lam_x, lam_cross = p.lexical_weight, p.translated_lexical_weight, p.cross_lexical_weight
    for j in lead:
        pid = c.pids[j]
        if c.cos_t is not None and not _same_lang(q.lang, rows[pid].lang):
            c.cos[j] = max(c.cos[j], c.cos_t[j])  # the translated question may be nearer the other language's passage
        if _same_lang(q.lang, rows[pid].lang):
            lex_part, lex_of[j] = lam_same * c.lexical[j], (float(c.lexical[j]), False)
        else:  # names and numbers as written, or the question's terms translated
            via = lam_x * c.lexical_x[j] > lam_cross * c.lexical[j]
            lex_part = lam_x * c.lexical_x[j] if via else lam_cross * c.lexical[j]
            lex_of[j] = (float(c.lexical_x[j] if via else c.lexical[j]), bool(via))
        if mode == "hybrid":
            best = max((scos[s.id] for s in sents[pid]), default=c.cos[j])
            dense_of[j] = (1 - p.sentence_weight) * c.cos[j] + p.sentence_weight * best
            scores[j] = dense_of[j] + lex_part
        elif mode == "dense":
            scores[j] = c.cos[j]
    return Lead(lead, rows, sents, scos, raw_scos, dense_of, lex_of, depth)


def rerank(kb, q: Query, c: Candidates, lead: Lead, order: np.ndarray, scores: np.ndarray, shown: np.ndarray,
           k: int, p: SearchParams) -> np.ndarray:
    """Optional: a cross-encoder (``SearchParams.reranker``) re-scores the top ``rerank_depth``."""
    from .rerank import rerank_scores
    depth = min(len(order), max(k, p.rerank_depth))
    top = order[:depth]
    texts = [lead.rows[c.pids[j]].text if c.pids[j] in lead.rows else kb.store.passage_text(c.pids[j]) for j in top]
    ce = np.asarray(rerank_scores(p.reranker, q.text, texts))
    scores[top] = shown[top] = ce  # the cross-encoder's score is what ranks these now
    lead.depth = depth
    return np.concatenate([top[np.argsort(-ce, kind="stable")], order[depth:]])


def merge(kb, c: Candidates, lead: Lead, order: np.ndarray, shown: np.ndarray, k: int, max_chars: int) -> list[_Draft]:
    """Stage 4: the top ``k`` hits in ``order``, overlapping passages of one article merged
    (up to ``max_chars``), near-duplicate articles cited once."""
    store, rows, sents = kb.store, lead.rows, lead.sents
    drafts: list[_Draft] = []
    first: list[str] = []  # the articles of the leading passages, read in one query
    for j in order[:lead.depth]:
        aid = rows[c.pids[j]].article_id if c.pids[j] in rows else None
        if aid is not None and aid not in first:
            first.append(aid)
            if len(first) == k:
                break
    articles = store.cited(first)
    groups: dict[str, str] = {}
    for j in order:
        if len(drafts) >= k:
            break
        pid = c.pids[j]
        if pid not in rows:  # past the lead: only when fewer than k hits came out of it
            more_rows, more_sents, _ = kb.indexes.lead([pid])
            if pid not in more_rows:
                continue
            rows.update(more_rows)
            sents.update(more_sents)
        row = rows[pid]
        aid = row.article_id
        if aid not in articles:
            articles.update(store.cited([aid]))
        art = articles.get(aid)
        if art is None:
            continue
        group = art.dup_of or aid  # near-duplicate copies of one story are cited once
        if groups.setdefault(group, aid) != aid:
            continue
        if _merge_into(drafts, row, max_chars, sents[pid]):
            continue
        lex_used, _ = lead.lex_of.get(j, (float(c.lexical[j]), False))
        h = Hit(rank=len(drafts) + 1, score=float(shown[j]), article_id=aid, title=art.title, path=art.path,
                source=art.source, url=art.url, date=art.date, author=art.author, lang=row.lang, passage_id=pid,
                paragraph=row.paragraph, start=row.start, end=row.end, text=row.text, highlight="",
                highlight_start=row.start, highlight_end=row.end, dense=float(lead.dense_of.get(j, c.cos[j])),
                lexical=lex_used)
        drafts.append(_Draft(h, list(sents[pid]), art))
    return drafts


def highlight(kb, q: Query, drafts: list[_Draft], lead: Lead, mode: str, p: SearchParams) -> None:
    """Stage 5: in each hit, the answering sentence, the question's terms marked, and which
    terms matched (``Hit.matches``)."""
    lex = kb.indexes.lexical
    hl = _Highlighting(
        idf={t: (lex.idf(t) if p.highlight_idf >= 1 else 1.0) for t in set(q.terms)},
        idf_mode=p.highlight_idf, scos=lead.raw_scos, qlang=q.lang, mode=mode,
        wants=q.kind, kinds=tuple(p.highlight_kinds.split(",")),
        lam_same=p.highlight_weight, lam_cross=p.cross_lexical_weight, context=p.highlight_context,
        answer_type=p.highlight_answer_type, subject=p.highlight_subject, lam_translated=p.highlight_translated,
        neighbour=p.highlight_neighbour, question=q.text)
    if hl.subject != 1.0:
        hl.firsts = _first_sentences(drafts, kb.store)
    xq = q.cross
    if xq is not None and hl.lam_translated > 0:
        for alts in xq.groups.values():
            for target, toks, w in alts:
                f = _fold(target)
                hl.translated[f] = max(hl.translated.get(f, 0.0), w * sum(lex.idf(t) for t in toks) / len(toks))
        for t in xq.kept:
            hl.translated[t] = lex.idf(t)
    targets = _Targets.of(xq)
    for d in drafts:
        _highlight(d, hl)
        _explain(d.hit, q.terms, targets, q.lang)


def _signals(drafts: list[_Draft], c: Candidates, lead: Lead, q: Query, lex) -> dict:
    """What the confidence is computed from, for the top hit:

    - ``dense``, ``lexical``: its dense part (language-centred cosines) and lexical coverage (in
      its own language's terms); ``lexical_best`` the best lexical coverage among the hits;
    - ``lead``: how far the best passage cosine stands above the other candidates' (in standard
      deviations); ``sentence``, ``sentence_plain``: its best sentence's cosine, centred and plain;
    - ``cover``: the share of the question's terms (IDF-weighted; a term counts when it or a
      translation of it occurs) found anywhere in the library; ``rare_lib`` / ``rare_top`` the
      share of its two rarest terms found in the library / in the top hit (names, mostly: a
      question about a topic the library lacks names things no passage holds);
    - ``asks``: the question asks for a kind of answer (``kb.answers``); ``typed_miss``: it does and
      the marked sentence holds none;
    - ``cross``: the top hit is in the other language (its lexical signals come through translation);
    - ``agree``: the top hit is among the first three candidates by vector and by BM25 alike;
    - ``gap``: its score above the best hit from another article."""
    top = drafts[0].hit
    pcos = c.cos
    spread = float(pcos.std()) or 1.0
    sids = [s.id for s in drafts[0].sents]
    terms, xq = q.terms, q.cross
    cover = rare_lib = rare_top = 0.0
    if len(lex) and terms:
        full = math.log(1 + (len(lex) + 0.5) / 0.5)  # the IDF of a term no passage holds
        present = {t for t in terms if lex.idf(t) < full}
        if xq is not None:  # a question term counts when a translation of the phrase or word holding it occurs
            # (more than half its translations by weight, each with all its words: "world" alone does not
            # put 世界杯, "world" + "cup", in the library)
            found = [src for src, alts in xq.groups.items()
                     if sum(w for _, toks, w in alts if toks and all(lex.idf(t) < full for t in toks))
                     > 0.5 * sum(w for _, _, w in alts)]
            present |= {t for t in terms for src in found if _within(t, src)}
        weight = {t: lex.idf(t) for t in dict.fromkeys(terms)}
        cover = sum(w for t, w in weight.items() if t in present) / (sum(weight.values()) or 1.0)
        rarest = sorted(weight, key=lambda t: -weight[t])[:2]
        rare_lib = sum(t in present for t in rarest) / len(rarest)
        matched = [m[0] for m in top.matches]
        rare_top = sum(any(_within(t, m) for m in matched) for t in rarest) / len(rarest)
    kind = q.kind
    j_top = c.pids.index(top.passage_id) if top.passage_id in c.pids else None
    agree = 0.0
    if j_top is not None and len(c) > 1:
        dense_rank = int((c.cos > c.cos[j_top]).sum())
        lexical_all = np.maximum(c.lexical, c.lexical_x)
        lexical_rank = int((lexical_all > lexical_all[j_top]).sum())
        agree = float(dense_rank < 3 and lexical_rank < 3)
    other = next((d.hit.score for d in drafts[1:] if d.hit.article_id != top.article_id), None)
    return {"dense": round(top.dense, 4), "lexical": round(top.lexical, 4),
            "lead": round((float(pcos.max()) - float(pcos.mean())) / spread, 4),
            "sentence": round(max((lead.scos.get(i, 0.0) for i in sids), default=0.0), 4),
            "sentence_plain": round(max((lead.raw_scos.get(i, 0.0) for i in sids), default=0.0), 4),
            "lexical_best": round(max(d.hit.lexical for d in drafts), 4), "cover": round(cover, 4),
            "rare_lib": round(rare_lib, 4), "rare_top": round(rare_top, 4),
            "asks": float(kind is not None), "asks_figure": float(kind in ("quantity", "date")),
            "typed_miss": float(kind is not None and not answers.holds(kind, top.highlight)),
            "cross": float(not _same_lang(q.lang, top.lang)), "agree": agree,
            "gap": round(top.score - other, 4) if other is not None else 0.5}


def _within(term: str, phrase: str) -> bool:
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
    itself (found where ``_highlight`` marked it), or for a passage in the other language a
    dictionary translation of it (which is marked in the text too)."""
    seen = {_fold(h.text[a:b]) for a, b in h.marks}
    pairs = [[t, t] for t in dict.fromkeys(terms) if t in seen]
    if targets is not None and not _same_lang(qlang, h.lang):
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


# The confidence model: logistic regression over ``_signals`` (a "a*b" term is a product), fitted
# by benchmarks/confidence.py on the three MLQA libraries' in-library questions against their near
# off-topic ones (another dev set's questions), the label being "the library holds the answer".
# Checked on the CMRC libraries and on everyday questions (benchmarks/data), which it never saw.
CONFIDENCE = {"bias": -7.489, "dense": 2.868, "lexical": 1.089, "lead": 0.673, "sentence": 3.414, "sentence_plain": 1.902,
              "lexical_best": 0.642, "cover": 1.317, "rare_lib": 0.837, "rare_top": 0.763, "asks": -0.146,
              "typed_miss": -0.285, "cross": 0.781, "agree": 0.483, "gap": 1.604, "cross*cover": -0.127,
              "cross*lexical": -0.221, "cross*rare_lib": -0.446, "cross*sentence": 1.427, "cross*dense": 1.230}


def confidence(signals: dict) -> float:
    """0-1: how likely the library answers the question, from the top hit's signals (``_signals``):
    a logistic model whose terms are signals or products of two ("cross*cover").
    Questions about topics the library does not hold score low; benchmarks/README.md gives the
    rates at the shipped threshold."""
    z = CONFIDENCE["bias"] + sum(w * feature(signals, k) for k, w in CONFIDENCE.items() if k != "bias")
    return float(1 / (1 + math.exp(-max(-50.0, min(50.0, z)))))


def feature(signals: dict, name: str) -> float:
    """A signal, or the product of the signals a term of the model names ("cross*cover")."""
    out = 1.0
    for part in name.split("*"):
        out *= signals[part]
    return out


def _merge_into(drafts: list[_Draft], row: PassageRow, max_chars: int, sents: list[SentenceRef]) -> bool:
    """Fold a passage into an earlier hit of the same article when their spans overlap.
    Returns True when the passage should not be cited on its own."""
    for d in drafts:
        h = d.hit
        if h.article_id != row.article_id or row.start >= h.end or h.start >= row.end:
            continue
        s, e = min(h.start, row.start), max(h.end, row.end)
        if e - s <= max_chars:
            h.text = span_text(s, e, [(h.start, h.end, h.text), (row.start, row.end, row.text)])
            h.start, h.end = s, e
            h.paragraph = min(h.paragraph, row.paragraph)
            known = {x.id for x in d.sents}
            d.sents = sorted(d.sents + [x for x in sents if x.id not in known], key=lambda x: x.seq)
        h.merged.append(row.id)
        return True
    return False


def span_text(start: int, end: int, pieces: list[tuple[int, int, str]]) -> str:
    """The text over [start, end) of an article, from (start, end, text) spans of it that
    overlap one another and together cover [start, end)."""
    out, at = [], start
    for s, e, t in sorted(pieces):
        if e > at:
            if s > at:
                raise ValueError(f"spans leave [{at}, {s}) uncovered")
            out.append(t[at - s:])
            at = e
    if at < end:
        raise ValueError(f"spans end at {at}, before {end}")
    return "".join(out)[:end - start]


@dataclass
class _Highlighting:
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


def _highlight(d: _Draft, hl: _Highlighting) -> None:
    """Choose the answering sentence with the ranking's signals — its own cosine with the
    question plus the IDF-weighted share of query terms it holds — and mark query terms.
    Terms are found the way they are marked (``mark_terms``), once per hit, not re-tokenised."""
    h, art = d.hit, d.art
    # A passage in the other language is read for the question's translated terms (each
    # weighted by its reliability times its IDF) and the names and numbers both share.
    cross = bool(hl.translated) and hl.lam_translated > 0 and not _same_lang(hl.qlang, h.lang)
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
            lam = hl.lam_translated if cross else hl.lam_same if _same_lang(hl.qlang, slang) else hl.lam_cross
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
                              hl: "_Highlighting") -> tuple[int, int]:
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


def paragraph_at(text: str, first: int, offset: int) -> int:
    r"""The paragraph of ``text[offset]``, where ``text`` starts inside paragraph ``first``
    (paragraphs are the non-empty lines of an article, ``kb.segment.split_sentences``).

    >>> paragraph_at("一句。\n\n二句。\n三句。", 24, 10)
    26
    """
    lines = text[:offset].split("\n")
    return first + sum(1 for x in lines[1:-1] if x.strip()) + (1 if len(lines) > 1 else 0)


def _first_sentences(drafts: list[_Draft], store) -> dict[str, str]:
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
