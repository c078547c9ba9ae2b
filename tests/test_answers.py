"""What a question asks for (kb.answers), and how the highlight and the no-answer decision use it."""
from __future__ import annotations

import pytest

from kb.answers import answer_type, holds
from kb.confidence import no_answer
from kb.highlight import Highlighting, highlight_hit
from kb.params import SearchParams
from kb.records import Draft, SentenceRef
from kb.results import Hit
from kb.segment import split_sentences
from kb.store import ArticleMeta


@pytest.mark.parametrize("question, kind", [
    ("2012年印度大停电影响了多少人？", "quantity"), ("How many people lost power in the 2012 India blackout?", "quantity"),
    ("德龙烟铁路全长几公里", "quantity"), ("How much did the bridge cost?", "quantity"),
    ("通古斯大爆炸发生在哪一年？", "date"), ("When did the Tunguska event happen?", "date"),
    ("末班地铁几点", "date"), ("In what year was the treaty signed?", "date"),
    ("谁发明了电话？", "person"), ("Who founded the company?", "person"), ("这部电影的导演是哪位？", "person"),
    ("长城在哪里？", "place"), ("Where is the Great Barrier Reef?", "place"), ("Which country won the 2022 World Cup?", "place"),
    ("为什么印度会大停电？", "cause"), ("What caused the 2012 India blackout?", "cause"), ("停电的原因是什么", "cause"),
    ("什么是黑洞？", None), ("What is a prime number?", None), ("全托管模式有什么风险", None),
])
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert answer_type(question) == kind


@pytest.mark.parametrize("kind, sentence, held", [
    ("quantity", "超过3亿印度人受到影响。", True), ("quantity", "受影响的人口超过三亿。", True),
    ("quantity", "停电的原因还尚未查明。", False), ("quantity", "Twenty-one states were affected.", True),
    ("quantity", "The cause is not yet known.", False), ("quantity", "约有两千名工人参与建设。", True),
    ("date", "爆炸发生于1908年6月30日。", True), ("date", "The explosion happened on 30 June 1908.", True),
    ("date", "It flattened 2,150 square kilometres of forest.", False), ("date", "事件发生在二十世纪初。", True),
    ("date", "森林被夷为平地。", False),
    ("cause", "停电是由于线路短路引起的。", True), ("cause", "The outage was caused by a short circuit.", True),
    ("cause", "超过3亿印度人受到影响。", False),
    ("person", "The telephone was patented by Alexander Graham Bell.", True), ("person", "它由托马斯·爱迪生发明。", True),
    ("place", "长城位于中国北部。", True), ("place", "The reef lies off the coast of Queensland.", True),
])
def test_what_an_answer_of_each_kind_looks_like(kind, sentence, held):
    assert holds(kind, sentence) is held


def _draft(text: str) -> Draft:
    sents = [SentenceRef(100 + i, i, s.start, s.end, i) for i, s in enumerate(split_sentences(text))]
    art = ArticleMeta(id="a1", path="a.txt", title="停电", source=None, url=None, author=None, date=None, meta={})
    h = Hit(rank=1, score=1.0, article_id="a1", title="停电", path="a.txt", source=None, url=None, date=None, author=None,
            lang="zh", passage_id=1, paragraph=1, start=0, end=len(text), text=text, highlight="",
            highlight_start=0, highlight_end=len(text))
    return Draft(h, sents, art)


def _hl(draft, scos: dict[int, float], idf: dict[str, float], wants, neighbour: float = 0.1) -> Highlighting:
    p = SearchParams()
    return Highlighting(idf=idf, idf_mode=2, scos=scos, qlang="zh", mode="hybrid", wants=wants, lam_same=p.highlight_weight,
                         lam_cross=p.cross_lexical_weight, context=p.highlight_context, answer_type=p.highlight_answer_type,
                         subject=1.0, neighbour=neighbour, question={"quantity": "影响了多少人？", "date": "发生在哪一年？"}.get(wants, ""))


def test_a_how_many_question_marks_the_sentence_stating_the_number():
    text = "2012年7月印度发生大停电。停电造成320亿瓦特的电力缺口。超过3亿印度人受到影响。原因还尚未查明。"
    d = _draft(text)
    # the cosine alone prefers the power-gap sentence; the question asks how many people
    scos = {100: 0.80, 101: 0.86, 102: 0.84, 103: 0.80}
    highlight_hit(d, _hl(d, scos, {"印度": 1.0, "停电": 1.0, "影响": 2.0}, answer_type("2012年印度大停电影响了多少人？")))
    assert d.hit.highlight == "超过3亿印度人受到影响。"


def test_the_highlight_is_a_whole_sentence_not_a_clause_cut_at_a_semicolon():
    text = "草莓需要授粉；没有蜜蜂，果实会变小而畸形。草莓喜欢阳光。"
    d = _draft(text)
    assert len(d.sents) == 3  # the splitter cuts at "；" (passages are packed by clause)
    highlight_hit(d, _hl(d, {100: 0.9, 101: 0.7, 102: 0.5}, {"授粉": 2.0}, None))
    assert d.hit.highlight == "草莓需要授粉；没有蜜蜂，果实会变小而畸形。"
    d = _draft(text)
    highlight_hit(d, _hl(d, {100: 0.5, 101: 0.9, 102: 0.5}, {"蜜蜂": 2.0}, None))
    assert d.hit.highlight == "草莓需要授粉；没有蜜蜂，果实会变小而畸形。"  # from the second clause back to the first


def test_an_answer_that_spans_two_sentences_marks_both():
    text = "通古斯大爆炸是一次巨大的空中爆炸。它发生在1908年6月30日的早晨。森林被夷为平地。"
    d = _draft(text)
    # the definition sentence is the best match, but it states no date; the next one does
    scos = {100: 0.70, 101: 0.92, 102: 0.5}  # with the terms: 1.30 and 1.22
    hl = _hl(d, scos, {"通古斯": 2.0, "大爆炸": 2.0}, "date")
    hl.answer_type = 0.0  # (the neighbour rule alone)
    highlight_hit(d, hl)
    assert d.hit.highlight == "通古斯大爆炸是一次巨大的空中爆炸。它发生在1908年6月30日的早晨。"
    d = _draft(text)
    hl = _hl(d, scos, {"通古斯": 2.0, "大爆炸": 2.0}, "date", neighbour=0.0)
    hl.answer_type = 0.0
    highlight_hit(d, hl)
    assert d.hit.highlight == "通古斯大爆炸是一次巨大的空中爆炸。"  # with the rule off: one sentence


def test_a_question_asking_for_a_number_is_not_answered_by_a_sentence_without_one():
    p = SearchParams()
    assert no_answer({"asks_figure": 1.0, "typed_miss": 1.0}, 0.9, "quantity", p) == \
        (True, "the question asks for a number and the marked sentence states none")
    assert no_answer({"asks_figure": 1.0, "typed_miss": 0.0}, 0.9, "quantity", p) == (False, None)
    assert no_answer({"asks_figure": 0.0, "typed_miss": 1.0}, 0.9, "cause", p) == (False, None)  # causes: a hint only
    assert no_answer({"asks_figure": 0.0, "typed_miss": 0.0}, 0.01, None, p) == (True, "low confidence")
    from dataclasses import replace
    assert no_answer({"asks_figure": 1.0, "typed_miss": 1.0}, 0.9, "quantity", replace(p, no_answer_typed=0)) == (False, None)


def test_a_quotation_cut_at_its_inner_full_stop_is_marked_whole():
    text = "他说：“这是一次相当大的故障。其中出现了可怕的错误。”铁路被迫关闭。"
    d = _draft(text)
    assert len(d.sents) == 3
    highlight_hit(d, _hl(d, {100: 0.9, 101: 0.5, 102: 0.5}, {"故障": 2.0}, None))
    assert d.hit.highlight == "他说：“这是一次相当大的故障。其中出现了可怕的错误。”"
