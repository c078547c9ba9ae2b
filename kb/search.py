"""Hybrid search: passage vectors + sentence vectors + BM25, fused into one cited ranking, fair
across Chinese and English.

Candidates come from the FAISS passage index and from BM25 (KB_CANDIDATES each, plus the BM25
of the question's translated terms). All are scored with the passage vectors the index holds in
memory and BM25; the leading KB_SENTENCE_DEPTH are then scored in full with their sentences'
vectors and their language.

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

``lam`` is KB_LEXICAL_WEIGHT when question and passage share a language, otherwise
KB_TRANSLATED_LEXICAL_WEIGHT over the translated terms (or KB_CROSS_LEXICAL_WEIGHT over the
question's own terms, whichever gives more). The highlighted sentence is chosen with the plain
(uncentred) sentence cosine and the share of query terms it holds; query terms that name the
article's subject count for less there, since later sentences refer to the subject without
naming it.

``confidence`` (0-1) says how likely the top hit answers; below KB_NO_ANSWER_BELOW the search
flags that no passage seems to answer (``Results.no_answer``).
"""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from . import config
from .dictionary import cross_query
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

    def to_dict(self) -> dict:
        return asdict(self)

    def citation(self) -> str:
        """A one-paragraph citation to paste into notes."""
        parts = [f"“{self.title}”"]
        for v in (self.author, self.source, self.date):
            if v:
                parts.append(v)
        parts.append(f"p. {self.page}" if self.page else f"para. {self.paragraph}")
        if self.url:
            parts.append(self.url)
        return ", ".join(parts) + f". “{self.text}”"


@dataclass
class Filters:
    lang: str | None = None
    source: str | None = None
    since: str | None = None   # ISO date, inclusive
    until: str | None = None
    article: str | None = None

    def sql(self) -> tuple[str, list] | None:
        where, args = [], []
        if self.lang:
            where.append("p.lang=?")
            args.append(self.lang)
        if self.source:
            where.append("a.source=?")
            args.append(self.source)
        if self.since:
            where.append("a.date>=?")
            args.append(self.since)
        if self.until:
            where.append("a.date<=?")
            args.append(self.until + "\uffff")
        if self.article:
            where.append("a.id LIKE ?")
            args.append(self.article + "%")
        return (" AND ".join(where), args) if where else None


def _same_lang(a: str, b: str) -> bool:
    return a == b or "mixed" in (a, b)


def search(kb, query: str, k: int = 5, filters: Filters | None = None, mode: str = "hybrid",
           query_vector: np.ndarray | None = None) -> list[Hit]:
    """Top ``k`` cited passages for ``query`` (Chinese or English).

    ``mode`` 'dense' ranks by passage vectors alone, 'lexical' by BM25 alone (both for
    benchmarks); 'hybrid' is the shipped ranking. An empty query gives no hits."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    q = normalize(query or "").strip()
    if not q or k <= 0:
        return []
    q = q[:2000]  # a question, not a document: longer input adds nothing but cost
    kb.ensure_indexes()
    store = kb.store
    allowed = None
    if filters and filters.sql():
        where, args = filters.sql()
        found = store.filtered_passage_ids(where, args)
        if not found:
            return []
        allowed = np.fromiter(found, np.int64, len(found))
    terms = tokenize(q)
    qlang = detect_lang(q)
    n_cand = max(config.get("KB_CANDIDATES"), 3 * k)
    w_sent = config.get("KB_SENTENCE_WEIGHT")
    lam_same = config.get("KB_LEXICAL_WEIGHT")
    lam_cross = config.get("KB_CROSS_LEXICAL_WEIGHT")

    # 1. Candidates: the best passages by vector and the best by BM25.
    cand: set[int] = set()
    qv = None
    dense_sims: dict[int, float] = {}
    if mode != "lexical":
        qv = query_vector if query_vector is not None else kb.query_vector(q)
        qp, qs = kb.query_vectors(qv, qlang)  # centred on the question's language (kb.langspace)
        dense_sims = dict(zip(*(a.tolist() for a in _dense_candidates(kb, qp, n_cand, allowed))))
        cand.update(dense_sims)
    lex = kb.lexical
    ls = lex.query(terms) if lex is not None and len(lex) and terms else None
    if ls is not None and mode != "dense":
        cand.update(ls.top(n_cand, allowed))
    # The question's terms translated (kb.dictionary), for BM25 over the other language's passages.
    lam_x = config.get("KB_TRANSLATED_LEXICAL_WEIGHT")
    xq = cross_query(q, qlang) if mode == "hybrid" and lam_x > 0 and lex is not None and len(lex) else None
    lsx = lex.query(xq.terms, xq.weights) if xq is not None else None
    if lsx is not None:
        cand.update(lsx.top(n_cand, allowed))
    if not cand:
        return []

    # 2. A first score for every candidate from what is in memory: its vector as the index holds
    #    it and its BM25, assuming a same-language match (KB_LEXICAL_WEIGHT).
    pids = sorted(cand)
    dim = kb.dim
    bm = ls.get(pids) if ls is not None else np.zeros(len(pids), np.float32)
    if mode == "lexical":
        lexical = bm / (bm.max() or 1.0)
    else:
        scale = lex.ideal_score(terms) if ls is not None else 0.0
        lexical = np.minimum(1.0, bm / scale) if scale > 0 else np.zeros(len(pids), np.float32)
    pcos = np.zeros(len(pids), np.float32)
    if qv is not None:  # the vector search's own scores, and the index's vectors for the BM25-only candidates
        pcos[:] = [dense_sims.get(p, 0.0) for p in pids]
        missing = [j for j, p in enumerate(pids) if p not in dense_sims]
        if missing:
            pcos[missing] = kb.passages_index.vectors([pids[j] for j in missing]) @ qp
    lexical_x = np.zeros(len(pids), np.float32)
    if lsx is not None:
        scale_x = xq.ideal(lex.idf)
        if scale_x > 0:
            lexical_x = np.minimum(1.0, lsx.get(pids) / scale_x)
    scores = {"lexical": lexical, "dense": pcos}.get(mode, pcos + lam_same * lexical + lam_x * lexical_x).astype(np.float64)

    # 3. The leading candidates (KB_SENTENCE_DEPTH) scored in full: the best
    #    sentence's vector (sentences from the sentence base, kb.index.SentenceBase), the
    #    language-aware BM25 weight. Reading rows is the costliest step of
    #    a search, and a passage far down this list does not reach the top k.
    depth = max(k, config.get("KB_SENTENCE_DEPTH"))
    lead = [int(j) for j in np.argsort(-scores, kind="stable")[:depth]]
    rows, sents, svecs = kb.lead_passages([pids[j] for j in lead])
    lead = [j for j in lead if pids[j] in rows]  # a passage removed since the index was saved drops out
    scos: dict[int, float] = {}    # sentence id -> cosine in the language-centred space (ranking)
    raw_scos: dict[int, float] = {}  # ... and plain cosine (choosing the sentence within a passage)
    if qv is not None and len(svecs):
        langs = np.full(len(svecs), "mixed", dtype=object)
        for p, ss in sents.items():
            if p in rows:
                langs[[s[4] for s in ss]] = rows[p]["lang"]
        scos_row = kb.space.sentences(svecs, langs) @ qs
        raw_row = svecs @ qv
        scos = {s[0]: float(scos_row[s[4]]) for ss in sents.values() for s in ss}
        raw_scos = {s[0]: float(raw_row[s[4]]) for ss in sents.values() for s in ss}
    dense_of: dict[int, float] = {}   # candidate -> its dense part (passage and best sentence)
    lex_of: dict[int, tuple[float, bool]] = {}  # candidate -> (lexical coverage used, through translation)
    for j in lead:
        p = pids[j]
        if _same_lang(qlang, rows[p]["lang"]):
            lex_part, lex_of[j] = lam_same * lexical[j], (float(lexical[j]), False)
        else:  # names and numbers as written, or the question's terms translated
            via = lam_x * lexical_x[j] > lam_cross * lexical[j]
            lex_part = lam_x * lexical_x[j] if via else lam_cross * lexical[j]
            lex_of[j] = (float(lexical_x[j] if via else lexical[j]), bool(via))
        if mode == "hybrid":
            best = max((scos[s[0]] for s in sents[p]), default=pcos[j])
            dense_of[j] = (1 - w_sent) * pcos[j] + w_sent * best
            scores[j] = dense_of[j] + lex_part
        elif mode == "dense":
            scores[j] = pcos[j]
    rest = np.ones(len(pids), bool)
    rest[lead] = False
    shown = scores.copy()  # the score a hit reports (the offset below only orders)
    scores[rest] -= 10  # below every fully scored candidate

    order = np.argsort(-scores, kind="stable")
    reranker = config.get("KB_RERANKER")
    if reranker and mode == "hybrid":
        from .rerank import rerank_scores
        depth = min(len(order), max(k, config.get("KB_RERANK_DEPTH")))
        top = order[:depth]
        texts = [rows[pids[j]]["text"] if pids[j] in rows else store.passage_text(pids[j]) for j in top]
        ce = np.asarray(rerank_scores(reranker, q, texts))
        scores[top] = shown[top] = ce  # the cross-encoder's score is what ranks these now
        order = np.concatenate([top[np.argsort(-ce, kind="stable")], order[depth:]])

    # 4. The top k, overlapping passages of one article merged, near-duplicate articles cited once.
    hits: list[Hit] = []
    first: list[str] = []  # the articles of the leading passages, read in one query
    for j in order[:depth]:
        aid = rows[pids[j]]["article_id"] if pids[j] in rows else None
        if aid is not None and aid not in first:
            first.append(aid)
            if len(first) == k:
                break
    articles = store.cited(first)
    groups: dict[str, str] = {}
    max_chars = config.get("KB_PASSAGE_MAX_CHARS")
    for j in order:
        if len(hits) >= k:
            break
        p = pids[j]
        if p not in rows:  # past the lead: only when fewer than k hits came out of it
            more_rows, more_sents, _ = kb.lead_passages([p])
            if p not in more_rows:
                continue
            rows.update(more_rows)
            sents.update(more_sents)
        row = rows[p]
        aid = row["article_id"]
        if aid not in articles:
            articles.update(store.cited([aid]))
        art = articles.get(aid)
        if art is None:
            continue
        group = art.dup_of or aid  # near-duplicate copies of one story are cited once
        if groups.setdefault(group, aid) != aid:
            continue
        if _merge_into(hits, row, max_chars, sents[p]):
            continue
        lex_used, via = lex_of.get(j, (float(lexical[j]), False))
        h = Hit(rank=len(hits) + 1, score=float(shown[j]), article_id=aid, title=art.title, path=art.path,
                source=art.source, url=art.url, date=art.date, author=art.author, lang=row["lang"], passage_id=p,
                paragraph=row["paragraph"], start=row["start"], end=row["end"], text=row["text"], highlight="",
                highlight_start=row["start"], highlight_end=row["end"], dense=float(dense_of.get(j, pcos[j])),
                lexical=lex_used)
        h._via = via  # type: ignore[attr-defined]
        h._sents = list(sents[p])  # type: ignore[attr-defined]
        h._art = art               # type: ignore[attr-defined]
        hits.append(h)

    # 5. In each hit, the answering sentence and the query terms.
    idf_mode = config.get("KB_HIGHLIGHT_IDF")
    hl = _Highlighting(
        idf={t: (lex.idf(t) if lex is not None and idf_mode >= 1 else 1.0) for t in set(terms)},
        idf_mode=idf_mode, scos=raw_scos, qlang=qlang, mode=mode, wants=answer_type(q),
        lam_same=config.get("KB_HIGHLIGHT_WEIGHT"), lam_cross=lam_cross,
        context=config.get("KB_HIGHLIGHT_CONTEXT"), answer_type=config.get("KB_HIGHLIGHT_ANSWER_TYPE"),
        subject=config.get("KB_HIGHLIGHT_SUBJECT"))
    if hl.subject != 1.0:
        hl.firsts = _first_sentences(hits, store)
    hl.lam_translated = config.get("KB_HIGHLIGHT_TRANSLATED")
    if xq is not None and hl.lam_translated > 0:
        for alts in xq.groups.values():
            for target, toks, w in alts:
                f = _fold(target)
                hl.translated[f] = max(hl.translated.get(f, 0.0), w * sum(lex.idf(t) for t in toks) / len(toks))
        for t in xq.kept:
            hl.translated[t] = lex.idf(t)
    targets = _Targets.of(xq)
    for h in hits:
        _highlight(h, hl)
        _explain(h, terms, targets, qlang)
    out = Results(hits)
    if hits and mode == "hybrid":
        out.signals = _signals(hits, pcos, scos, raw_scos, terms, xq, lex)
        out.confidence = confidence(out.signals)
        out.no_answer = out.confidence < config.get("KB_NO_ANSWER_BELOW")
    for h in hits:
        del h._sents, h._art, h._via  # type: ignore[attr-defined]
    return out


class Results(list):
    """A search's hits, best first, with how confident the ranking is that the first answers
    the question (``confidence``, 0-1; see ``confidence``) and whether that is too low to call
    it an answer (``no_answer``). Only the hybrid ranking computes them."""
    confidence: float | None = None
    no_answer: bool = False
    signals: dict | None = None


def _signals(hits: list[Hit], pcos: np.ndarray, scos: dict, raw_scos: dict, terms: list[str], xq, lex) -> dict:
    """What the confidence is computed from: the top hit's dense part (language-centred
    cosines), its lexical coverage (in its own language's terms), how far its passage's
    cosine stands above the other candidates' (in standard deviations), its best sentence's
    cosine (centred and plain), the best lexical coverage among the hits, and the share of the
    question's terms (IDF-weighted; a term counts when it or a translation of it occurs) that
    occur anywhere in the library."""
    top = hits[0]
    spread = float(pcos.std()) or 1.0
    sids = [s[0] for s in top._sents]  # type: ignore[attr-defined]
    cover = 0.0
    if lex is not None and len(lex) and terms:
        full = math.log(1 + (len(lex) + 0.5) / 0.5)  # the IDF of a term no passage holds
        present = {t for t in terms if lex.idf(t) < full}
        if xq is not None:  # a question term counts when a translation of the phrase or word holding it occurs
            found = [src for src, alts in xq.groups.items() if any(lex.idf(t) < full for _, toks, _ in alts for t in toks)]
            present |= {t for t in terms for src in found if t == src or t in src.split() or (has_han(t) and t in src)}
        weight = {t: lex.idf(t) for t in dict.fromkeys(terms)}
        cover = sum(w for t, w in weight.items() if t in present) / (sum(weight.values()) or 1.0)
    return {"dense": round(top.dense, 4), "lexical": round(top.lexical, 4),
            "lead": round((float(pcos.max()) - float(pcos.mean())) / spread, 4),
            "sentence": round(max((scos.get(i, 0.0) for i in sids), default=0.0), 4),
            "sentence_plain": round(max((raw_scos.get(i, 0.0) for i in sids), default=0.0), 4),
            "lexical_best": round(max(h.lexical for h in hits), 4), "cover": round(cover, 4)}


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


# The confidence model: logistic regression over ``_signals``, fitted (benchmarks/confidence.py)
# on the three MLQA libraries' questions and off-topic questions, the label being "the top hit
# is the article that answers". Checked on the CMRC libraries, which it never saw.
CONFIDENCE = {"bias": -3.708, "dense": 3.360, "lexical": 2.487, "lead": 0.708, "sentence": 4.139,
              "sentence_plain": -2.164, "lexical_best": -0.589, "cover": 0.822}


def confidence(signals: dict) -> float:
    """0-1: how likely the top hit answers the question, from its signals (``_signals``).
    Questions about topics the library does not hold score low, and so do questions it holds
    but whose top hit is wrong; benchmarks/README.md gives the rates at the shipped threshold."""
    z = CONFIDENCE["bias"] + sum(w * signals[k] for k, w in CONFIDENCE.items() if k != "bias")
    return float(1 / (1 + math.exp(-z)))


# Up to this many passages in a filter are searched exactly (their vectors read from SQLite)
# when the index is approximate: an IVF search restricted to a few ids can miss them.
EXACT_FILTER_MAX = 50_000


def _dense_candidates(kb, qv: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, cosines) of the ``n`` passages nearest to ``qv``."""
    index = kb.passages_index
    if allowed is not None and index.kind != "flat" and len(allowed) <= EXACT_FILTER_MAX:
        ids, vecs, langs = kb.store.vectors_of(allowed.tolist(), kb.dim)
        sims = kb.space.passages(vecs, langs) @ qv
        top = np.argsort(-sims, kind="stable")[:n]
        return ids[top], sims[top]
    return index.search(qv, n, allowed)


def _merge_into(hits: list[Hit], row, max_chars: int, sents: list) -> bool:
    """Fold a passage into an earlier hit of the same article when their spans overlap.
    Returns True when the passage should not be cited on its own."""
    for h in hits:
        if h.article_id != row["article_id"] or row["start"] >= h.end or h.start >= row["end"]:
            continue
        s, e = min(h.start, row["start"]), max(h.end, row["end"])
        if e - s <= max_chars:
            h.text = span_text(s, e, [(h.start, h.end, h.text), (row["start"], row["end"], row["text"])])
            h.start, h.end = s, e
            h.paragraph = min(h.paragraph, row["paragraph"])
            known = {x[0] for x in h._sents}  # type: ignore[attr-defined]
            h._sents = sorted(h._sents + [x for x in sents if x[0] not in known], key=lambda x: x[1])  # type: ignore[attr-defined]
        h.merged.append(row["id"])
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
    """One search's inputs to choosing each hit's sentence (the KB_HIGHLIGHT_* settings read once)."""
    idf: dict[str, float]        # query term -> weight (IDF, or 1 with KB_HIGHLIGHT_IDF=0)
    idf_mode: int                # KB_HIGHLIGHT_IDF
    scos: dict[int, float]       # sentence id -> cosine with the question
    qlang: str
    mode: str
    wants: re.Pattern | None     # what an answer looks like, for date / number questions
    lam_same: float              # KB_HIGHLIGHT_WEIGHT
    lam_cross: float             # KB_CROSS_LEXICAL_WEIGHT
    context: float               # KB_HIGHLIGHT_CONTEXT
    answer_type: float           # KB_HIGHLIGHT_ANSWER_TYPE
    subject: float               # KB_HIGHLIGHT_SUBJECT
    firsts: dict[str, str] = field(default_factory=dict)  # article id -> its first sentence
    translated: dict[str, float] = field(default_factory=dict)  # folded translated term -> weight
    lam_translated: float = 0.0  # KB_HIGHLIGHT_TRANSLATED


def _highlight(h: Hit, hl: _Highlighting) -> None:
    """Choose the answering sentence with the ranking's signals — its own cosine with the
    question plus the IDF-weighted share of query terms it holds — and mark query terms.
    Terms are found the way they are marked (``mark_terms``), once per hit, not re-tokenised."""
    art = h._art  # type: ignore[attr-defined]
    # A passage in the other language is read for the question's translated terms (each
    # weighted by its reliability times its IDF) and the names and numbers both share.
    cross = bool(hl.translated) and hl.lam_translated > 0 and not _same_lang(hl.qlang, h.lang)
    idf = hl.translated if cross else hl.idf
    qterms = set(idf)
    found = _term_spans(h.text, qterms)
    h.marks = [[a, b] for a, b, _ in found]
    # Query terms in each sentence, from the marks (sentence spans are article offsets).
    sents = h._sents  # type: ignore[attr-defined]
    starts = [s[2] - h.start for s in sents]
    sent_terms: list[set] = [set() for _ in sents]
    for a, _, t in found:
        i = bisect.bisect_right(starts, a) - 1
        if 0 <= i < len(sents) and a < sents[i][3] - h.start:
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
    for s, st in zip(sents, sent_terms):
        # Query terms in the sentence before count in part: it often names the subject that
        # this one refers to by a pronoun ("环氧氯丙烷是… 它是一个无色液体…").
        overlap = (sum(weight[t] for t in st) + hl.context * sum(weight[t] for t in prev - st)) / total \
            if st or prev else 0.0
        prev = st
        if hl.wants is not None and hl.wants.search(h.text[s[2] - h.start:s[3] - h.start]):
            overlap += hl.answer_type  # the question asks for a date or a number and this sentence has one
        if hl.mode == "lexical":
            sc = overlap
        elif hl.mode == "dense":
            sc = hl.scos.get(s[0], 0.0)
        else:
            slang = h.lang if h.lang != "mixed" else detect_lang(h.text[s[2] - h.start:s[3] - h.start])
            lam = hl.lam_translated if cross else hl.lam_same if _same_lang(hl.qlang, slang) else hl.lam_cross
            sc = hl.scos.get(s[0], 0.0) + lam * overlap
        if sc > best_score:
            best, best_score = s, sc
    if best is not None:
        h.highlight = h.text[best[2] - h.start:best[3] - h.start]
        h.highlight_start, h.highlight_end = best[2], best[3]
    pages = art.meta.get("pages") if isinstance(art.meta, dict) else None
    if pages is not None:
        h.page = 1 + bisect.bisect_right(pages, h.start)


# Question words asking for a date or a number, and what such an answer looks like.
_DATE_Q = re.compile(r"哪一?年|什么时候|何时|哪一?天|几月|几号|日期|年份|哪个朝代|哪个时期|when|what year|which year", re.I)
_NUM_Q = re.compile(r"多少|几[个位名次种年岁天条座部家人]|多大|多长|多高|多重|多远|多久|how many|how much|how long|how old", re.I)
_DATE_A = re.compile(r"\d{1,4}\s*年|\d{1,2}\s*月|\d{1,2}\s*日|[〇零一二三四五六七八九十百千]{2,}年|世纪|年代|朝|(?:1[5-9]|20)\d\d")
_NUM_A = re.compile(r"\d|[一二三四五六七八九十百千万亿两]+[个位名次种年岁天条座部家人米公里吨元％%倍]")


def answer_type(q: str) -> re.Pattern | None:
    """The pattern an answer to ``q`` matches, when the question asks for a date or a number."""
    if _DATE_Q.search(q):
        return _DATE_A
    if _NUM_Q.search(q):
        return _NUM_A
    return None


def _first_sentences(hits: list[Hit], store) -> dict[str, str]:
    """The first sentence of each hit's article: from the hit itself when it starts the article
    (often, in short articles), otherwise read, in one query for all."""
    out = {}
    for h in hits:
        s0 = next((s for s in h._sents if s[1] == 0), None)  # type: ignore[attr-defined]
        if s0 is not None:
            out[h.article_id] = h.text[s0[2] - h.start:s0[3] - h.start]
    out.update(store.first_sentences(list({h.article_id for h in hits} - set(out))))
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
