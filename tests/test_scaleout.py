"""Past one machine (docs/scale-out.md): a KB on the milvus backend (Milvus Lite here, the same
code reaches a server) answers as the embedded one does, filters in the engine, survives what
the embedded one survives; and ``python -m ingest --ray`` on a local Ray instance stores the same
KB as a local ingest, keeping the one-writer guarantees when killed."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kb import Filters
from kb.backends import milvus

from .conftest import ROOT, SAMPLE, run_cli, open_kb
from .fakes import HASH
from .test_api import _free_port

pytestmark = pytest.mark.slow  # Milvus Lite servers and Ray instances of their own

ENV = {"KB_MODEL": HASH}
# The test's own cluster on localhost, without Ray's token authentication (a real cluster keeps
# it; the ingest process then needs RAY_AUTH_TOKEN, docs/scale-out.md).
# Loopback only: Ray's single-machine switch (else it rewrites 127.0.0.1 to this machine's network
# address, ingest.distributed._keep_ray_on_loopback) and --node-ip-address.
RAY_ENV = {**ENV, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
QUESTIONS = ["How many merchants joined TikTok Shop in the US?", "TikTok Shop 美国 商家", "大熊猫吃什么",
             "What do giant pandas eat?", "三峡大坝", "电商平台的物流", "Jupiter moons", "公司 营收 增长"]


def _hits(kb, q, **filters):
    return [(h.article_id, h.passage_id, round(h.score, 4)) for h in kb.search(q, k=5, filters=Filters(**filters))]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The sample articles in an embedded KB and in a milvus one (Milvus Lite in the KB folder)."""
    root = tmp_path_factory.mktemp("pair")
    out = {}
    for backend in ("embedded", "milvus"):
        r = run_cli("-m", "ingest", "--kb", str(root / backend), "--backend", backend, "--quiet", str(SAMPLE),
                    env_extra=ENV)
        assert r.returncode == 0, r.stderr
        out[backend] = root / backend
    assert (root / "milvus" / "milvus.db").exists() and not list((root / "milvus" / "index").glob("*.faiss"))
    return out


@pytest.fixture
def opened(pair, monkeypatch):
    monkeypatch.setenv("KB_MODEL", HASH)
    kbs = {name: open_kb(path) for name, path in pair.items()}
    yield kbs
    for kb in kbs.values():
        kb.close()


def test_a_milvus_kb_answers_as_the_embedded_one_with_filters_in_the_engine(opened):
    emb, mil = opened["embedded"], opened["milvus"]
    assert mil.build.backend == "milvus" and "Milvus Lite" in mil.stats()["index"]
    arts = {a.id: a for a in emb.articles()}
    some = next(iter(arts.values()))
    filters = [{}, {"lang": "zh"}, {"lang": "en"}, {"source": some.source}, {"since": "2023-06"},
               {"until": "2023-05"}, {"since": "2020", "until": "2024-12-31"}, {"article": some.id[:4]},
               {"lang": "zh", "since": "2023"}]
    compared = 0
    for q in QUESTIONS:
        for f in filters:
            want = _hits(emb, q, **f)
            got = _hits(mil, q, **f)
            assert [h[:2] for h in got] == [h[:2] for h in want], (q, f)
            np.testing.assert_allclose([h[2] for h in got], [h[2] for h in want], atol=2e-3)
            compared += bool(want)
    assert compared >= 35  # (of 72: some filters leave nothing)
    # The engine evaluates the filters itself: the selection passed down is the filters, not ids.
    assert mil.indexes.selection({"lang": "zh"}).where == {"lang": "zh"}
    assert isinstance(emb.indexes.selection({"lang": "zh"}).ids, np.ndarray)
    # Every mode; and the same lexical scores (Milvus' BM25 over the KB's own terms).
    for mode in ("dense", "lexical"):
        assert [h.passage_id for h in mil.search(QUESTIONS[1], k=5, mode=mode)] == \
               [h.passage_id for h in emb.search(QUESTIONS[1], k=5, mode=mode)]
    terms = ["tiktok", "美国", "商家", "nothing-here"]
    pids = sorted(emb.store.filtered_passage_ids())
    np.testing.assert_allclose(mil.indexes.lexical.scores(terms).get(pids), emb.indexes.lexical.scores(terms).get(pids),
                               rtol=1e-4, atol=1e-5)
    for t in terms:
        assert mil.indexes.lexical.idf(t) == pytest.approx(emb.indexes.lexical.idf(t), rel=1e-6)


def test_edit_remove_rebuild_and_a_crash_between_sqlite_and_the_engine(pair, tmp_path, monkeypatch):
    import shutil
    monkeypatch.setenv("KB_MODEL", HASH)
    path = tmp_path / "kb"
    shutil.copytree(pair["milvus"], path)  # (Milvus Lite's file travels with the folder)
    kb = open_kb(path)
    art = kb.articles()[0]
    q = art.title
    with kb.writer():
        kb.edit(art.id, source="一个新来源")  # the engine's copy of the field follows the edit
    assert {h.article_id for h in kb.search(q, k=5, filters=Filters(source="一个新来源"))} == {art.id}
    before, its = len(kb.indexes.vector), len(kb.store.passage_ids(art.id))
    with kb.writer():
        kb.remove(art.id)
    assert len(kb.indexes.vector) == len(kb.indexes.lexical) == before - its
    assert art.id not in {h.article_id for h in kb.search(q, k=10)}
    names = set(milvus.client(kb.indexes.vector.uri).list_collections())
    assert {kb.indexes.vector.name, kb.indexes.lexical.name} <= names
    r = kb.rebuild()
    assert r
    after = set(milvus.client(kb.indexes.vector.uri).list_collections())
    assert kb.indexes.vector.name not in names and not (names & after), "a rebuild drops the collections it replaced"
    # A process killed after its SQLite commit but before the engine's write: the engine lacks
    # an article and still holds a removed one's rows. Opening reconciles it by id.
    victim = kb.articles()[0]
    gone = kb.store.passage_ids(victim.id)
    c = milvus.client(kb.indexes.vector.uri)
    c.delete(kb.indexes.vector.name, ids=gone)
    c.delete(kb.indexes.lexical.name, ids=gone)
    c.insert(kb.indexes.vector.name, [{"id": 10 ** 9, "vec": [0.0] * kb.indexes.dim, **milvus._EMPTY_FIELDS}])
    man = json.loads((path / "index" / "manifest.json").read_text())
    man["data_version"] -= 1
    (path / "index" / "manifest.json").write_text(json.dumps(man))
    kb.close()
    again = open_kb(path)
    assert victim.id in {h.article_id for h in again.search(victim.title, k=5)}
    assert sorted(again.indexes.vector.ids().tolist()) == sorted(again.store.filtered_passage_ids())
    assert sorted(again.indexes.lexical.ids().tolist()) == sorted(again.store.filtered_passage_ids())
    again.close()


def _ids(r) -> set[str]:
    assert r.returncode == 0, r.stderr
    return {h["article_id"] for h in json.loads(r.stdout)["hits"]}


def test_an_edit_reaches_the_engine_whether_its_indexes_are_loaded_or_not(pair, tmp_path, monkeypatch):
    """``kb edit --source/--date`` in a process that never loads the indexes (the CLI), seen by
    filtered searches in the next process and in one that holds them loaded (issue #28)."""
    import shutil
    monkeypatch.setenv("KB_MODEL", HASH)
    path = tmp_path / "kb"
    shutil.copytree(pair["milvus"], path)
    arts = open_kb(path)
    art, other = arts.articles()[:2]
    arts.close()
    kb_cli = ("-m", "kb", "--kb", str(path))
    r = run_cli(*kb_cli, "edit", art.id, "--source", "改过的来源", "--date", "1999-02-03", env_extra=ENV, subprocess_=True)
    assert r.returncode == 0, r.stderr
    # The next process: its filters see the edit without `kb rebuild`.
    assert _ids(run_cli(*kb_cli, "search", art.title, "--source", "改过的来源", "--json", env_extra=ENV,
                        subprocess_=True)) == {art.id}
    assert art.id in _ids(run_cli(*kb_cli, "search", art.title, "--until", "1999-12", "--json", env_extra=ENV,
                                  subprocess_=True))
    # A process holding the indexes loaded (as the app and the API do) while another edits.
    kb = open_kb(path)
    try:
        assert art.id not in {h.article_id for h in kb.search(other.title, k=10, filters=Filters(source=other.source + "·"))}
        kb.search(other.title, k=1)  # loaded, and the Lite file held by this process
        r = run_cli(*kb_cli, "edit", other.id, "--source", other.source + "·", "--date", "1998",
                    env_extra=ENV, subprocess_=True)
        assert r.returncode == 0, r.stderr
        assert {h.article_id for h in kb.search(other.title, k=10, filters=Filters(source=other.source + "·"))} == {other.id}
        assert other.id in {h.article_id for h in kb.search(other.title, k=10, filters=Filters(since="1998", until="1998"))}
        assert other.id not in {h.article_id for h in kb.search(other.title, k=10, filters=Filters(source=other.source))}
        # ... and in that process itself, with nothing left to rewrite afterwards.
        kb.edit(other.id, date="")
        assert other.id not in {h.article_id for h in kb.search(other.title, k=10, filters=Filters(since="1990"))}
        assert kb.store.field_edits() == {}
    finally:
        kb.close()


def test_milvus_lite_is_one_process_at_a_time_and_says_so(pair, monkeypatch):
    monkeypatch.setenv("KB_MODEL", HASH)
    kb = open_kb(pair["milvus"])
    kb.search("TikTok", k=1)  # holds the Lite file
    try:
        r = run_cli("-m", "kb", "--kb", str(pair["milvus"]), "search", "TikTok", env_extra=ENV, subprocess_=True)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert "Milvus Lite serves one process at a time" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert f"process {os.getpid()} (" in r.stderr  # the process holding it, named
        # ... and its lock file left in place (milvus-lite's clean-up of a refused start deletes it,
        # and the next start would open the database a second time)
        assert (pair["milvus"] / ".milvus.db.lock").exists()
    finally:
        kb.close()
    r = run_cli("-m", "kb", "--kb", str(pair["milvus"]), "search", "TikTok", "-k", "1", env_extra=ENV, subprocess_=True)
    assert r.returncode == 0 and "TikTok" in r.stdout, r.stderr  # closed: another process opens it


def _lite_wrapper(tmp_path: Path, body: str) -> dict:
    """An environment whose Milvus Lite server binary is a script that runs ``body`` first
    (milvus-lite takes its binary's folder from BIN_PATH)."""
    from milvus_lite.server import BIN_PATH
    folder = tmp_path / "lite-bin"
    folder.mkdir(parents=True)
    (folder / "milvus").write_text(f"#!/bin/sh\n{body}\nexport LD_LIBRARY_PATH={BIN_PATH}:$LD_LIBRARY_PATH\n"
                                   f"exec {BIN_PATH}/milvus \"$@\"\n")
    (folder / "milvus").chmod(0o755)
    return {**ENV, "BIN_PATH": str(folder)}


def test_a_slow_milvus_lite_start_is_waited_for_and_said_slow(pair, tmp_path):
    """On a busy machine the Lite server makes its socket late (pymilvus waits 0.5 s): the start
    is waited for until the server answers, and said to be slow, not reported as a held file."""
    import shutil
    path = tmp_path / "kb"
    shutil.copytree(pair["milvus"], path)
    (path / ".milvus.db.lock").write_text("")  # a lock file left behind, held by nobody: no matter
    env = _lite_wrapper(tmp_path, "sleep 6")
    r = run_cli("-m", "kb", "--kb", str(path), "search", "TikTok", "-k", "1", env_extra=env, subprocess_=True)
    assert r.returncode == 0 and "TikTok" in r.stdout, r.stderr
    assert "Milvus Lite took" in r.stderr and "a busy machine" in r.stderr
    assert "one process at a time" not in r.stderr


def test_a_milvus_lite_server_that_exits_is_not_called_a_held_file(pair, tmp_path):
    import shutil
    path = tmp_path / "kb"
    shutil.copytree(pair["milvus"], path)
    for body, said in (("exit 3", "exited as it started"), ("sleep 1; exit 4", "exited while starting, status 4")):
        r = run_cli("-m", "kb", "--kb", str(path), "search", "TikTok", env_extra=_lite_wrapper(tmp_path / body[-1], body),
                    subprocess_=True)
        assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert said in r.stderr and "one process at a time" not in r.stderr, r.stderr


# --- Ray ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local Ray instance with two worker CPUs, started as a cluster is (``ray start --head``)."""
    port = _free_port()
    temp = Path("/tmp") / f"kbray{os.getpid()}"  # (Ray's socket paths must stay short)
    ray_bin = Path(sys.executable).with_name("ray")
    env = dict(os.environ, **RAY_ENV)
    r = subprocess.run([str(ray_bin), "start", "--head", "--node-ip-address=127.0.0.1", "--num-cpus", "2", "--port",
                        str(port), "--temp-dir", str(temp),
                        "--include-dashboard", "false", "--disable-usage-stats"], env=env, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    yield f"127.0.0.1:{port}"
    subprocess.run([str(ray_bin), "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_ray_is_a_flag_so_a_path_after_it_stays_a_path(tmp_path, monkeypatch):
    """`--ray PATH` took PATH for the Ray address (then said PATH was missing)."""
    import ingest.distributed
    from ingest.pipeline import Summary
    calls = []
    monkeypatch.setattr(ingest.distributed, "ingest_ray",
                        lambda kb, paths, address=None, **kw: calls.append((list(paths), address)) or Summary())
    r = run_cli("-m", "ingest", "--kb", str(tmp_path / "kb"), "--ray", "notes:2023", env_extra=ENV)
    assert r.returncode == 0 and calls == [(["notes:2023"], None)], r.stderr
    r = run_cli("-m", "ingest", "--kb", str(tmp_path / "kb"), "--ray-address", "not an address", "x.txt", env_extra=ENV)
    assert r.returncode == 2 and "--ray-address 'not an address': give the cluster's host:port" in r.stderr


def test_a_ray_address_where_nothing_answers_fails_at_once_in_one_line(tmp_path):
    import socket
    t0 = time.monotonic()
    r = run_cli("-m", "ingest", "--kb", str(tmp_path / "kb"), "--ray-address", "127.0.0.1:1", str(SAMPLE),
                env_extra=RAY_ENV, subprocess_=True, timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 2 and took < 15, (took, r.stderr)
    assert r.stderr.strip() == ("ingest: --ray-address 127.0.0.1:1: nothing listens there (connection refused); "
                                "start the cluster (ray start --head) or give its head's address")
    assert not (tmp_path / "kb").exists()  # refused before the KB was made
    # A listener that never greets as gRPC (not a Ray head): refused after the greeting's wait,
    # and a SIGTERM meanwhile ends the process at once (Ray held it ~30 s).
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    address = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        r = run_cli("-m", "ingest", "--kb", str(tmp_path / "kb"), "--ray-address", address, str(SAMPLE),
                    env_extra=RAY_ENV, subprocess_=True, timeout=60)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "does not answer as a Ray cluster (no gRPC greeting within 3 s)" in r.stderr
        proc = subprocess.Popen([sys.executable, "-m", "ingest", "--kb", str(tmp_path / "kb"), "--ray-address", address,
                                 str(SAMPLE)], cwd=ROOT, env=dict(os.environ, **RAY_ENV), stderr=subprocess.PIPE)
        time.sleep(1.5)
        assert proc.poll() is None, proc.stderr.read()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - t0 < 1.0 and proc.returncode == -signal.SIGTERM
        proc.stderr.close()
    finally:
        silent.close()


def _kb_rows(path: Path):
    db = sqlite3.connect(path / "kb.sqlite")
    return [db.execute(q).fetchall() for q in (
        "SELECT id, title, content_hash, text, lang, dup_of FROM articles ORDER BY id",
        "SELECT article_id, start, text, terms, vec FROM passages ORDER BY article_id, start",
        "SELECT article_id, start, vec FROM sentences ORDER BY article_id, start")]


@pytest.mark.process
def test_ray_ingest_on_two_workers_stores_what_a_local_ingest_stores(ray_cluster, tmp_path):
    local, dist = tmp_path / "local", tmp_path / "ray"
    assert run_cli("-m", "ingest", "--kb", str(local), "--quiet", str(SAMPLE), env_extra=ENV).returncode == 0
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    r = run_cli("-m", "ingest", "--kb", str(dist), "--ray-address", ray_cluster, "--ray-workers", "2", str(SAMPLE), str(bad),
                env_extra=RAY_ENV, subprocess_=True, timeout=600)
    assert r.returncode == 1, r.stderr  # the bad file fails, alone
    assert "on 2 Ray workers" in r.stderr and "Traceback" not in r.stderr
    assert any(line.startswith(f"ingest: {bad}: ") for line in r.stderr.splitlines())
    assert "added 13" in r.stdout
    assert _kb_rows(dist) == _kb_rows(local)
    again = run_cli("-m", "ingest", "--kb", str(dist), "--ray-address", ray_cluster, str(SAMPLE), env_extra=RAY_ENV,
                    subprocess_=True, timeout=600)
    assert again.returncode == 0 and "added 0, updated 0, unchanged 13" in again.stdout, again.stderr


@pytest.mark.process
def test_ray_workers_read_a_photo_of_a_page_by_ocr(ray_cluster, tmp_path):
    import json
    import shutil
    src = tmp_path / "scans"
    src.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "ocr" / "page-photo.jpg", src / "page-photo.jpg")
    r = run_cli("-m", "ingest", "--kb", str(tmp_path / "kb"), "--ray-address", ray_cluster, str(src), env_extra=RAY_ENV,
                subprocess_=True, timeout=600)
    assert r.returncode == 0 and "added 1" in r.stdout, r.stderr
    text, meta = sqlite3.connect(tmp_path / "kb" / "kb.sqlite").execute("SELECT text, meta FROM articles").fetchone()
    assert "The recognizer still has to find every line, including a short last line." in text
    assert json.loads(meta)["ocr"]["pages"] == [1]


@pytest.mark.process
def test_a_killed_ray_ingest_leaves_no_half_article_and_a_rerun_finishes(ray_cluster, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    words = ["电商", "平台", "物流", "美国", "市场", "商家", "增长", "TikTok", "Shop", "政策"]
    rng = np.random.default_rng(5)
    for i in range(120):
        body = "\n\n".join("".join(rng.choice(words, 30)) + "。" for _ in range(8))
        (src / f"a{i:03d}.txt").write_text(f"文章 {i}\n\n{body}", encoding="utf-8")
    kb = tmp_path / "kb"
    env = dict(os.environ, **RAY_ENV)
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "--kb", str(kb), "--ray-address", ray_cluster, "--quiet", str(src)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    n = 0
    while time.time() < deadline and proc.poll() is None:  # kill once some articles are stored
        time.sleep(0.2)
        try:
            n = sqlite3.connect(kb / "kb.sqlite", timeout=1).execute("SELECT count(*) FROM articles").fetchone()[0]
        except sqlite3.Error:
            continue
        if n >= 10:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert 10 <= n < 120, f"the kill did not land mid-run ({n} articles)"
    db = sqlite3.connect(kb / "kb.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    # no half article: every stored article has its passages and sentences
    assert db.execute("SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM passages p WHERE p.article_id=a.id)"
                      " OR NOT EXISTS (SELECT 1 FROM sentences s WHERE s.article_id=a.id)").fetchone()[0] == 0
    r = run_cli("-m", "ingest", "--kb", str(kb), "--ray-address", ray_cluster, str(src), env_extra=RAY_ENV, subprocess_=True,
                timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"added {120 - stored}, updated 0, unchanged {stored}" in r.stdout
    assert db.execute("SELECT count(*), count(DISTINCT path) FROM articles").fetchone() == (120, 120)
    k = run_cli("-m", "kb", "--kb", str(kb), "search", "文章 77 电商", "-k", "3", env_extra=ENV)
    assert k.returncode == 0 and k.stdout.strip()


def _rounded(r):
    """A search's JSON with its scores to 5 digits (float32 sums differ in the 7th by engine)."""
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout, parse_float=lambda x: round(float(x), 5))


def test_kb_rebuild_moves_a_kb_between_backends_and_back(pair, tmp_path, monkeypatch):
    import shutil
    monkeypatch.setenv("KB_MODEL", HASH)
    path = tmp_path / "kb"
    shutil.copytree(pair["embedded"], path)
    ask = ("-m", "kb", "--kb", str(path), "search", "TikTok Shop 美国 商家", "--json")
    before = run_cli(*ask, env_extra=ENV)
    r = run_cli("-m", "kb", "--kb", str(path), "rebuild", "--backend", "milvus", env_extra=ENV)
    assert r.returncode == 0 and "(milvus backend)" in r.stdout, r.stderr
    assert not list((path / "index").glob("*.faiss")) and (path / "milvus.db").exists()
    assert _rounded(run_cli(*ask, env_extra=ENV)) == _rounded(before)
    kb = open_kb(path)
    assert kb.build.backend == "milvus"
    held = set(milvus.client(kb.indexes.vector.uri if kb.indexes.vector else str(path / "milvus.db")).list_collections())
    kb.close()
    r = run_cli("-m", "kb", "--kb", str(path), "rebuild", "--backend", "embedded", env_extra=ENV)
    assert r.returncode == 0 and "(embedded backend)" in r.stdout, r.stderr
    assert _rounded(run_cli(*ask, env_extra=ENV)) == _rounded(before)
    assert len(held) == 3 and not (path / "milvus.db").exists(), "moving away drops the collections and the Lite file"


def test_a_move_that_fails_leaves_the_kb_as_it_was_and_bad_settings_create_nothing(pair, tmp_path, monkeypatch):
    import shutil
    monkeypatch.setenv("KB_MODEL", HASH)
    path = tmp_path / "kb"
    shutil.copytree(pair["embedded"], path)
    files = sorted(p.name for p in (path / "index").iterdir())
    r = run_cli("-m", "kb", "--kb", str(path), "rebuild", "--backend", "milvus", "--milvus-uri", str(tmp_path / "m.txt"),
                env_extra=ENV)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "ends in .db" in r.stderr, r.stderr
    kb = open_kb(path)
    assert kb.build.backend == "embedded" and sorted(p.name for p in (path / "index").iterdir()) == files
    kb.close()
    s = run_cli("-m", "kb", "--kb", str(path), "search", "TikTok", "-k", "1", env_extra=ENV)
    assert s.returncode == 0 and "rebuilding" not in s.stderr, s.stderr
    for args in (["--backend", "milvis"], ["--backend", "milvus", "--milvus-uri", "foo"]):
        r = run_cli("-m", "ingest", "--kb", str(tmp_path / "new"), *args, str(SAMPLE), env_extra=ENV)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "new").exists(), "a refused setting creates no KB folder"


@pytest.mark.process
def test_the_api_serves_a_milvus_kb_unchanged(pair, tmp_path):
    """`python -m kb serve` on a milvus KB: the same JSON as the embedded KB's server, filters
    included, and an upload through the API found by the next search."""
    import shutil

    import httpx

    from .test_api import Server
    answers = {}
    for name in ("embedded", "milvus"):
        path = tmp_path / name
        shutil.copytree(pair[name], path)
        s = Server(path).wait()
        try:
            with httpx.Client(base_url=s.url, timeout=60) as c:
                got = [c.get("/search", params={"q": q, "k": 3, **f}).json() for q in QUESTIONS[:4]
                       for f in ({}, {"lang": "zh"}, {"since": "2023-06"})]
                r = c.post("/articles", files={"files": ("dam.txt", "三峡大坝的船闸\n\n双线五级船闸单向通行约需三个半小时。".encode(),
                                                         "text/plain")})
                assert r.status_code == 200 and "added" in r.text, r.text
                found = c.get("/search", params={"q": "三峡大坝船闸通行时间", "k": 1}).json()
                assert found["hits"][0]["title"] == "三峡大坝的船闸"
        finally:
            s.stop()
        answers[name] = json.loads(json.dumps(got), parse_float=lambda x: round(float(x), 4))
    assert answers["milvus"] == answers["embedded"]
