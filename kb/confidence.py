"""How likely the library answers a question (search stage 6): signals of the top hit
(``top_signals``), a logistic model over them (``confidence``, fitted by
benchmarks/confidence.py), and the no-answer decision (``no_answer``) that the app, the CLI's
JSON and the API report as "no passage seems to answer"."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from . import answers
from .highlight import within
from .text import same_lang

if TYPE_CHECKING:
    from .indexes import Indexes
    from .params import SearchParams
    from .records import Candidates, Draft, Lead, Query


def no_answer(signals: dict, conf: float, kind: str | None, p: SearchParams) -> tuple[bool, str | None]:
    """Whether the top hit is not to be called an answer, and why: its confidence is below
    ``no_answer_below``, or the question asks for a number or a date (``kb.answers``) that the
    marked sentence does not state (``no_answer_typed``)."""
    if conf < p.no_answer_below:
        return True, "low confidence"
    if p.no_answer_typed and signals.get("asks_figure") and signals.get("typed_miss"):
        return True, f"the question asks for {'a number' if kind == 'quantity' else 'a date'} and the marked sentence states none"
    return False, None


def top_signals(drafts: list[Draft], c: Candidates, lead: Lead, q: Query, ix: Indexes) -> dict:
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
    if ix.lexical_size and terms:
        full = ix.unseen_idf()
        present = {t for t in terms if ix.idf(t) < full}
        if xq is not None:  # a question term counts when a translation of the phrase or word holding it occurs
            # (more than half its translations by weight, each with all its words: "world" alone does not
            # put 世界杯, "world" + "cup", in the library)
            found = [src for src, alts in xq.groups.items()
                     if sum(w for _, toks, w in alts if toks and all(ix.idf(t) < full for t in toks))
                     > 0.5 * sum(w for _, _, w in alts)]
            present |= {t for t in terms for src in found if within(t, src)}
        weight = {t: ix.idf(t) for t in dict.fromkeys(terms)}
        cover = sum(w for t, w in weight.items() if t in present) / (sum(weight.values()) or 1.0)
        rarest = sorted(weight, key=lambda t: -weight[t])[:2]
        rare_lib = sum(t in present for t in rarest) / len(rarest)
        matched = [m[0] for m in top.matches]
        rare_top = sum(any(within(t, m) for m in matched) for t in rarest) / len(rarest)
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
            "cross": float(not same_lang(q.lang, top.lang)), "agree": agree,
            "gap": round(top.score - other, 4) if other is not None else 0.5}


# The confidence model: logistic regression over ``top_signals`` (a "a*b" term is a product), fitted
# by benchmarks/confidence.py on the three MLQA libraries' in-library questions against their near
# off-topic ones (another dev set's questions), the label being "the library holds the answer".
# Checked on the CMRC libraries and on everyday questions (benchmarks/data), which it never saw.
CONFIDENCE = {"bias": -7.489, "dense": 2.868, "lexical": 1.089, "lead": 0.673, "sentence": 3.414, "sentence_plain": 1.902,
              "lexical_best": 0.642, "cover": 1.317, "rare_lib": 0.837, "rare_top": 0.763, "asks": -0.146,
              "typed_miss": -0.285, "cross": 0.781, "agree": 0.483, "gap": 1.604, "cross*cover": -0.127,
              "cross*lexical": -0.221, "cross*rare_lib": -0.446, "cross*sentence": 1.427, "cross*dense": 1.230}


def confidence(signals: dict) -> float:
    """0-1: how likely the library answers the question, from the top hit's signals (``top_signals``):
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
