"""Hybrid search: passage vectors + sentence vectors + BM25, fused into one cited ranking, fair
across Chinese and English.

A search runs in stages, each a function over the small records of ``kb.records`` (``Query``,
``Candidates``, ``Lead``, ``Draft``), so one can be replaced or tested alone. What it hands out
(``Hit``, ``Results``, ``Filters``, permalinks) is ``kb.results``; the highlight is
``kb.highlight``; the confidence and the no-answer flag, ``kb.confidence``.

| stage | function | what it does |
|---|---|---|
| 0 | ``make_query`` | the question's terms, language, centred vectors and translation |
| 1 | ``candidates`` | the best passages by vector and by BM25 (``SearchParams.candidates`` each, plus the BM25 of the translated terms), with every signal memory holds |
| 2 | ``fuse`` | a first score for every candidate |
| 3 | ``rescore_lead`` | the leading ``sentence_depth`` scored in full: best sentence vector, language-aware BM25 weight |
| 4 | ``merge`` | the top k, overlapping passages of one article merged, near-duplicates cited once |
| 5 | ``highlight`` (``kb.highlight``) | each hit's answering sentence, marked terms, matched terms |
| 6 | ``confidence`` (``kb.confidence``) | how likely the library answers; ``Results.no_answer`` below ``no_answer_below`` or a date / number missing (``no_answer``) |

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
are ``kb.params.SearchParams``. How the highlighted sentence is chosen: ``kb.highlight``.

``confidence`` (0-1) says how likely the library answers the question, from signals of the top
hit (``kb.confidence.top_signals``); below KB_NO_ANSWER_BELOW, or when a date or number question's marked sentence
states none, the search flags that no passage seems to answer (``Results.no_answer``, with
``Results.reason``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from . import answers
from .confidence import confidence, no_answer, top_signals
from .dictionary import cross_query, gloss_question
from .highlight import highlight
from .params import SearchParams
from .records import Candidates, Draft, Lead, PassageRow, Query, SentenceRef
from .results import Filters, Hit, Results, ocr_confidence
from .text import detect_lang, normalize, same_lang, tokenize

if TYPE_CHECKING:
    from .backends import Selection
    from .indexes import Indexes
    from .store import Store

MODES = ("hybrid", "dense", "lexical")
Embed = Callable[[list[str]], np.ndarray]  # questions -> their vectors (KnowledgeBase.query_vectors_of)


# --- the search ---------------------------------------------------------------------------------
def search(ix: Indexes, store: Store, query: str, k: int = 5, filters: Filters | None = None, mode: str = "hybrid",
           query_vector: np.ndarray | None = None, params: SearchParams | None = None, embed: Embed | None = None,
           max_chars: int = 600) -> Results:
    """Top ``k`` cited passages for ``query`` (Chinese or English): ``search_batch([query])[0]``.

    ``mode`` 'dense' ranks by passage vectors alone, 'lexical' by BM25 alone (both for
    benchmarks); 'hybrid' is the shipped ranking. An empty query gives no hits."""
    return search_batch(ix, store, [query], k, filters, mode, None if query_vector is None else [query_vector], params,
                        embed, max_chars)[0]


def search_batch(ix: Indexes, store: Store, queries: list[str], k: int = 5, filters: Filters | None = None,
                 mode: str = "hybrid", query_vectors=None, params: SearchParams | None = None, embed: Embed | None = None,
                 max_chars: int = 600) -> list[Results]:
    """``search`` for each query, over the indexes ``ix`` and the articles of ``store``.

    The questions' vectors are ``query_vectors`` (one per query) or ``embed(texts)`` (one call for
    all; the KB's ``query_vectors_of``); ``params`` weigh the ranking (the defaults when None);
    ``max_chars`` is the longest hit that overlapping passages of one article merge into (the
    KB's ``passage_max_chars``). ``KnowledgeBase.search`` and ``search_batch`` fill all of these."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    p = params or SearchParams()
    texts = [clean_query(q) for q in queries]
    out = [Results() for _ in texts]
    todo = [i for i, t in enumerate(texts) if t]
    if not todo or k <= 0:
        return out
    ix.ensure()
    allowed = ix.selection(filters.active() if filters is not None else {})
    if allowed is not None and allowed.empty:
        return out
    vectors: dict[int, np.ndarray] = {}
    glossed: dict[int, np.ndarray] = {}  # the word-by-word translations' vectors (translated_dense)
    if mode != "lexical":
        glosses = {}
        if p.translated_dense and mode == "hybrid":
            glosses = {i: g for i in todo if (g := gloss_question(texts[i], detect_lang(texts[i])))}
        if query_vectors is not None:
            vectors = {i: query_vectors[i] for i in todo}
            embedded = embed(list(glosses.values())) if glosses and embed is not None else []
        else:
            if embed is None:
                raise ValueError("a dense or hybrid search needs query_vectors or embed")
            embedded = embed([texts[i] for i in todo] + list(glosses.values()))
            vectors = dict(zip(todo, embedded[:len(todo)]))
            embedded = embedded[len(todo):]
        glossed = dict(zip(glosses, embedded))
    for i in todo:
        q = make_query(ix, texts[i], vectors.get(i), mode, p, glossed.get(i))
        out[i] = rank(ix, store, q, k, allowed, mode, p, max_chars)
    return out


def clean_query(q: str | None) -> str:
    """A question as the search embeds and cuts it: normalised, trimmed, at most 2,000 characters
    (a question, not a document: longer adds only cost)."""
    return normalize(q or "").strip()[:2000]


def make_query(ix: Indexes, text: str, vector: np.ndarray | None, mode: str, p: SearchParams,
               glossed: np.ndarray | None = None) -> Query:
    """Stage 0: the question's terms, language, vectors in the KB's space, translation."""
    q = Query(text, tokenize(text), detect_lang(text), vector, kind=answers.answer_type(text))
    if vector is not None:
        q.vp, q.vs = ix.space.query(vector, q.lang)  # centred on the question's language (kb.langspace)
    if glossed is not None and q.lang in ("zh", "en"):
        q.tp, _ = ix.space.query(glossed, "en" if q.lang == "zh" else "zh")
    if mode == "hybrid" and p.translated_lexical_weight > 0 and ix.lexical_size:
        q.cross = cross_query(text, q.lang)
    return q


def rank(ix: Indexes, store: Store, q: Query, k: int, allowed: Selection | None, mode: str, p: SearchParams,
         max_chars: int = 600) -> Results:
    """Stages 1-6 for one question: candidates → fusion → lead rescoring → (reranking) →
    merging → highlighting, then the confidence that the first hit answers."""
    cands = candidates(ix, q, max(p.candidates, 3 * k), allowed, mode, p.sense_context)
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
        order = rerank(store, q, cands, lead, order, scores, shown, k, p)
    drafts = merge(ix, store, cands, lead, order, shown, k, max_chars)
    highlight(ix, store, q, drafts, lead, mode, p)
    out = Results(d.hit for d in drafts)
    if drafts and mode == "hybrid":
        out.signals = top_signals(drafts, cands, lead, q, ix)
        out.confidence = confidence(out.signals)
        out.no_answer, out.reason = no_answer(out.signals, out.confidence, q.kind, p)
    return out


def candidates(ix: Indexes, q: Query, n: int, allowed: Selection | None, mode: str, senses_from: int = 0) -> Candidates | None:
    """Stage 1: the ``n`` best passages by vector, by BM25 of the question's terms and by BM25
    of their translations, each with every signal that memory holds: its vector's cosine (the
    index's own score, or its stored vector for the BM25-only ones) and both BM25 coverages.
    With ``senses_from`` > 0 the translations are first chosen by the ``senses_from`` passages
    nearest the question by vector (``senses_in_context``)."""
    cand: set[int] = set()
    dense_top: dict[int, float] = {}
    if q.vp is not None:
        dense_top = dict(zip(*(a.tolist() for a in ix.dense(q.vp, n, allowed))))
        cand.update(dense_top)
    if q.tp is not None:
        cand.update(ix.dense(q.tp, n, allowed)[0].tolist())
    if q.cross is not None and senses_from > 0 and dense_top:
        q.cross = senses_in_context(ix, q.cross, sorted(dense_top, key=lambda i: -dense_top[i])[:senses_from])
    ls = ix.term_scores(q.terms) if ix.lexical_size and q.terms else None
    if ls is not None and mode != "dense":
        cand.update(ls.top(n, allowed))
    lsx = ix.term_scores(q.cross.terms, q.cross.weights) if q.cross is not None else None
    if lsx is not None:
        cand.update(lsx.top(n, allowed))
    if not cand:
        return None
    pids = sorted(cand)
    bm = ls.get(pids) if ls is not None else np.zeros(len(pids), np.float32)
    if mode == "lexical":
        lexical = bm / (bm.max() or 1.0)
    else:
        scale = ideal_score(ix, q.terms) if ls is not None else 0.0
        lexical = np.minimum(1.0, bm / scale) if scale > 0 else np.zeros(len(pids), np.float32)
    pcos = np.zeros(len(pids), np.float32)
    if q.vp is not None:
        pcos[:] = [dense_top.get(p, 0.0) for p in pids]
        missing = [j for j, p in enumerate(pids) if p not in dense_top]
        if missing:
            pcos[missing] = ix.stored_vectors([pids[j] for j in missing]) @ q.vp
    pcos_t = ix.stored_vectors(pids) @ q.tp if q.tp is not None else None
    lexical_x = np.zeros(len(pids), np.float32)
    if lsx is not None:
        scale_x = q.cross.ideal(ix.idf)
        if scale_x > 0:
            lexical_x = np.minimum(1.0, lsx.get(pids) / scale_x)
    return Candidates(pids, pcos, lexical, lexical_x, dense_top, pcos_t)


def senses_in_context(ix: Indexes, xq, near: list[int], lift: float = 2.0):
    """The question's translations chosen by the passages ``near`` it (by vector; the dictionary's
    sense order knows nothing of the question): a translation is confirmed when those passages
    hold all its words at least ``lift`` times as often as the library's passages at large ("point"
    near passages about a game; not "one", which every passage holds). A confirmed one gains
    weight, a confirmed later sense joins, an unconfirmed one loses half
    (``CrossQuery.in_context``). One BM25 lookup a translated word."""
    held: dict[str, np.ndarray] = {}
    n = ix.lexical_size

    def support(toks: list[str]) -> float:
        if not toks or not n:
            return 0.0
        for t in toks:
            if t not in held:
                held[t] = ix.term_scores([t]).get(near) > 0
        share = float(np.logical_and.reduce([held[t] for t in toks]).mean())
        e = max(np.exp(max(ix.idf(t) for t in toks)) - 1.0, 1e-9)  # Lucene IDF solved for the rarest word's df
        base = max(0.0, (n + 0.5 - 0.5 * e) / (1 + e)) / n
        return share if share > 0 and share >= lift * base else 0.0
    return xq.in_context(support)


def ideal_score(ix: Indexes, terms: list[str]) -> float:
    """BM25 of a passage of average length holding each query term once: the scale that makes
    scores comparable across queries. Terms absent from the index count at full IDF, so a query
    only partly matched (say, an English question whose only shared term with a Chinese passage
    is "TikTok") scores low."""
    if not ix.lexical_size or not terms:
        return 0.0
    return sum(ix.idf(t) for t in terms)


def fuse(c: Candidates, mode: str, p: SearchParams) -> np.ndarray:
    """Stage 2, fusion: a first score for every candidate from what memory holds, assuming a
    same-language match. Replace this function to try another fusion."""
    if mode == "lexical":
        return c.lexical.astype(np.float64)
    if mode == "dense":
        return c.cos.astype(np.float64)
    cos = c.cos if c.cos_t is None else np.maximum(c.cos, c.cos_t)
    return (cos + p.lexical_weight * c.lexical + p.translated_lexical_weight * c.lexical_x).astype(np.float64)


def rescore_lead(ix: Indexes, q: Query, c: Candidates, scores: np.ndarray, k: int, mode: str, p: SearchParams) -> Lead:
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
        if c.cos_t is not None and not same_lang(q.lang, rows[pid].lang):
            c.cos[j] = max(c.cos[j], c.cos_t[j])  # the translated question may be nearer the other language's passage
        if same_lang(q.lang, rows[pid].lang):
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


def rerank(store: Store, q: Query, c: Candidates, lead: Lead, order: np.ndarray, scores: np.ndarray, shown: np.ndarray,
           k: int, p: SearchParams) -> np.ndarray:
    """Optional: a cross-encoder (``SearchParams.reranker``) re-scores the top ``rerank_depth``."""
    from .rerank import rerank_scores
    depth = min(len(order), max(k, p.rerank_depth))
    top = order[:depth]
    texts = [lead.rows[c.pids[j]].text if c.pids[j] in lead.rows else store.passage_text(c.pids[j]) for j in top]
    ce = np.asarray(rerank_scores(p.reranker, q.text, texts))
    scores[top] = shown[top] = ce  # the cross-encoder's score is what ranks these now
    lead.depth = depth
    return np.concatenate([top[np.argsort(-ce, kind="stable")], order[depth:]])


def merge(ix: Indexes, store: Store, c: Candidates, lead: Lead, order: np.ndarray, shown: np.ndarray, k: int,
          max_chars: int) -> list[Draft]:
    """Stage 4: the top ``k`` hits in ``order``, overlapping passages of one article merged
    (up to ``max_chars``), near-duplicate articles cited once."""
    rows, sents = lead.rows, lead.sents
    drafts: list[Draft] = []
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
            more_rows, more_sents, _ = ix.lead([pid])
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
                lexical=lex_used, ocr=ocr_confidence(art.meta))
        drafts.append(Draft(h, list(sents[pid]), art))
    return drafts


def _merge_into(drafts: list[Draft], row: PassageRow, max_chars: int, sents: list[SentenceRef]) -> bool:
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


