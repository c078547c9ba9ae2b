"""Property tests (hypothesis): cleaning and segmentation never raise, spans are exact,
passages cover every sentence, and ids are stable."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.clean import clean_text
from kb.base import article_id_for
from kb.segment import make_passages, split_sentences
from kb.text import detect_lang, normalize, tokenize

# Text that looks like articles: CJK, Latin, digits, the punctuation the splitter cares about.
alphabet = st.sampled_from(list("跨境电商平台美国卖家模式风险。！？；，、!?;.,: \n\t0123456789abcXYZ“”()（）…") +
                           ["\u3000", "\u00a0", "２", "Ａ", "\x00", "\u200b", "😀", "\ufeff"])
articles = st.one_of(st.text(alphabet, max_size=600), st.text(max_size=300))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(articles)
def test_cleaning_never_raises_and_is_normalised(raw):
    c = clean_text(raw)
    assert "\x00" not in c.text and "\r" not in c.text
    assert normalize(c.text) == c.text


@SETTINGS
@given(articles, st.integers(5, 200), st.integers(20, 800))
def test_passages_slice_the_text_exactly_and_cover_every_sentence(raw, target, max_chars):
    text = clean_text(raw).text
    sents = split_sentences(text, max_chars)
    for s in sents:
        assert 0 < s.end - s.start <= max_chars
        assert text[s.start:s.end] == text[s.start:s.end].strip()
    ps = make_passages(text, sents, target, max_chars)
    covered = set()
    for p in ps:
        assert text[p.start:p.end] == p.text
        assert len(p.text) <= max_chars
        assert p.lang in ("zh", "en", "mixed")
        covered.update(range(p.sent_lo, p.sent_hi))
    assert covered == set(range(len(sents)))
    # Every non-space character of the text sits in some sentence.
    inside = set()
    for s in sents:
        inside.update(range(s.start, s.end))
    assert all(i in inside or text[i].isspace() for i in range(len(text)))


@SETTINGS
@given(articles)
def test_segmentation_and_ids_are_stable(raw):
    text = clean_text(raw).text
    a = [(p.start, p.end) for p in make_passages(text, split_sentences(text))]
    b = [(p.start, p.end) for p in make_passages(text, split_sentences(text))]
    assert a == b
    assert article_id_for("/x/" + raw) == article_id_for("/x/" + raw)


@SETTINGS
@given(st.text(max_size=300))
def test_tokens_and_language_never_raise(q):
    assert isinstance(tokenize(q), list)
    assert detect_lang(q) in ("zh", "en", "mixed")
