"""Growing and shrinking a KB without rebuilding it: the saved base + delta, compaction, the
switch to an approximate (IVF) index, and BM25 over the delta (fake hash embedder)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kb import ArticleInput, Filters, KnowledgeBase
from kb.errors import KBError
from kb import indexes as kb_indexes
from kb.backends.faiss_index import ivf_shape
from .conftest import open_kb

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
    assert sorted(kb.indexes.vector.ids().tolist()) == pids
    assert sorted(kb.indexes.lexical.ids().tolist()) == pids
    # The sentence base serves each passage's sentences as SQLite holds them now (vectors in half
    # precision), and a search's lead read through it equals the read from SQLite alone.
    sents, vecs = kb.store.sentences_of(pids, kb.dim)
    rows = {p: r for p, r in kb.store.passage_rows(pids).items() if p in sents}
    got_rows, got_sents, got_vecs = kb.indexes.lead(pids)
    assert got_rows == rows and sorted(got_sents) == sorted(sents)
    for p, ss in sents.items():
        assert [s[:4] for s in got_sents[p]] == [s[:4] for s in ss]
        np.testing.assert_allclose(got_vecs[[s.row for s in got_sents[p]]], vecs[[s.row for s in ss]], atol=2e-3)


@pytest.fixture
def grown(kb_dir, hash_model):
    kb = open_kb(kb_dir, create=True)
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
    again = open_kb(kb_dir)
    again.ensure_indexes()
    _consistent(again)
    assert again.indexes.lexical.delta_size == len(new)
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
    again = open_kb(kb_dir)
    again.ensure_indexes()
    _consistent(again)
    assert all(h.title != "doc3" for h in again.search("编号0003", k=10, mode="lexical"))
    assert again.search("修订版", k=1, mode="lexical")[0].title == "doc4"


def test_a_large_delta_is_compacted_into_new_bases(grown, kb_dir, monkeypatch):
    monkeypatch.setattr(kb_indexes, "COMPACT_MIN", 5)  # the KB holds 60 passages: due after 6
    first = _manifest(kb_dir)
    with grown.writer():
        for i in range(100, 130):
            grown.add(_doc(i))
    man = _manifest(kb_dir)
    assert man["delta"] is None and man["lexical"] != first["lexical"]
    assert grown.indexes.lexical.delta_size == 0
    _consistent(grown)
    files = {f.name for f in (kb_dir / "index").iterdir()}
    assert files == {"manifest.json", man["dense"]["file"], man["lexical"]["folder"], man["sentences"], man["space"]}  # old bases swept away
    assert man["space"] != first["space"]  # the language means taken anew with the dense index
    assert man["sentences"] != first["sentences"]


def test_the_sentence_base_is_written_with_the_bases_and_serves_the_lead(grown, kb_dir):
    man = _manifest(kb_dir)
    assert man["sentences"] and (kb_dir / "index" / man["sentences"]).is_dir()
    again = open_kb(kb_dir)
    again.ensure_indexes()
    assert len(again.indexes.sentence_base) == again.store.counts()["passages"]
    assert f"sentence base ({len(again.indexes.sentence_base)} passages)" in again.stats()["index"]
    _consistent(again)
    with_base = again.search("人工智能 行业 前景", k=5)
    again.indexes.sentence_base = None  # every sentence from SQLite
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
    assert reused in grown.indexes.sentence_base.pids.tolist() and reused in grown.indexes.sentence_base.stale
    _consistent(grown)
    again = open_kb(kb_dir)  # the tombstone is replayed from the saved delta
    again.ensure_indexes()
    assert reused in again.indexes.sentence_base.stale
    _consistent(again)
    assert again.search("全新的句子", k=1)[0].title == "doc777"


def test_an_unreadable_or_missing_sentence_base_falls_back_to_sqlite_and_is_rewritten(grown, kb_dir, capsys):
    man = _manifest(kb_dir)
    (kb_dir / "index" / man["sentences"] / "vectors.f16").write_bytes(b"broken")
    again = open_kb(kb_dir)
    again.ensure_indexes()
    assert again.indexes.sentence_base is None and "sentence index unreadable" in capsys.readouterr().err
    assert again.search("人工智能 行业", k=3)
    assert again.indexes.vector is not None and again.indexes.base["dense"] == man["dense"]  # nothing else rebuilt
    with again.writer():
        again.add(_doc(900))
    new = _manifest(kb_dir)
    assert new["delta"] and new["sentences"] != man["sentences"] and again.indexes.sentence_base is not None
    _consistent(again)
    # A KB saved before sentence bases existed gets one when a writer next closes, even one that
    # changed nothing, and keeps its other bases and delta.
    old = dict(new)
    del old["sentences"]
    (kb_dir / "index" / "manifest.json").write_text(json.dumps(old))
    third = open_kb(kb_dir)
    third.ensure_indexes()
    assert third.indexes.sentence_base is None
    with third.writer():
        pass
    last = _manifest(kb_dir)
    same = ("data_version", "dense", "lexical", "passages")
    assert last["sentences"] and {k: last[k] for k in same} == {k: old[k] for k in same}
    with np.load(kb_dir / "index" / last["delta"]) as z:
        assert sorted(z["added"].tolist()) == sorted(third.indexes.delta_added) and len(third.indexes.delta_added) > 0
    _consistent(third)


def test_switches_to_ivf_past_the_threshold_and_records_it(kb_dir, hash_model, monkeypatch):
    monkeypatch.setenv("KB_ANN_MIN_PASSAGES", "120")
    kb = open_kb(kb_dir, create=True)
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
    again = open_kb(kb_dir)
    again.ensure_indexes()
    assert again.indexes.vector.kind == "ivf" and again.indexes.vector.codec == "fp16"
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


def test_a_sentence_file_cut_short_after_loading_is_a_clear_error(grown, kb_dir):
    sb = grown.indexes.sentence_base
    pid = int(sb.pids[-1])
    assert sb.lookup([pid])[0]
    path = kb_dir / "index" / _manifest(kb_dir)["sentences"] / "vectors.f16"
    path.write_bytes(path.read_bytes()[:-10])  # the same inode, truncated
    with pytest.raises(KBError, match="vectors.f16 ends early"):
        sb.lookup([pid])
