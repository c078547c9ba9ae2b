"""The index contract (``kb.backends``): one suite run against every registered backend, with
results checked against numpy brute force, plus the embedded backend's own particulars."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from kb import backends
from kb.backends import Selection
from kb.backends.bm25 import B, K1, Bm25Index
from kb.backends.faiss_index import FaissIndex, ivf_shape, probes_for
from kb.errors import ConfigError
from kb.params import BuildParams, IndexParams

from .numpy_index import NumpyIndex
from .conftest import open_kb

DIM = 32
# Exact, and approximate probing every list (so its results must equal brute force up to the
# half-precision rounding of its stored vectors); a backend that is always exact runs both alike.
CONFIGS = {"exact": IndexParams(ann_min_passages=10 ** 9), "ann": IndexParams(ann_min_passages=100, nprobe=10 ** 6)}
VECTOR_CASES = [(b, c) for b in backends.names() for c in CONFIGS]
_ENGINE: dict[str, str] = {}  # where an engine that keeps its own state (Milvus Lite) keeps it


@pytest.fixture(scope="module", autouse=True)
def engine_home(tmp_path_factory):
    """One Milvus Lite file for this module's indexes (each build makes its own collections)."""
    _ENGINE["uri"] = str(tmp_path_factory.mktemp("milvus") / "contract.db")
    yield
    from kb.backends import milvus
    milvus.release(_ENGINE["uri"])


def P(config: str = "exact") -> IndexParams:
    return replace(CONFIGS[config], milvus_uri=_ENGINE["uri"])


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    ids = (np.arange(2000) * 3 + 11).astype(np.int64)  # sparse, as passage ids become after removals
    return ids, _unit(rng.standard_normal((2000, DIM))), _unit(rng.standard_normal((25, DIM)))


def brute(ids, vecs, q, k, allowed=None):
    if allowed is not None:
        sel = np.isin(ids, allowed)
        ids, vecs = ids[sel], vecs[sel]
    sims = vecs @ q
    top = np.argsort(-sims, kind="stable")[:k]
    return ids[top], sims[top]


def assert_same_top(index, exact, got, want):
    """Exact indexes return brute force's ids and scores; an approximate one probing every list
    may swap near-ties only (its vectors are half precision)."""
    gi, gs = got
    wi, ws = want
    if exact:
        assert gi.tolist() == wi.tolist()
        np.testing.assert_allclose(gs, ws, atol=1e-5)
    else:
        assert len(set(gi.tolist()) & set(wi.tolist())) >= len(wi) - 1
        np.testing.assert_allclose(np.sort(gs)[::-1], ws, atol=2e-3)


def build_vector(name, config, ids, vecs):
    index = backends.get(name).vector.build(DIM, ids, vecs, P(config))
    if config == "ann" and name == "embedded":
        assert not index.exact and index.describe()["kind"] == "ivf"
    return index


@pytest.mark.parametrize("name,config", VECTOR_CASES)
def test_vector_search_matches_brute_force(name, config, data):
    ids, vecs, queries = data
    index = build_vector(name, config, ids, vecs)
    assert len(index) == len(ids) and sorted(index.ids().tolist()) == ids.tolist()
    for q in queries:
        assert_same_top(index, index.exact, index.search(q, 10), brute(ids, vecs, q, 10))
    assert len(index.search(queries[0], 5000)[0]) == len(ids)  # k past the size: every row once


@pytest.mark.parametrize("name,config", VECTOR_CASES)
def test_vector_search_within_an_id_filter(name, config, data):
    ids, vecs, queries = data
    index = build_vector(name, config, ids, vecs)
    allowed = np.random.default_rng(1).choice(ids, 150, replace=False)
    for q in queries[:10]:
        got = index.search(q, 10, Selection(ids=allowed))
        assert set(got[0].tolist()) <= set(allowed.tolist())
        assert_same_top(index, True if index.exact else False, got, brute(ids, vecs, q, 10, allowed))
    assert len(index.search(queries[0], 10, Selection(ids=np.zeros(0, np.int64)))[0]) == 0


@pytest.mark.parametrize("name,config", VECTOR_CASES)
def test_vector_add_remove_and_stored_rows(name, config, data):
    ids, vecs, queries = data
    index = build_vector(name, config, ids[:1500], vecs[:1500])
    gone = ids[:1500:7]
    index.remove(gone)
    index.remove(np.array([999_999]))  # an id it never held: ignored
    index.add(ids[1500:], vecs[1500:])
    live = np.setdiff1d(ids, gone)
    assert len(index) == len(live) and sorted(index.ids().tolist()) == live.tolist()
    lv = vecs[np.isin(ids, live)]
    for q in queries:
        got = index.search(q, 10)
        assert not set(got[0].tolist()) & set(gone.tolist())
        assert_same_top(index, index.exact, got, brute(live, lv, q, 10))
    rows = index.vectors([int(ids[1600]), int(ids[3]), 999_999])
    np.testing.assert_allclose(rows[:2], vecs[[1600, 3]], atol=2e-3)
    assert not rows[2].any()


@pytest.mark.parametrize("name,config", VECTOR_CASES)
def test_vector_index_saves_and_loads_as_it_was(name, config, data, tmp_path):
    ids, vecs, queries = data
    index = build_vector(name, config, ids, vecs)
    entry = index.save(tmp_path, "passages-1")
    if getattr(index, "persistent", False):  # the engine holds it: nothing written here
        assert entry["files"] == [] and not list(tmp_path.iterdir())
    else:
        assert entry["files"] and all((tmp_path / f).exists() for f in entry["files"])
    assert all(f.startswith("passages-1") for f in entry["files"])
    again = backends.get(name).vector.load(tmp_path, entry, DIM, P(config))
    assert again.describe()["kind"] == index.describe()["kind"] and again.describe()["summary"]
    for q in queries[:5]:
        a, b = index.search(q, 10), again.search(q, 10)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_allclose(a[1], b[1], atol=1e-6)


# --- lexical ---------------------------------------------------------------------------------
def bm25_brute(docs: dict[int, list[str]], terms, weights=None) -> dict[int, float]:
    """Lucene BM25 (k1 1.5, b 0.75, no (k1+1) factor) of every passage, from its definition."""
    n = len(docs)
    avgdl = np.mean([max(1, len(d)) for d in docs.values()])
    out = {}
    for pid, d in docs.items():
        s = 0.0
        for t in terms:
            tf = d.count(t)
            if tf:
                df = sum(t in x for x in docs.values())
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                s += (weights or {}).get(t, 1.0) * idf * tf / (tf + K1 * (1 - B + B * max(1, len(d)) / avgdl))
        if s > 0:
            out[pid] = s
    return out


def top_of(scores: dict[int, float], n: int) -> list[int]:
    return sorted(scores, key=lambda p: (-scores[p], p))[:n]


@pytest.fixture
def corpus():
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(40)] + ["电商", "平台", "美国"]
    p = np.linspace(2, 0.1, len(vocab))
    docs = {1000 + 5 * i: [str(t) for t in rng.choice(vocab, size=int(rng.integers(1, 12)), p=p / p.sum())] for i in range(500)}
    return docs


QUERIES = [["w0"], ["w3", "w17"], ["电商", "美国", "w39"], ["w38", "w2", "w2"], ["nothing"]]


@pytest.mark.parametrize("name", backends.names())
def test_lexical_scores_match_bm25_by_its_definition(name, corpus):
    index = backends.get(name).lexical.build(list(corpus), list(corpus.values()), P())
    assert len(index) == len(corpus) and sorted(index.ids().tolist()) == sorted(corpus)
    pids = list(corpus)
    for q in QUERIES:
        want = bm25_brute(corpus, q)
        got = index.scores(q).get(pids)
        np.testing.assert_allclose(got, [want.get(p, 0.0) for p in pids], rtol=1e-4, atol=1e-6)
        top = index.scores(q).top(10)
        assert sorted(top, key=lambda p: (-top[p], p)) == top_of(want, 10)
    weights = {"w3": 0.25, "w17": 2.0}
    want = bm25_brute(corpus, ["w3", "w17"], weights)
    np.testing.assert_allclose(index.scores(["w3", "w17"], weights).get(pids), [want.get(p, 0.0) for p in pids],
                               rtol=1e-4, atol=1e-6)
    assert index.idf("nothing") == pytest.approx(math.log(1 + (len(corpus) + 0.5) / 0.5))


@pytest.mark.parametrize("name", backends.names())
def test_lexical_filter_add_remove_and_reload(name, corpus, tmp_path):
    cls = backends.get(name).lexical
    index = cls.build(list(corpus), list(corpus.values()), P())
    allowed = np.array(list(corpus)[::9], np.int64)
    want = bm25_brute(corpus, ["w3", "w17"])
    got = index.scores(["w3", "w17"]).top(5, Selection(ids=allowed))
    assert set(got) <= set(allowed.tolist())
    assert sorted(got, key=lambda p: (-got[p], p)) == top_of({p: s for p, s in want.items() if p in set(allowed.tolist())}, 5)
    entry = index.save(tmp_path, "bm25-1")
    again = cls.load(tmp_path, entry, P())
    np.testing.assert_allclose(again.scores(["w3"]).get(list(corpus)), index.scores(["w3"]).get(list(corpus)))
    gone = list(corpus)[:50]
    index.remove(gone)
    index.add([5, 6], [["鲲鹏", "w0"], ["w0"]])
    assert len(index) == len(corpus) - 50 + 2
    assert sorted(index.ids().tolist()) == sorted(set(corpus) - set(gone) | {5, 6})
    top = index.scores(["w0"]).top(600)
    assert not set(top) & set(gone) and {5, 6} <= set(top)
    assert list(index.scores(["鲲鹏"]).top(3)) == [5]


# --- the registry ----------------------------------------------------------------------------
def test_an_unknown_backend_is_a_clear_error(kb_dir, hash_model):
    with pytest.raises(ConfigError, match="Unknown index backend 'nosuch'; known: .*embedded"):
        open_kb(kb_dir, create=True, build=BuildParams(backend="nosuch"))


def test_a_backend_is_one_class_registered_and_the_kb_records_it(kb_dir, hash_model):
    from kb import ArticleInput
    backends.register("numpy-test", NumpyIndex, backends.get("embedded").lexical, "tests: numpy brute force")
    try:
        kb = open_kb(kb_dir, create=True, build=BuildParams(backend="numpy-test"))
        with kb.writer():
            for i, t in enumerate(["电商平台在美国上线。", "The planet Jupiter has many moons.", "学校的老师和学生。"]):
                kb.add(ArticleInput(key=f"/d{i}", path=f"d{i}.txt", text=t, content_hash=f"h{i}", title=f"d{i}"))
        kb.close()
        again = open_kb(kb_dir)  # the environment says nothing: the KB's record decides
        assert again.build.backend == "numpy-test"
        assert again.search("Jupiter moons", k=1)[0].title == "d1"
        assert isinstance(again.indexes.vector, NumpyIndex)
        assert "numpy brute force" in again.stats()["index"]
        again.close()
    finally:
        backends._REGISTRY.pop("numpy-test")


def test_a_backend_declares_its_capabilities_and_inherits_the_defaults():
    class Bare:  # the protocols' methods, none of the capabilities
        pass
    with pytest.raises(ConfigError, match=r"backend 'bare': Bare lacks persistent, filters_in_engine, check, .*Capabilities"):
        backends.register("bare", Bare, backends.get("embedded").lexical)
    assert "bare" not in backends.names()
    emb, mil = backends.get("embedded"), backends.get("milvus")
    assert not emb.vector.persistent and not emb.lexical.filters_in_engine and mil.vector.persistent and mil.lexical.filters_in_engine
    assert emb.vector.check(IndexParams()) is None  # the defaults do nothing
    with pytest.raises(NotImplementedError):
        NumpyIndex.build(4, np.array([1], np.int64), np.ones((1, 4), np.float32), IndexParams()).set_fields([1], [{}])


# --- the embedded backend's particulars ---------------------------------------------------------
def test_delta_bm25_uses_the_base_statistics():
    docs = [["电商", "平台", "美国"], ["电商", "物流"], ["教育", "学校", "老师", "学生"]]
    lex = Bm25Index.build([10, 11, 12], docs)
    lex.add([20], [["电商", "电商", "鲲鹏"]])
    s = lex.scores(["电商", "鲲鹏"])
    got = s.get([20])[0]
    avgdl = np.mean([3, 2, 4])
    expect = sum(lex.idf(t) * c / (K1 * (1 - B + B * 3 / avgdl) + c) for t, c in (("电商", 2), ("鲲鹏", 1)))
    assert got == pytest.approx(expect, rel=1e-6)
    assert lex.idf("鲲鹏") > lex.idf("电商") > 0
    assert list(s.top(1)) == [20]
    lex.remove([10, 20])
    assert sorted(lex.ids().tolist()) == [11, 12]
    assert 10 not in lex.scores(["美国"]).top(5)


def test_bm25_top_matches_a_full_sort_with_ties_to_the_lower_id():
    """``top`` looks for the best among passages scoring at least the n-th best of the rarest
    query term's passages; it must return exactly what sorting every score would."""
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(30)]
    docs = [list(rng.choice(vocab, size=int(rng.integers(1, 8)), p=np.linspace(2, 0.1, 30) / np.linspace(2, 0.1, 30).sum()))
            for _ in range(400)]
    docs += [docs[5]] * 40  # exact ties
    ids = list(range(1000, 1000 + len(docs)))
    lex = Bm25Index.build(ids, docs)
    lex.remove([1003, 1050])
    for q in (["w0"], ["w0", "w1"], ["w3", "w17", "w29"], ["w28"], list(docs[5]), ["nothing"]):
        s = lex.scores(q)
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
    rng = np.random.default_rng(0)
    vecs = _unit(rng.standard_normal((2000, 16)))
    old = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(16), 16, 32, faiss.ScalarQuantizer.QT_8bit,
                                        faiss.METRIC_INNER_PRODUCT)
    old.train(vecs)
    old.add_with_ids(vecs, np.arange(2000, dtype=np.int64))
    faiss.write_index(old, str(tmp_path / "dense.faiss"))
    idx = FaissIndex.load(tmp_path, {"file": "dense.faiss", "kind": "ivf"}, 16, IndexParams(lang_center=0))  # an older manifest's entry
    assert idx.codec == "8bit" and idx.nprobe == probes_for(32, "8bit") == 32
    assert probes_for(2048, "8bit") == 64 and probes_for(2048, "fp16") == 48
    assert probes_for(2048, "fp16", centred=True) == 96 and probes_for(8192, "fp16", centred=True) == 32
    assert probes_for(2048, "fp16", nprobe=7) == 7
    ids, _ = idx.search(vecs[5], 3)
    assert ids[0] == 5
    new = FaissIndex.build(16, np.arange(2000), vecs, IndexParams(ann_min_passages=100))
    assert new.kind == "ivf" and new.codec == "fp16" and new.search(vecs[7], 3)[0][0] == 7
