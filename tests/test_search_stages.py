"""The search's stages alone, on hand-made records: no KB, no model, no index."""
from __future__ import annotations

import numpy as np

from kb.params import SearchParams
from kb.records import Candidates, Draft, PassageRow, SentenceRef
from kb.results import Hit
from kb.highlight import Highlighting, highlight_hit
from kb.search import _merge_into, fuse, span_text
from kb.store import ArticleMeta

TEXT = "电商平台扩张很快。全托管模式由平台负责运营。卖家只需供货。物流由平台安排。"
#        0        9         22      28      36


def _cands():
    return Candidates(pids=[1, 2, 3], cos=np.array([0.5, 0.2, 0.1], np.float32),
                      lexical=np.array([0.0, 1.0, 0.5], np.float32), lexical_x=np.array([0.0, 0.0, 1.0], np.float32))


def test_fusion_adds_the_lexical_signals_by_their_weights():
    c, p = _cands(), SearchParams()
    np.testing.assert_allclose(fuse(c, "hybrid", p), c.cos + 0.35 * c.lexical + 0.5 * c.lexical_x, rtol=1e-6)
    np.testing.assert_allclose(fuse(c, "dense", p), c.cos)
    np.testing.assert_allclose(fuse(c, "lexical", p), c.lexical)
    assert fuse(c, "hybrid", SearchParams(lexical_weight=0, translated_lexical_weight=0)).tolist() == \
        c.cos.astype(np.float64).tolist()


def _draft(pid, start, end, sents):
    art = ArticleMeta(id="a1", path="a.txt", title="电商", source=None, url=None, author=None, date=None, meta={})
    h = Hit(rank=1, score=1.0, article_id="a1", title="电商", path="a.txt", source=None, url=None, date=None, author=None,
            lang="zh", passage_id=pid, paragraph=0, start=start, end=end, text=TEXT[start:end], highlight="",
            highlight_start=start, highlight_end=end)
    return Draft(h, sents, art)


S = [SentenceRef(10, 0, 0, 9, 0), SentenceRef(11, 1, 9, 22, 1), SentenceRef(12, 2, 22, 28, 2), SentenceRef(13, 3, 28, 36, 3)]


def test_overlapping_passages_merge_into_one_hit_that_reads_as_the_article():
    drafts = [_draft(1, 0, 22, S[:2])]
    row = PassageRow(id=2, article_id="a1", paragraph=0, start=9, end=36, lang="zh", text=TEXT[9:36])
    assert _merge_into(drafts, row, 600, S[1:])
    h = drafts[0].hit
    assert (h.start, h.end, h.text, h.merged) == (0, 36, TEXT[:36], [2])
    assert [s.id for s in drafts[0].sents] == [10, 11, 12, 13]
    other = PassageRow(id=3, article_id="a2", paragraph=0, start=0, end=9, lang="zh", text=TEXT[:9])
    assert not _merge_into(drafts, other, 600, S[:1])  # another article: a hit of its own
    assert span_text(0, 36, [(0, 22, TEXT[:22]), (9, 36, TEXT[9:36])]) == TEXT[:36]


def test_the_highlight_is_the_sentence_holding_the_question_terms():
    d = _draft(1, 0, 36, S)
    hl = Highlighting(idf={"全托管": 2.0, "运营": 1.5}, idf_mode=2, scos={10: 0.3, 11: 0.3, 12: 0.3, 13: 0.3}, qlang="zh",
                       mode="hybrid", wants=None, lam_same=0.6, lam_cross=0.05, context=0.5, answer_type=0.4, subject=1.0)
    highlight_hit(d, hl)
    h = d.hit
    assert (h.highlight_start, h.highlight_end) == (9, 22) and h.highlight == TEXT[9:22]
    assert {h.text[a:b] for a, b in h.marks} == {"全托管", "运营"}
