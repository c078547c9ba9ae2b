"""Normalisation, language detection, tokens, sentence splitting and passage packing."""
from __future__ import annotations

from kb.segment import count_tokens, make_passages, split_sentences
from kb.text import detect_lang, normalize, tokenize

from .conftest import SEED


def test_fullwidth_and_halfwidth_forms_match():
    assert normalize("２０万ＴｉｋＴｏｋ") == "20万TikTok"
    assert normalize("中文，标点。") == "中文，标点。"          # CJK punctuation kept for reading
    assert normalize("a\x00b\u200bc\r\nd") == "abc\nd"
    assert tokenize("２０万") == tokenize("20万")


def test_language_detection():
    assert detect_lang("TikTok在美正式推出电商服务,20万卖家已入驻") == "zh"
    assert detect_lang("TikTok Shop launched in the United States in September.") == "en"
    assert detect_lang("TikTok Shop 美国电商上线时间 launch") == "mixed"


def test_tokens_fold_traditional_case_and_stopwords():
    assert tokenize("電商平台") == tokenize("电商平台")
    toks = tokenize("What is the GMV of TikTok?")
    assert "gmv" in toks and "tiktok" in toks and "the" not in toks and "?" not in toks


def test_sentences_split_on_half_width_marks_between_chinese():
    text = "20万卖家已入驻!TikTok在美正式推出电商服务?是的。U.S. sales grew 1.5 times. Next one;好"
    got = [text[s.start:s.end] for s in split_sentences(text)]
    assert got == ["20万卖家已入驻!", "TikTok在美正式推出电商服务?", "是的。", "U.S. sales grew 1.5 times.",
                   "Next one;", "好"]


def test_each_line_is_a_paragraph():
    text = "第一段。还是第一段。\n\n第二段!\n第三段"
    assert [s.paragraph for s in split_sentences(text)] == [1, 1, 2, 3]


def test_overlong_sentence_is_cut_at_commas_within_max():
    text = "，".join(["这是一个没有句号的很长的从句"] * 100)
    sents = split_sentences(text, max_chars=200)
    assert len(sents) > 1 and all(s.end - s.start <= 200 for s in sents)
    assert "".join(text[s.start:s.end] for s in sents).replace("，", "") == text.replace("，", "")


def _seed_text():
    from ingest.clean import clean_text
    return clean_text(SEED.read_text(encoding="utf-8")).text


def test_passages_keep_whole_sentences_spans_and_one_sentence_overlap():
    text = _seed_text()
    sents = split_sentences(text)
    ps = make_passages(text, sents, target_tokens=60, max_chars=300)
    assert len(ps) > 5
    covered = set()
    for p in ps:
        assert text[p.start:p.end] == p.text
        assert len(p.text) <= 300
        assert p.start == sents[p.sent_lo].start and p.end == sents[p.sent_hi - 1].end
        covered.update(range(p.sent_lo, p.sent_hi))
        assert p.lang == "zh"
    assert covered == set(range(len(sents)))
    for a, b in zip(ps, ps[1:]):
        assert b.sent_lo == a.sent_hi - 1 or (a.sent_hi - a.sent_lo == 1 and b.sent_lo == a.sent_hi)


def test_token_count_tracks_jieba():
    import jieba
    s = "此前TikTok电商已在美国TikTok用户中进行了数月测试,目前40%的TikTok美国用户首页界面包含商城入口"
    n_jieba = sum(1 for t in jieba.lcut(s) if t.strip() and (t.isalnum()))
    assert abs(count_tokens(s) - n_jieba) <= 0.35 * n_jieba


def test_long_texts_fold_through_the_code_point_table_exactly_as_short_ones():
    from kb.text import to_simplified
    short = "臺灣電商後來發展，𠀀 naïve ABC。"
    assert len(short) < 64
    long = short * 8
    assert to_simplified(long) == to_simplified(short) * 8 == "台湾电商后来发展，𠀀 naïve ABC。" * 8
    odd = "臺\ud800" * 40  # a lone surrogate cannot be encoded; the table lookup still applies
    assert to_simplified(odd) == "台\ud800" * 40


def test_query_terms_are_marked_longest_first_whole_latin_words_across_scripts():
    from kb.highlight import mark_terms
    text = "US business: 跨境電商平台與電商, TikTok Shop in the US."
    spans = mark_terms(text, {"us", "电商", "跨境电商", "tiktok"})
    got = [text[a:b] for a, b in spans]
    # "us" inside "business" is not a match; 跨境電商 wins over its part 電商 where both start.
    assert got == ["US", "跨境電商", "電商", "TikTok", "US"]
    assert mark_terms(text, set()) == [] and mark_terms(text, {""}) == []
