"""Growing and shrinking a KB without rebuilding it: the saved base + delta, compaction, the
switch to an approximate (IVF) index, and BM25 over the delta (fake hash embedder)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kb import ArticleInput, Filters, KnowledgeBase
from kb.errors import KBError
from kb import base as kb_base
from kb.index import K1, B, LexicalIndex, ivf_shape

TOPICS = ["跨境电商", "人工智能", "新能源汽车", "半导体", "短视频", "物流", "教育", "医疗", "旅游", "农业"]


def _doc(i: int, extra: str = "") -> ArticleInput:
    t = TOPICS[i % len(TOPICS)]
    text = (f"第{i}篇文章讨论{t}行业。{t}企业在{2000 + i}年增长很快，编号{i:04d}。\n"
            f"专家认为{t}的前景取决于政策。The report number {i} covers {t}.{extra}")
    return ArticleInput(key=f"/doc{i}.txt", path=f"doc{i}.txt", text=text, content_hash=f"h{i}{extra}", title=f"doc{i}")


def _manifest(path):
    return json.loads((path / "index" / "manifest.json").read_text())


def _consistent(kb: KnowledgeBase) -> None:
    pids = sorted(r[0] for r in kb.store.db.execute("SELECT id FROM passages"))
    assert sorted(kb.passages_index.ids().tolist()) == pids
    assert sorted(kb.lexical.live_ids().tolist()) == pids
    # The sentence base serves each passage's sentences as SQLite holds them now (vectors in half
    # precision), and a search's lead read through it equals the read from SQLite alone.
    sents, vecs = kb.store.sentences_of(pids, kb.dim)
    rows = {p: r for p, r in kb.store.passage_rows(pids).items() if p in sents}
    got_rows, got_sents, got_vecs = kb.lead_passages(pids)
    assert got_rows == rows and sorted(got_sents) == sorted(sents)
    for p, ss in sents.items():
        assert [s[:4] for s in got_sents[p]] == [s[:4] for s in ss]
        np.testing.assert_allclose(got_vecs[[s[4] for s in got_sents[p]]], vecs[[s[4] for s in ss]], atol=2e-3)


@pytest.fixture
def grown(kb_dir, hash_model):
    kb = KnowledgeBase.open(kb_dir, create=True)
    with kb.writer():
        for i in range(60):  # one passage each: past COMPACT_MIN, so the first save writes bases
            kb.add(_doc(i))
    yield kb
    kb.close()


def test_adding_one_article_writes_a_delta_not_new_bases(grown, kb_dir):
    before = _manifest(kb_dir)
    assert before["delta"] is None
    with grown.writer():
        grown.add(_doc(500, " 独有词汇鲲鹏计划。"))
    after = _manifest(kb_dir)
    assert after["dense"]["file"] == before["dense"]["file"] and after["lexical"] == before["lexical"]
    assert after["delta"] and after["data_version"] == grown.store.data_version()
    with np.load(kb_dir / "index" / after["delta"]) as z:
        new = {r[0] for r in grown.store.db.execute("SELECT p.id FROM passages p WHERE p.article_id="
                                                    "(SELECT id FROM articles WHERE key='/doc500.txt')")}
        assert set(z["added"].tolist()) == new and len(z["removed"]) == 0
    # A new process loads base + delta and finds the new article by a term only it holds.
    again = KnowledgeBase.open(kb_dir)
    again.ensure_indexes()
    _consistent(again)
    assert again.lexical.delta_size == len(new)
    hits = again.search("鲲鹏计划", k=3, mode="lexical")
    assert hits and hits[0].title == "doc500"
    assert again.search("鲲鹏计划", k=3)[0].title == "doc500"


def test_removing_and_updating_after_the_base_was_saved(grown, kb_dir):
    victim = grown.store.article_by_key("/doc3.txt")["id"]
    with grown.writer():
        grown.remove(victim)
        grown.add(_doc(4, " 修订版。"))  # same key, new content: old passages out, new ones in
    man = _manifest(kb_dir)
    with np.load(kb_dir / "index" / man["delta"]) as z:
        assert len(z["removed"]) >= 2 and len(z["added"]) >= 1
    again = KnowledgeBase.open(kb_dir)
    again.ensure_indexes()
    _consistent(again)
    assert all(h.title != "doc3" for h in again.search("编号0003", k=10, mode="lexical"))
    assert again.search("修订版", k=1, mode="lexical")[0].title == "doc4"


def test_a_large_delta_is_compacted_into_new_bases(grown, kb_dir, monkeypatch):
    monkeypatch.setattr(kb_base, "COMPACT_MIN", 5)  # the KB holds 60 passages: due after 6
    first = _manifest(kb_dir)
    with grown.writer():
        for i in range(100, 130):
            grown.add(_doc(i))
    man = _manifest(kb_dir)
    assert man["delta"] is None and man["lexical"] != first["lexical"]
    assert grown.lexical.delta_size == 0
    _consistent(grown)
    files = {f.name for f in (kb_dir / "index").iterdir()}
    assert files == {"manifest.json", man["dense"]["file"], man["lexical"], man["sentences"], man["space"]}  # old bases swept away
    assert man["space"] != first["space"]  # the language means taken anew with the dense index
    assert man["sentences"] != first["sentences"]


def test_the_sentence_base_is_written_with_the_bases_and_serves_the_lead(grown, kb_dir):
    man = _manifest(kb_dir)
    assert man["sentences"] and (kb_dir / "index" / man["sentences"]).is_dir()
    again = KnowledgeBase.open(kb_dir)
    again.ensure_indexes()
    assert len(again.sentence_base) == again.store.counts()["passages"]
    assert f"sentence base ({len(again.sentence_base)} passages)" in again.stats()["index"]
    _consistent(again)
    with_base = again.search("人工智能 行业 前景", k=5)
    again.sentence_base = None  # every sentence from SQLite
    without = again.search("人工智能 行业 前景", k=5)
    assert [(h.passage_id, h.highlight_start, h.highlight_end) for h in with_base] == \
        [(h.passage_id, h.highlight_start, h.highlight_end) for h in without]
    assert [h.score for h in with_base] == pytest.approx([h.score for h in without], abs=2e-3)


def test_a_passage_id_reused_after_removal_is_not_served_from_the_sentence_base(grown, kb_dir):
    last = grown.store.db.execute("SELECT article_id, MAX(id) FROM passages").fetchone()
    with grown.writer():
        grown.remove(last[0])
        grown.add(_doc(777, " 全新的句子，不在基线里。"))
    reused = grown.store.db.execute("SELECT id FROM passages WHERE article_id=(SELECT id FROM articles"
                                    " WHERE key='/doc777.txt')").fetchone()[0]
    assert reused == last[1]  # SQLite hands out the freed id again
    assert reused in grown.sentence_base.pids.tolist() and reused in grown.sentence_base.stale
    _consistent(grown)
    again = KnowledgeBase.open(kb_dir)  # the tombstone is replayed from the saved delta
    again.ensure_indexes()
    assert reused in again.sentence_base.stale
    _consistent(again)
    assert again.search("全新的句子", k=1)[0].title == "doc777"


def test_an_unreadable_or_missing_sentence_base_falls_back_to_sqlite_and_is_rewritten(grown, kb_dir, capsys):
    man = _manifest(kb_dir)
    (kb_dir / "index" / man["sentences"] / "vectors.f16").write_bytes(b"broken")
    again = KnowledgeBase.open(kb_dir)
    again.ensure_indexes()
    assert again.sentence_base is None and "sentence index unreadable" in capsys.readouterr().err
    assert again.search("人工智能 行业", k=3)
    assert again.passages_index is not None and again._base["dense"] == man["dense"]  # nothing else rebuilt
    with again.writer():
        again.add(_doc(900))
    new = _manifest(kb_dir)
    assert new["delta"] and new["sentences"] != man["sentences"] and again.sentence_base is not None
    _consistent(again)
    # A KB saved before sentence bases existed gets one when a writer next closes, even one that
    # changed nothing, and keeps its other bases and delta.
    old = dict(new)
    del old["sentences"]
    (kb_dir / "index" / "manifest.json").write_text(json.dumps(old))
    third = KnowledgeBase.open(kb_dir)
    third.ensure_indexes()
    assert third.sentence_base is None
    with third.writer():
        pass
    last = _manifest(kb_dir)
    same = ("data_version", "dense", "lexical", "passages")
    assert last["sentences"] and {k: last[k] for k in same} == {k: old[k] for k in same}
    with np.load(kb_dir / "index" / last["delta"]) as z:
        assert sorted(z["added"].tolist()) == sorted(third._delta_added) and len(third._delta_added) > 0
    _consistent(third)


def test_switches_to_ivf_past_the_threshold_and_records_it(kb_dir, hash_model, monkeypatch):
    monkeypatch.setenv("KB_ANN_MIN_PASSAGES", "120")
    kb = KnowledgeBase.open(kb_dir, create=True)
    with kb.writer():
        for i in range(40):
            kb.add(_doc(i))
    assert _manifest(kb_dir)["dense"]["kind"] == "flat"
    with kb.writer():
        for i in range(40, 160):
            kb.add(_doc(i))
    man = _manifest(kb_dir)
    n = kb.store.counts()["passages"]
    assert n >= 120 and man["dense"]["kind"] == "ivf" and man["dense"]["nlist"] == ivf_shape(n)[0]
    assert "IVF" in kb.stats()["index"]
    again = KnowledgeBase.open(kb_dir)
    again.ensure_indexes()
    assert again.passages_index.kind == "ivf" and again.passages_index.codec == "fp16"
    assert "half-precision" in again.stats()["index"]
    _consistent(again)
    # Removal works on the IVF index; a filter is searched exactly.
    aid = again.store.article_by_key("/doc7.txt")["id"]
    with again.writer():
        again.remove(aid)
    _consistent(again)
    keep = again.store.article_by_key("/doc8.txt")["id"]
    hits = again.search("人工智能 行业", k=3, filters=Filters(article=keep))
    assert hits and {h.article_id for h in hits} == {keep}


def test_delta_bm25_uses_the_base_statistics():
    docs = [["电商", "平台", "美国"], ["电商", "物流"], ["教育", "学校", "老师", "学生"]]
    lex = LexicalIndex.build([10, 11, 12], docs)
    lex.add(20, ["电商", "电商", "鲲鹏"])
    s = lex.query(["电商", "鲲鹏"])
    got = s.get([20])[0]
    avgdl = np.mean([3, 2, 4])
    expect = sum(lex.idf(t) * c / (K1 * (1 - B + B * 3 / avgdl) + c) for t, c in (("电商", 2), ("鲲鹏", 1)))
    assert got == pytest.approx(expect, rel=1e-6)
    assert lex.idf("鲲鹏") > lex.idf("电商") > 0
    assert list(s.top(1)) == [20]
    lex.remove([10, 20])
    assert sorted(lex.live_ids().tolist()) == [11, 12]
    assert 10 not in lex.query(["美国"]).top(5)


def test_bm25_top_matches_a_full_sort_with_ties_to_the_lower_id():
    """``top`` looks for the best among passages scoring at least the n-th best of the rarest
    query term's passages; it must return exactly what sorting every score would."""
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(30)]
    docs = [list(rng.choice(vocab, size=int(rng.integers(1, 8)), p=np.linspace(2, 0.1, 30) / np.linspace(2, 0.1, 30).sum()))
            for _ in range(400)]
    docs += [docs[5]] * 40  # exact ties
    ids = list(range(1000, 1000 + len(docs)))
    lex = LexicalIndex.build(ids, docs)
    lex.remove([1003, 1050])
    for q in (["w0"], ["w0", "w1"], ["w3", "w17", "w29"], ["w28"], list(docs[5]), ["nothing"]):
        s = lex.query(q)
        full = s.base if s.base is not None else np.zeros(len(ids))
        for n in (1, 10, 60):
            want = sorted((i for i in range(len(ids)) if full[i] > 0), key=lambda i: (-full[i], i))[:n]
            assert set(s.top(n)) == {ids[i] for i in want}, (q, n)


def test_ivf_shape_never_asks_for_more_lists_than_the_data_can_train():
    for n in (50, 1_000, 20_000, 100_000, 1_000_000):
        nlist, nprobe = ivf_shape(n)
        assert nlist * 39 <= max(n, 39) and 1 <= nprobe <= nlist  # FAISS wants 39 training points a list
    assert ivf_shape(1_000_000) == (8192, 16) and ivf_shape(100_000) == (2048, 48)


def test_an_ivf_index_of_8bit_codes_from_an_older_kb_loads_with_its_own_probe_count(tmp_path):
    import faiss
    from kb.index import DenseIndex, probes_for
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((2000, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    old = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(16), 16, 32, faiss.ScalarQuantizer.QT_8bit,
                                        faiss.METRIC_INNER_PRODUCT)
    old.train(vecs)
    old.add_with_ids(vecs, np.arange(2000, dtype=np.int64))
    faiss.write_index(old, str(tmp_path / "dense.faiss"))
    idx = DenseIndex.load(tmp_path / "dense.faiss", 16, "ivf")
    assert idx.codec == "8bit" and idx.nprobe == probes_for(32, "8bit") == 32
    assert probes_for(2048, "8bit") == 64 and probes_for(2048, "fp16") == 48
    assert probes_for(2048, "fp16", centred=True) == 96 and probes_for(8192, "fp16", centred=True) == 32
    ids, _ = idx.search(vecs[5], 3)
    assert ids[0] == 5
    new = DenseIndex.build(16, np.arange(2000), vecs, ann_min=100)
    assert new.kind == "ivf" and new.codec == "fp16" and new.search(vecs[7], 3)[0][0] == 7


def test_a_sentence_file_cut_short_after_loading_is_a_clear_error(grown, kb_dir):
    sb = grown.sentence_base
    pid = int(sb.pids[-1])
    assert sb.lookup([pid])[0]
    path = kb_dir / "index" / _manifest(kb_dir)["sentences"] / "vectors.f16"
    path.write_bytes(path.read_bytes()[:-10])  # the same inode, truncated
    with pytest.raises(KBError, match="vectors.f16 ends early"):
        sb.lookup([pid])
