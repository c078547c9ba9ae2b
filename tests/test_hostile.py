"""Every hostile input is ingested correctly or rejected with one line naming it; the rest of
the batch and the existing KB are untouched; memory and time stay bounded (docs/reliability.md).

Round two (issue #20) adds a test per class: silent data loss, hangs and memory blow-ups from
small files, one bad item aborting a batch, a damaged or unusual KB folder, unvalidated CLI and
app inputs, and article metadata rendered as Markdown in the app."""
from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .fakes import HASH
from .conftest import ROOT, SEED, run_cli, open_kb
from .hostile import build

ENV = {"KB_MODEL": HASH}


@pytest.mark.process  # a real process, its memory measured
def test_hostile_catalogue(tmp_path):
    env = dict(os.environ, **ENV)
    kb = tmp_path / "kb"
    subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), str(SEED)], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    before = sqlite3.connect(kb / "kb.sqlite").execute("SELECT id, content_hash, text FROM articles").fetchall()
    cases = build(tmp_path / "hostile")
    assert len(cases) >= 30
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), str(tmp_path / "hostile")] +
                       [str(tmp_path / "hostile" / n) for n, *_ in cases if "loop" in n or n in ("fifo.txt", "unreadable.txt")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    err = r.stderr.splitlines()
    db = sqlite3.connect(kb / "kb.sqlite")
    stored = {p: t for p, t in db.execute("SELECT path, text FROM articles")}
    outcomes = []
    for name, expect, phrase in cases:
        shown = name.encode("unicode_escape").decode() if "\n" in name or "\u202e" in name else name
        lines = [ln for ln in err if shown in ln]
        path = next((p for p in stored if p.endswith("/" + name)), None)
        if expect == "ok":
            assert path is not None, (name, lines)
            assert phrase in stored[path], name
            outcome = "ingested"
        elif expect == "fail":
            assert path is None, name
            assert len(lines) >= 1 and phrase.lower() in lines[0].lower(), (name, lines)
            assert all("\n" not in ln for ln in lines)
            outcome = "rejected: " + lines[0].split(": ", 2)[-1]
        else:  # either is fine, but one of them, clearly
            assert (path is not None) != bool(lines), (name, lines)
            outcome = "ingested" if path else "rejected: " + lines[0].split(": ", 2)[-1]
        outcomes.append((name, outcome))
    # The KB that was there before is untouched.
    after = {row[0]: row for row in db.execute("SELECT id, content_hash, text FROM articles")}
    for row in before:
        assert after[row[0]] == row
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert peak_mb < 1500, f"ingest peaked at {peak_mb:.0f} MB"
    assert seconds < 240, f"the catalogue took {seconds:.0f} s"
    print("HOSTILE-REPORT", json.dumps({"inputs": len(cases), "peak_rss_mb": round(peak_mb), "seconds": round(seconds),
                                        "outcomes": outcomes}, ensure_ascii=False))


# --- helpers -----------------------------------------------------------------------------------
ZH = "跨境电商卖家需要关注海外仓和物流成本。平台正在推出新的全托管服务。"


def _seed_kb(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    r = run_cli("-m", "ingest", "--kb", str(kb), str(SEED), env_extra=ENV)
    assert r.returncode == 0, r.stderr
    return kb


def _one_line(r: subprocess.CompletedProcess) -> str:
    """The single line a refused command prints: no traceback, non-zero exit."""
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "Warning" not in ln and "import pkg_resources" not in ln]
    assert len(lines) == 1, r.stderr
    return lines[0]


def _search_ok(kb: Path, subprocess_: bool = False, env: dict | None = None) -> dict:
    r = run_cli("-m", "kb", "--kb", str(kb), "search", "--json", "TikTok Shop 美国 商家", env_extra=ENV | (env or {}),
                subprocess_=subprocess_)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    res = json.loads(r.stdout)
    assert res["hits"], res
    return res


def _articles(kb: Path) -> list[tuple]:
    db = sqlite3.connect(kb / "kb.sqlite")
    try:
        return db.execute("SELECT id, path, content_hash FROM articles ORDER BY id").fetchall()
    finally:
        db.close()


# --- 1. silent data loss ---------------------------------------------------------------------------
def test_uploads_with_one_name_or_colliding_names_are_separate_articles(tmp_path, monkeypatch):
    """The app and the API store an upload as uploads/<content hash>/<safe name>."""
    from ingest import ingest
    from kb.view import upload_path
    monkeypatch.setenv("KB_MODEL", HASH)
    kb = open_kb(tmp_path / "kb", create=True)
    up = kb.path / "uploads"

    def upload(*files: tuple[str, str]):
        paths = []
        for name, text in files:
            p = upload_path(up, name, text.encode())
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(text.encode())
            paths.append(str(p))
        return ingest(kb, paths, progress=False, echo=False)

    s = upload(("report.txt", "一号报告\n\n第一份报告讲海外仓的租金和库存周转。"), ("report.txt", "二号报告\n\n第二份报告讲港口拥堵与运费。"))
    assert len(s.added) == 2 and not s.updated  # at once, same name
    s = upload(("report.txt", "三号报告\n\n第三份报告讲关税政策的变化。"))
    assert len(s.added) == 1 and not s.updated  # later, same name: a new article, the others stay
    s = upload(("a:b.txt", "冒号文件\n\n冒号名字的文件记录了直播带货。"), ("a?b.txt", "问号文件\n\n问号名字的文件记录了退货率。"))
    assert len(s.added) == 2  # both become a_b.txt, in different folders
    s = upload(("copy-of-report.txt", "三号报告\n\n第三份报告讲关税政策的变化。"))
    assert s.duplicate and not s.added  # the same bytes under another name: one article
    texts = [a.title for a in kb.articles()]
    kb.close()
    assert sorted(texts) == sorted(["一号报告", "二号报告", "三号报告", "冒号文件", "问号文件"])


def test_remove_by_a_short_id_prefix_needs_confirmation(tmp_path):
    kb = _seed_kb(tmp_path)
    aid = _articles(kb)[0][0]
    for prefix in (aid[:1], aid[:5]):
        line = _one_line(run_cli("-m", "kb", "--kb", str(kb), "remove", prefix, env_extra=ENV))
        assert f"'{prefix}'" in line and aid in line and "--yes" in line and "at least 6" in line
        assert len(_articles(kb)) == 1
    r = run_cli("-m", "kb", "--kb", str(kb), "remove", aid[:1], "--yes", env_extra=ENV)
    assert r.returncode == 0 and aid in r.stdout and _articles(kb) == []
    kb2 = _seed_kb(tmp_path / "again")
    r = run_cli("-m", "kb", "--kb", str(kb2), "remove", aid[:6], env_extra=ENV)
    assert r.returncode == 0 and _articles(kb2) == []


# --- 2 and 3. web pages: hangs, losses and failures, one line each, the batch goes on -------------------
class _Raw:
    """A TCP server answering every connection with ``answer(sock)`` (raw bytes, any behaviour)."""

    def __init__(self, answer):
        import socketserver
        import threading

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    self.request.recv(65536)
                    answer(self.request)
                except OSError:
                    pass

        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/page"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def _page(body: bytes, ctype: str = "text/html; charset=utf-8", extra: bytes = b"", length: int | None = None):
    def answer(sock):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype.encode() + b"\r\nContent-Length: " +
                     str(len(body) if length is None else length).encode() + b"\r\n" + extra + b"Connection: close\r\n\r\n" + body)
    return answer


def _trickle(sock):
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body><p>")
    for _ in range(600):  # 1 byte a second: every read succeeds within the per-read timeout
        sock.sendall("慢".encode()[:1])
        time.sleep(1)


@pytest.mark.slow
def test_web_pages_that_lie_trickle_or_break_are_one_line_each_and_the_batch_goes_on(tmp_path, monkeypatch):
    from ingest import fetch as fetch_mod
    from ingest import ingest
    monkeypatch.setenv("KB_MODEL", HASH)
    monkeypatch.setenv("KB_FETCH_PRIVATE", "1")  # the servers are on this machine
    monkeypatch.setattr(fetch_mod, "DEADLINE_S", 3)
    good = ("<html><head><title>好页面</title></head><body><article><h1>好页面</h1><p>" + ZH +
            "这一页完整到达。</p></article></body></html>").encode()
    servers = {
        "short": _Raw(_page(good[:len(good) // 2], length=len(good))),  # stops short of its Content-Length
        "trickle": _Raw(_trickle),
        "banner": _Raw(lambda s: s.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")),  # not HTTP (a typo in the port)
        "headers": _Raw(_page(good, extra=b"".join(b"X-%d: y\r\n" % i for i in range(150)))),  # too many headers
        "longheader": _Raw(_page(good, extra=b"X-Long: " + b"y" * 70000 + b"\r\n")),
        "undefined": _Raw(_page(good.replace("好页面".encode(), "未定义编码".encode()).replace("完整到达".encode(), "编码未定义".encode()),
                                ctype="text/html; charset=undefined")),  # a charset no codec has: the bytes decide
        "lying": _Raw(_page(("<html><head><title>谎报编码</title></head><body><article><p>" + ZH +
                             "页头说是西欧编码，其实是UTF-8。</p></article></body></html>").encode(), ctype="text/html; charset=iso-8859-1")),
        "good": _Raw(_page(good)),
    }
    f = tmp_path / "after.txt"
    f.write_text("批次之后\n\n" + ZH + "链接之后的文件也要入库。", encoding="utf-8")
    urls = {k: v.url for k, v in servers.items()}
    urls["badport"] = "http://127.0.0.1:80x/page"
    urls["badhost"] = "http://" + "a" * 70 + ".example/page"
    kb = open_kb(tmp_path / "kb", create=True)
    t0 = time.monotonic()
    try:
        s = ingest(kb, [*urls.values(), str(f)], progress=False, echo=False)
    finally:
        for v in servers.values():
            v.close()
    took = time.monotonic() - t0
    failed = dict(s.failed)
    texts = {a.path: kb.store.article(a.id).text for a in kb.articles()}
    kb.close()
    assert took < 30, took
    assert "cut short" in failed[urls["short"]], failed
    assert "did not arrive within 3 s" in failed[urls["trickle"]]
    assert "did not answer with HTTP" in failed[urls["banner"]]
    assert "malformed" in failed[urls["headers"]] and "malformed" in failed[urls["longheader"]]
    assert "not a valid web link" in failed[urls["badport"]] and "not a valid web link" in failed[urls["badhost"]]
    assert all("\n" not in why for why in failed.values())
    assert "这一页完整到达" in texts[urls["good"]] and "这一页编码未定义" in texts[urls["undefined"]], (texts, failed)
    assert "其实是UTF-8" in texts[urls["lying"]]  # not mojibake
    assert "链接之后的文件也要入库" in texts[str(f)]
    assert len(failed) == 7


# --- 2. hangs and blow-ups: every limit applies before the expensive work -------------------------------
def test_small_hostile_files_take_seconds_not_minutes(tmp_path):
    from ingest.pipeline import to_article
    from kb.errors import ReadError
    from .hostile import build
    cases = {n: (e, p) for n, e, p in build(tmp_path)}
    for name in ("heading-spaces.md", "brackets.md", "image-brackets.md", "hashes.md", "meta-tags.html",
                 "docx-element-bomb.docx", "epub-element-bomb.epub", "unpacks-to-120mb.docx", "100k-pages.pdf",
                 "150k-paragraphs.html", "epub-deep-chapter.epub"):
        expect, phrase = cases[name]
        t0 = time.monotonic()
        try:
            art = to_article(tmp_path / name, name)
            outcome = "ok"
        except ReadError as e:
            outcome, art = "fail", None
            assert expect in ("fail", "any") and phrase.lower() in str(e).lower(), (name, e)
        took = time.monotonic() - t0
        assert took < 5, f"{name} took {took:.1f} s"
        if expect == "ok":
            assert outcome == "ok" and phrase in art.text, name


def test_passage_settings_out_of_range_are_refused_before_any_work(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("标题\n\n" + ZH, encoding="utf-8")
    for name, value, says in (("KB_PASSAGE_MAX_CHARS", "0", "from 50 to 20000"), ("KB_PASSAGE_TOKENS", "-3", "from 10 to 2000"),
                              ("KB_PASSAGE_MAX_CHARS", "lots", "is not a whole number from 50")):
        line = _one_line(run_cli("-m", "ingest", "--kb", str(tmp_path / "kb"), str(f), env_extra=ENV | {name: value}))
        assert name in line and says in line, line
    assert not (tmp_path / "kb" / "kb.sqlite").exists() or _articles(tmp_path / "kb") == []


# --- 3. one bad item never aborts the batch -------------------------------------------------------------
def test_bad_names_odd_metadata_and_reader_failures_are_one_line_each(tmp_path, monkeypatch):
    from ingest import readers
    from .docgen import pdf_bytes
    d = tmp_path / "in"
    d.mkdir()
    gbk = os.path.join(os.fsencode(d), "季度报告.txt".encode("gbk"))  # a GBK name from a Windows archive
    with open(gbk, "wb") as fh:
        fh.write("季度报告\n\n本季度的仓储费用上涨，文件名是GBK编码。".encode())
    bad_bytes = os.path.join(os.fsencode(d), b"\xff\xfe-not-a-name.txt")
    with open(bad_bytes, "wb") as fh:
        fh.write("坏名字\n\n直播间的退货率下降了，文件名不是任何编码。".encode())
    (d / "boom.pdf").write_bytes(pdf_bytes(["A reader bug must not stop the batch."]))
    (d / "zz-after.txt").write_text("最后一个\n\n关税调整之后，批次继续到最后。", encoding="utf-8")

    real_pdf = readers._pdf
    monkeypatch.setattr(readers, "_pdf", lambda data: (_ for _ in ()).throw(RuntimeError("reader bug\nsecond line")))
    r = run_cli("-m", "ingest", "--kb", str(tmp_path / "kb"), str(d), env_extra=ENV)
    monkeypatch.setattr(readers, "_pdf", real_pdf)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("ingest:")]
    assert len(lines) == 1 and "boom.pdf" in lines[0] and "could not be read (RuntimeError: reader bug" in lines[0]
    db = sqlite3.connect(tmp_path / "kb" / "kb.sqlite")
    rows = dict(db.execute("SELECT path, title FROM articles").fetchall())
    assert any("/in/\\xbc\\xbe\\xb6" in p for p in rows)  # the bytes that are not UTF-8, escaped
    assert "季度报告" in rows.values()  # the title (first line); the stem decodes as GB18030 where one is needed
    assert any(p.endswith("\\xff\\xfe-not-a-name.txt") for p in rows)
    assert any(p.endswith("zz-after.txt") for p in rows)


# --- 4. a damaged or unusual KB folder ---------------------------------------------------------------
@pytest.mark.parametrize("damage", ["manifest-list", "manifest-string", "manifest-folder", "manifest-binary",
                                    "bm25-ids", "bm25-indices", "bm25-indptr", "bm25-vocab", "sentences-offsets"])
def test_damaged_derived_indexes_are_rebuilt_and_search_answers(tmp_path, damage):
    import numpy as np
    kb = _seed_kb(tmp_path)
    want = [h["passage_id"] for h in _search_ok(kb)["hits"]]
    idx = kb / "index"
    man = idx / "manifest.json"
    bm = idx / json.loads(man.read_text())["lexical"]["folder"]
    if damage == "manifest-list":
        man.write_text("[1, 2]")
    elif damage == "manifest-string":
        man.write_text('"manifest"')
    elif damage == "manifest-folder":
        man.unlink()
        man.mkdir()
    elif damage == "manifest-binary":
        man.write_bytes(b"\xff\xfe\x00garbage")
    elif damage == "sentences-offsets":
        sb = idx / json.loads(man.read_text())["sentences"]
        off = np.load(sb / "offsets.npy")
        off[1], off[2] = off[2], off[1]
        np.save(sb / "offsets.npy", off)
    elif damage == "bm25-ids":
        ids = np.load(bm / "ids.npy")
        np.save(bm / "ids.npy", np.concatenate([ids, ids]))
    else:
        name = {"bm25-indices": "indices", "bm25-indptr": "indptr"}.get(damage)
        if name:
            f = next(bm.glob(f"*{name}*.npy"))
            a = np.load(f)
            a[len(a) // 2] = 10 ** 6 if name == "indices" else -5
            np.save(f, a)
        else:
            v = bm / "vocab.index.json"
            vocab = json.loads(v.read_text())
            vocab[next(iter(vocab))] = 10 ** 7
            v.write_text(json.dumps(vocab))
    res = _search_ok(kb)
    assert [h["passage_id"] for h in res["hits"]] == want
    r = run_cli("-m", "kb", "--kb", str(kb), "rebuild", env_extra=ENV)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert isinstance(json.loads(man.read_text()), dict)
    assert [h["passage_id"] for h in _search_ok(kb)["hits"]] == want


def test_a_damaged_database_a_file_for_a_folder_and_a_newer_schema_are_one_line(tmp_path):
    kb = _seed_kb(tmp_path)
    # --kb pointing at a file
    line = _one_line(run_cli("-m", "kb", "--kb", str(SEED), "search", "x", env_extra=ENV))
    assert "is a file, not a knowledge base folder" in line
    line = _one_line(run_cli("-m", "ingest", "--kb", str(SEED), str(SEED), env_extra=ENV))
    assert "is a file, not a knowledge base folder" in line
    # a schema version from the future: refused, and the file is not written
    future = tmp_path / "future"
    import shutil
    shutil.copytree(kb, future)
    db = sqlite3.connect(future / "kb.sqlite")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    before = (future / "kb.sqlite").read_bytes()
    for cmd in (("search", "x"), ("rebuild",), ("list",)):
        line = _one_line(run_cli("-m", "kb", "--kb", str(future), *cmd, env_extra=ENV))
        assert "newer version" in line and "'99'" in line and "upgrade" in line
    assert (future / "kb.sqlite").read_bytes() == before
    # a truncated database: every command that meets the damage says so in one line, naming the fix
    refused = 0
    for keep in (0.5, 0.02):
        bad = tmp_path / f"truncated-{keep}"
        shutil.copytree(kb, bad)
        data = (bad / "kb.sqlite").read_bytes()
        (bad / "kb.sqlite").write_bytes(data[:int(len(data) * keep)])
        for cmd in (("search", "TikTok"), ("rebuild",), ("list",), ("stats",)):
            r = run_cli("-m", "kb", "--kb", str(bad), *cmd, env_extra=ENV)
            if r.returncode == 0:  # (what is left may still answer this one)
                continue
            line = _one_line(r)
            assert "damaged" in line and "backup" in line and "python -m ingest" in line, line
            refused += 1
    assert refused >= 4  # (at least every command on the file cut to its first 2%)


def _in_readonly_mount(kb: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    """``python ARGS`` with ``kb`` mounted read-only (a private mount namespace: the kernel refuses
    every write there, root's too), or with the folder made read-only (chmod) where that is not
    available and the user is not root."""
    py = [sys.executable, *args]
    full_env = dict(os.environ, **env)
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode == 0:
        script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
        return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(kb), *py], cwd=ROOT, env=full_env,
                              capture_output=True, text=True, timeout=300)
    if os.geteuid() == 0:
        pytest.skip("no mount namespace (unshare -rm) here, and root writes through chmod: no read-only media to test on")
    for p in [kb, *kb.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        return subprocess.run(py, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300)
    finally:
        for p in [kb, *kb.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


@pytest.mark.process
def test_a_kb_on_read_only_media_is_searched_and_writes_are_one_line(tmp_path):
    kb = _seed_kb(tmp_path)
    want = [h["passage_id"] for h in _search_ok(kb)["hits"]]
    db = sqlite3.connect(kb / "kb.sqlite")  # stale indexes: the reader must rebuild them in memory, not save
    db.execute("UPDATE meta SET value=CAST(value AS INTEGER)+1 WHERE key='data_version'")
    db.commit()
    db.close()
    snapshot = {p: p.read_bytes() for p in kb.rglob("*") if p.is_file()}
    r = _in_readonly_mount(kb, "-m", "kb", "--kb", str(kb), "search", "--json", "TikTok Shop 美国 商家", env=ENV)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert [h["passage_id"] for h in json.loads(r.stdout)["hits"]] == want
    f = tmp_path / "new.txt"
    f.write_text("新文章\n\n" + ZH, encoding="utf-8")
    aid = _articles(kb)[0][0]
    for args in (("-m", "ingest", "--kb", str(kb), str(f)), ("-m", "kb", "--kb", str(kb), "remove", aid),
                 ("-m", "kb", "--kb", str(kb), "edit", aid, "--title", "新标题"),
                 ("-m", "kb", "--kb", str(kb), "collection", "add", "c", aid + ":0-5")):
        line = _one_line(_in_readonly_mount(kb, *args, env=ENV))
        assert "read-only" in line and "writable copy" in line, line
    assert {p: p.read_bytes() for p in kb.rglob("*") if p.is_file()} == snapshot


def _limit_writes(max_bytes: int):
    """In the child: files cannot grow past ``max_bytes`` (a write past it fails with EFBIG, as a
    full disk fails one with ENOSPC; SIGXFSZ ignored so the write returns the error)."""
    def pre():
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return pre


@pytest.mark.process
def test_a_full_disk_leaves_the_kb_as_it_was_and_searchable(tmp_path):
    """Simulated with RLIMIT_FSIZE in the child process: every write that would take a file past
    the limit fails (EFBIG), in SQLite's WAL and in the index files alike, like ENOSPC on a disk
    that has just filled up. Both errors read as 'no space left to write'."""
    kb = _seed_kb(tmp_path)
    before = _articles(kb)
    want = [h["passage_id"] for h in _search_ok(kb)["hits"]]
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3):
        (big / f"b{i}.txt").write_text(f"大文章{i}\n\n" + (ZH + f"第{i}篇的段落，内容各不相同{i * 7}。\n") * 1500, encoding="utf-8")
    env = dict(os.environ, **ENV)
    limit = max(p.stat().st_size for p in kb.rglob("*") if p.is_file()) + 64 * 1024
    r = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), str(big)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300, preexec_fn=_limit_writes(limit))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(("ingest:", "kb:"))]
    assert len(lines) == 1 and "no space left to write" in lines[0] and "free space" in lines[0], r.stderr
    # The disk stays full: searching still works, and writes nothing it cannot finish.
    r = subprocess.run([sys.executable, "-m", "kb", "--kb", str(kb), "search", "--json", "TikTok Shop 美国 商家"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300, preexec_fn=_limit_writes(limit))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert [h["passage_id"] for h in json.loads(r.stdout)["hits"]] == want
    after = _articles(kb)
    assert after[:len(before)] == before or set(before) <= set(after)
    db = sqlite3.connect(kb / "kb.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    man = json.loads((kb / "index" / "manifest.json").read_text())
    named = {man["dense"].get("file"), *man["dense"].get("files", []), *man["lexical"].get("files", []), man["lexical"].get("folder"),
             man.get("sentences"), man.get("space"), man.get("delta"), "manifest.json"}
    assert all(p.name in named for p in (kb / "index").iterdir()), sorted(p.name for p in (kb / "index").iterdir())
    assert all(p.stat().st_size > 0 for p in (kb / "index").rglob("*") if p.is_file())
    # With space again, the same ingest completes.
    r = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), str(big)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(_articles(kb)) == len(before) + 3
    _search_ok(kb)


# --- 5. CLI and app inputs ----------------------------------------------------------------------------
def test_cli_values_out_of_range_are_one_line_naming_the_valid_values(tmp_path):
    kb = _seed_kb(tmp_path)
    bad_queries = tmp_path / "q.txt"
    bad_queries.write_bytes(b"TikTok\n\xff\xfe\xb2 broken\n")
    evals = tmp_path / "e.jsonl"
    for args, says in (
            (("search", "-k", "0", "x"), "1 or more"), (("search", "-k", "-1", "x"), "1 or more"),
            (("search", "-k", "²", "x"), "1 or more"), (("search", "-k", "abc", "x"), "1 or more"),
            (("search", "--since", "garbage", "x"), "since: 'garbage' is not a date"),
            (("search", "--until", "2023-1-5", "x"), "until: '2023-1-5' is not a date"),
            (("search", "--lang", "klingon", "x"), "lang: 'klingon' is not one of zh, en, mixed"),
            (("search", "--article", "%", "x"), "article: '%' is not an article id"),
            (("search", "--article", "a_", "x"), "article: 'a_' is not an article id"),
            (("search", "--json", "--queries", str(bad_queries)), "not UTF-8 text"),
            (("eval", str(evals)), "'evidence' must be a string, not int"),
    ):
        evals.write_text('{"query": "TikTok", "evidence": 5}\n', encoding="utf-8")
        r = run_cli("-m", "kb", "--kb", str(kb), *args, env_extra=ENV)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert says in r.stderr, (args, r.stderr)
    evals.write_bytes(b'{"query": "\xff"}\n')
    assert "not UTF-8 text" in _one_line(run_cli("-m", "kb", "--kb", str(kb), "eval", str(evals), env_extra=ENV))
    for name, value, says in (("KB_CANDIDATES", "0", "from 1 to 100000"), ("KB_LEXICAL_WEIGHT", "nan", "from 0 to 100"),
                              ("KB_NO_ANSWER_BELOW", "2", "from 0 to 1"), ("KB_LANG_CENTER", "yes", "from 0 to 1"),
                              ("KB_SENTENCE_DEPTH", "-1", "from 0 to 10000")):
        line = _one_line(run_cli("-m", "kb", "--kb", str(kb), "search", "TikTok", env_extra=ENV | {name: value}))
        assert name in line and says in line, line


def _markdown_bodies(at) -> list[tuple[str, bool]]:
    """(Markdown source, HTML allowed) of every element on the page that Streamlit renders as
    Markdown: markdown, captions, headings, alerts, table cells, metric labels and values, button
    labels and their help."""
    out = []
    for m in at.markdown:
        out.append((m.value, bool(m.proto.allow_html)))
    for kind in ("caption", "subheader", "header", "title", "warning", "error", "success", "info"):
        out += [(str(e.value), False) for e in getattr(at, kind)]
    for t in at.table:
        df = t.value
        out += [(str(v), False) for v in df.to_numpy().ravel()] + [(str(c), False) for c in df.columns]
    for m in at.metric:
        out += [(str(m.label), False), (str(m.value), False)]
    for b in at.button:
        out += [(str(b.label), False), (str(b.proto.help or ""), False)]
    return out


def _links_and_images(bodies) -> list[str]:
    """What a CommonMark renderer makes of each body: any <img> or <a> found."""
    from markdown_it import MarkdownIt
    bad = []
    for body, allow_html in bodies:
        out = MarkdownIt("commonmark", {"html": allow_html}).enable("table").render(body)
        if "<img" in out or "<a " in out:
            bad.append(body)
    return bad


def _kb_titled(tmp_path, evil: str, url: str | None = None) -> str:
    """A KB in tmp_path/kb of one article whose title, author and source are ``evil``; its id."""
    from ingest import ingest
    kb = open_kb(tmp_path / "kb", create=True, model=HASH)
    f = tmp_path / "evil.txt"
    f.write_text("placeholder\n\n海外仓的物流成本很高。卖家需要关注全托管服务。", encoding="utf-8")
    ingest(kb, [str(f)], progress=False, echo=False)
    aid = kb.articles()[0].id
    kb.edit(aid, title=evil, author=evil, source=evil)
    if url is not None:
        kb.store.db.execute("UPDATE articles SET url=?", (url,))
    kb.close()
    return aid


def test_article_metadata_is_text_everywhere_in_the_app(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    evil = "![x](http://127.0.0.1:9/p.png) [click](http://evil) <img src=http://127.0.0.1:9/q.png> :red[red] $x^2$"
    monkeypatch.setenv("KB_MODEL", HASH)
    _kb_titled(tmp_path, evil, url="javascript:alert(1)")  # (edit and ingest refuse such links)
    monkeypatch.setenv("KB_DIR", str(tmp_path / "kb"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"q": f"海外仓 物流 {evil}", "k": "²"})
    at.run()
    assert not at.exception
    assert at.slider[0].value == 5  # ?k=² (a digit to str.isdigit, not to int) falls back to the default
    pages = {"Ask": _markdown_bodies(at)}
    assert not any(b.label == "Original" for b in at.button)  # a javascript: URL gets no link button
    first = next(t for t in at.text_input if t.key and t.key.startswith("keep-name-"))
    first.set_value("![c](p.png) [click](evil) **b**")  # (a collection name holds no '/')
    at.text_area(key="keep-note-" + first.key.removeprefix("keep-name-")).set_value(
        "a note\n\n![n](http://127.0.0.1:9/n.png) [click](http://evil)")  # a blank line would end an HTML block
    next(b for b in at.button if b.label == "Save to collection").click().run()
    assert at.success and not at.error
    pages["Ask, kept"] = _markdown_bodies(at)
    for page in ("Read", "Library", "Collections"):
        at.sidebar.radio(key="page_radio").set_value(page).run()
        assert not at.exception, page
        pages[page] = _markdown_bodies(at)
    at.sidebar.radio(key="page_radio").set_value("Library").run()
    at.button(key="rm_ask").click().run()
    pages["Library, removing"] = _markdown_bodies(at)
    for page, bodies in pages.items():
        assert _links_and_images(bodies) == [], page
        if page != "Library":  # (there the titles are button labels, checked in the browser test below)
            assert any("click" in b for b, _ in bodies), page  # the title is there, as text
    assert any("127.0.0.1:9/p.png" in b.replace("\\", "") for b, _ in pages["Read"])


@pytest.mark.browser
def test_article_metadata_loads_nothing_and_links_nowhere_in_a_real_browser(tmp_path):
    """The same title in headless Chromium (Streamlit's own Markdown renderer): on the Ask, Read and
    Library pages no element loads from the title's address and no link points at it."""
    from playwright.sync_api import sync_playwright
    from .test_browser import CHROMIUM, FLAGS, _free_port
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make browser-deps)")
    evil = "![x](http://127.0.0.1:9/p.png) [click](http://evil.invalid/x) <img src=http://127.0.0.1:9/q.png> www.evil.invalid"
    aid = _kb_titled(tmp_path, evil)
    port = _free_port()
    env = dict(os.environ, KB_DIR=str(tmp_path / "kb"), KB_MODEL=HASH)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import urllib.request
        for _ in range(180):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        requests: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            pg = browser.new_page(viewport={"width": 1280, "height": 1400})
            pg.set_default_timeout(60_000)
            pg.on("request", lambda r: requests.append(r.url))
            from urllib.parse import quote
            for query, shows in ((f"?q={quote('海外仓 物流')}", "Answer"), (f"?page=Read&article={aid}", "Keywords"),
                                 ("?page=Library", "Remove an article")):
                pg.goto(url + "/" + query)
                pg.get_by_text(shows).first.wait_for()
                if "Library" in query:  # the list names the title (a button) and so does the removal question
                    pg.get_by_role("button", name="Remove…").click()
                    pg.get_by_text("waits in the trash until").first.wait_for()
                else:
                    pg.get_by_text("click").first.wait_for()  # the title, as text
                time.sleep(1)
                main = pg.locator("section.main, [data-testid='stMain']").first
                assert main.locator("img[src*='127.0.0.1:9']").count() == 0, query
                assert main.locator("a[href*='evil']").count() == 0, (query, main.locator("a[href*='evil']").evaluate_all(
                    "els => els.map(e => e.parentElement.outerHTML.slice(0, 400))"))
            browser.close()
        assert not [r for r in requests if "127.0.0.1:9/" in r or "evil.invalid" in r], requests
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# === Round three (issue #28) ======================================================================
def _redirect(to: str):
    def answer(sock):
        sock.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + to.encode() + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    return answer


def test_fetch_follows_only_http_and_no_private_address_unless_allowed(monkeypatch):
    from ingest import fetch as fetch_mod
    from kb.errors import ReadError
    refused_address = fetch_mod._refused_address
    good = _Raw(_page(("<html><head><title>公开页面</title></head><body><article><p>" + ZH + "</p></article></body></html>").encode()))
    port = good.srv.server_address[1]
    hops = {scheme: _Raw(_redirect(to)) for scheme, to in (
        ("ftp", f"ftp://127.0.0.1:{port}/page.html"), ("file", "file:///etc/passwd"), ("data", "data:text/html,<p>x"),
        ("http", good.url), ("other-loopback", f"http://127.0.0.2:{port}/page"))}
    try:
        with pytest.raises(ReadError, match=r"127\.0\.0\.1 is a loopback address \(127\.0\.0\.1\): .*KB_FETCH_PRIVATE=1"):
            fetch_mod.fetch(good.url)  # by default: this machine's services are not fetched
        with pytest.raises(ReadError, match="loopback address"):
            fetch_mod.fetch(f"http://localhost:{port}/page")
        assert "跨境电商" in fetch_mod.fetch(good.url, allow_private=True).text  # (KB_FETCH_PRIVATE=1)
        assert "跨境电商" in fetch_mod.fetch(hops["http"].url, allow_private=True).text  # an http redirect is followed
        for scheme in ("ftp", "file", "data"):
            with pytest.raises(ReadError, match="only http and https links are followed"):
                fetch_mod.fetch(hops[scheme].url, allow_private=True)
        # Each hop obeys the first URL's rules: here 127.0.0.2 stands for a private address.
        monkeypatch.setattr(fetch_mod, "_refused_address", lambda ip: "private" if ip == "127.0.0.2" else None)
        with pytest.raises(ReadError, match=r"127\.0\.0\.2 is a private address"):
            fetch_mod.fetch(hops["other-loopback"].url)
    finally:
        for s in (good, *hops.values()):
            s.close()
    for ip, kind in (("10.1.2.3", "private"), ("192.168.0.1", "private"), ("169.254.169.254", "link-local"),
                     ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("0.0.0.0", "unspecified"), ("93.184.215.14", None)):
        assert refused_address(ip) == kind, ip


@pytest.mark.slow
def test_the_watchdog_cuts_a_connect_that_hangs(monkeypatch):
    """The socket is watched from before its connect: a TLS handshake that never ends (a server
    that accepts and says nothing) is cut at the deadline, not left to the per-read timeout."""
    from ingest import fetch as fetch_mod
    from kb.errors import ReadError
    silent = _Raw(lambda sock: time.sleep(30))
    try:
        t0 = time.monotonic()
        with pytest.raises(ReadError, match="did not arrive within 2 s"):
            fetch_mod.fetch(silent.url.replace("http://", "https://"), timeout=20, deadline=2, allow_private=True)
        assert time.monotonic() - t0 < 6
    finally:
        silent.close()


def test_terminal_controls_are_stripped_on_the_way_in_and_escaped_on_the_way_out(tmp_path):
    import sqlite3 as _sqlite3
    env = {"KB_MODEL": HASH}
    kb = tmp_path / "kb"
    f = tmp_path / "a.txt"
    f.write_text("普通标题\n\n" + ZH, encoding="utf-8")
    assert run_cli("-m", "ingest", "--kb", str(kb), str(f), env_extra=env).returncode == 0
    aid = json.loads(run_cli("-m", "kb", "--kb", str(kb), "list", "--json", env_extra=env).stdout)[0]["id"]
    evil = "Clear\x1b[2J\x1b]52;c;aGVsbG8=\x07me \u202etxt.exe\x85"
    r = run_cli("-m", "kb", "--kb", str(kb), "edit", aid, "--title", evil, "--author", "作者\x1b[31m", env_extra=env)
    assert r.returncode == 0, r.stderr
    shown = json.loads(run_cli("-m", "kb", "--kb", str(kb), "show", aid, "--json", env_extra=env).stdout)
    assert shown["title"] == "Clear[2J]52;c;aGVsbG8=me txt.exe" and shown["author"] == "作者[31m"  # stripped on the way in
    # A KB written before this (or by another program) may hold them: escaped on the way out.
    db = _sqlite3.connect(kb / "kb.sqlite")
    db.execute("UPDATE articles SET title=?, source=? WHERE id=?", (evil, "源\x1b[2J", aid))
    db.commit()
    db.close()
    outs = [run_cli("-m", "kb", "--kb", str(kb), *args, env_extra=env).stdout
            for args in (("list",), ("show", aid), ("search", "跨境电商 海外仓"))]
    for out in outs:
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\x85" not in out, out
        assert "Clear\\x1b[2J" in out and "\\u202etxt.exe" in out
    hit = json.loads(run_cli("-m", "kb", "--kb", str(kb), "search", "--json", "跨境电商 海外仓", env_extra=env).stdout)["hits"][0]
    bib = run_cli("-m", "kb", "--kb", str(kb), "cite", "--format", "bibtex", hit["permalink"], env_extra=env).stdout
    assert "\x1b" not in bib and "\u202e" not in bib and "Clear[2J]52" in bib


def test_arguments_that_are_not_text_in_the_locale_are_one_line_naming_them(tmp_path):
    """Bytes that are not UTF-8 in `search` queries, `--source`, `edit --title/--author` and
    collection names ended in a UnicodeEncodeError traceback (issue #28)."""
    kb = tmp_path / "kb"
    f = tmp_path / "a.txt"
    f.write_text("标题\n\n" + ZH, encoding="utf-8")
    assert run_cli("-m", "ingest", "--kb", str(kb), str(f), env_extra=ENV).returncode == 0
    aid = json.loads(run_cli("-m", "kb", "--kb", str(kb), "list", "--json", env_extra=ENV).stdout)[0]["id"]
    env = dict(os.environ, **ENV, LC_ALL="C.UTF-8")
    for args, label, shown in (
            (["search", b"\xff\xfe caf\xe9"], "query", "\\xff\\xfe caf\\xe9"),
            (["search", "跨境电商", "--source", b"\xb0\xa1"], "--source", "\\xb0\\xa1"),
            (["edit", aid, "--title", b"T\xff"], "--title", "T\\xff"),
            (["edit", aid, "--author", "作者".encode("gbk")], "--author", "\\xd7\\xf7\\xd5\\xdf"),
            (["collection", "add", b"n\xff", "x"], "name", "n\\xff"),
            (["collection", "show", b"n\xff"], "name", "n\\xff")):
        r = subprocess.run([sys.executable, "-m", "kb", "--kb", str(kb), *args], cwd=ROOT, env=env, capture_output=True,
                           timeout=120)
        err = r.stderr.decode("utf-8")
        assert r.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (args, err)
        assert err.startswith(f"kb: {label}: '{shown}' is not utf-8 text (the byte 0x"), (args, err)
    shown = json.loads(run_cli("-m", "kb", "--kb", str(kb), "show", aid, "--json", env_extra=ENV).stdout)
    assert shown["title"] == "标题" and not shown["author"]  # nothing was written


def test_emptying_the_trash_deletes_an_uploaded_articles_bytes_and_leaves_other_files(tmp_path):
    """A removed article's uploaded bytes stay while it can be restored; emptying the trash
    deletes them (the API's, the app's and the CLI's uploads alike), never a file of the user's."""
    from kb.view import upload_path
    kb = tmp_path / "kb"
    data = ("上传的文章\n\n" + ZH).encode()
    up = upload_path(kb / "uploads", "上传.txt", data)
    up.parent.mkdir(parents=True)
    up.write_bytes(data)
    mine = tmp_path / "mine.txt"
    mine.write_text("自己的文章\n\n" + ZH[::-1], encoding="utf-8")
    assert run_cli("-m", "ingest", "--kb", str(kb), str(up), str(mine), env_extra=ENV).returncode == 0
    arts = {a["title"]: a["id"] for a in json.loads(run_cli("-m", "kb", "--kb", str(kb), "list", "--json",
                                                            env_extra=ENV).stdout)}
    for title in ("上传的文章", "自己的文章"):
        r = run_cli("-m", "kb", "--kb", str(kb), "remove", arts[title], env_extra=ENV)
        assert r.returncode == 0, r.stderr
    assert up.exists()  # restorable: kept
    r = run_cli("-m", "kb", "--kb", str(kb), "trash", "--empty", env_extra=ENV)
    assert r.returncode == 0 and "2 removed articles dropped for good" in r.stdout, r.stderr
    assert not up.exists() and not up.parent.exists() and (kb / "uploads").is_dir()
    assert mine.exists()  # a file ingested from elsewhere is the user's
