"""Crash safety and concurrency: SIGKILL an ingest at random moments, search while ingesting,
two ingests at once. Uses the fake hash embedder; storage and indexes are all real."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .fakes import HASH
from .conftest import ROOT, SEED, open_kb

pytestmark = pytest.mark.process  # real processes: killed, run side by side, measured

KILLS = int(os.environ.get("KB_TEST_KILLS", "20"))
ENV = dict(os.environ, KB_MODEL=HASH)


def make_batch(folder: Path, n: int = 120, tag: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    seed = SEED.read_text(encoding="utf-8").split("\n")
    body = [ln for ln in seed if len(ln) > 30]
    rng = random.Random(7)
    for i in range(n):
        lines = rng.sample(body, 6)
        (folder / f"a{i:03d}.txt").write_text(f"文章{tag}{i}\n\n" + "\n\n".join(lines) + f"\n\n编号{i}的结尾句。\n", encoding="utf-8")
    return folder


def ingest_cmd(kb: Path, src: Path) -> list[str]:
    return [sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", str(src)]


def check_consistent(kb_path: Path) -> int:
    """Open the KB as a new user would and check that SQLite, FAISS and BM25 agree."""
    kb = open_kb(kb_path, model=HASH)
    try:
        kb.ensure_indexes()
        db = kb.store.db
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        pids = {r[0] for r in db.execute("SELECT id FROM passages")}
        dense_ids = kb.indexes.vector.ids().tolist()
        assert len(dense_ids) == len(set(dense_ids)) and set(dense_ids) == pids
        assert sorted(kb.indexes.lexical.ids().tolist()) == sorted(pids)
        # No half-present article: each has passages and sentences, and its passages cover its sentences.
        for aid, n_s, hi in db.execute("SELECT a.id, (SELECT COUNT(*) FROM sentences s WHERE s.article_id=a.id),"
                                       " (SELECT MAX(sent_hi) FROM passages p WHERE p.article_id=a.id) FROM articles a"):
            assert n_s > 0 and hi == n_s, aid
        assert db.execute("SELECT COUNT(*) FROM passages WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0] == 0
        if pids:
            assert kb.search("跨境电商 全托管", k=3)
        return db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        kb.close()


def _timed_ingest(kb: Path, src: Path) -> float:
    t = time.time()
    subprocess.run(ingest_cmd(kb, src), cwd=ROOT, env=ENV, check=True, capture_output=True)
    return time.time() - t


def test_sigkill_during_ingest_never_corrupts_and_rerun_completes(tmp_path):
    n_files = 300
    one = make_batch(tmp_path / "one", 1, tag="one")
    t_start = _timed_ingest(tmp_path / "ref1", one)  # process start-up on this machine, now
    batches = [make_batch(tmp_path / "src0", n_files, tag="b0")]
    t_full = _timed_ingest(tmp_path / "ref", batches[0])
    per_file = max(0.005, (t_full - t_start) / n_files)  # re-estimated from every run below
    kb = tmp_path / "kb"
    rng = random.Random(int(os.environ.get("KB_TEST_SEED", "1")))
    kills, mid_write, counts, before = 0, 0, [], 0
    for _ in range(4 * KILLS):
        if kills >= KILLS:
            break
        if before >= n_files * len(batches):  # batch done: kill the next one
            batches.append(make_batch(tmp_path / f"src{len(batches)}", n_files, tag=f"b{len(batches)}"))
        # aim for about n_files / KILLS new articles per run, so the kills spread over the batch
        delay = t_start + rng.uniform(0.3, 1.7) * per_file * n_files / KILLS
        p = subprocess.Popen(ingest_cmd(kb, batches[-1]), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        killed = p.poll() is None
        if killed:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        if not (kb / "kb.sqlite").exists():
            continue
        now = check_consistent(kb)
        assert now >= before  # nothing committed is ever lost
        if killed and now > before:
            mid_write += 1
            per_file = 0.5 * per_file + 0.5 * max(0.005, (delay - t_start) / (now - before))
        elif killed:  # killed before its first article was written: start-up takes longer than measured
            t_start *= 1.2
        counts.append(now)
        before = now
    assert kills == KILLS
    assert mid_write >= KILLS // 2, (counts, mid_write)  # most kills land while articles are being written
    r = subprocess.run(ingest_cmd(kb, batches[-1]), cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert check_consistent(kb) == n_files * len(batches)
    report = {"kills": kills, "consistent_after_each": True, "killed_mid_write": mid_write,
              "articles_after_each_run": counts, "batches_of_300": len(batches), "clean_run_s": round(t_full, 1)}
    print("KILL-REPORT", json.dumps(report))


def test_searches_while_ingesting_see_old_or_new_state_without_errors(tmp_path):
    src = make_batch(tmp_path / "src", 150)
    kb_path = tmp_path / "kb"
    first = make_batch(tmp_path / "first", 5, tag="first")
    subprocess.run(ingest_cmd(kb_path, first), cwd=ROOT, env=ENV, check=True, capture_output=True)
    kb = open_kb(kb_path, model=HASH)
    errors, done, n, lock = [], threading.Event(), [0], threading.Lock()

    def searcher():
        while not done.is_set():
            try:
                hits = kb.search("跨境电商 全托管 风险", k=5)
                assert hits and all(kb.store.article(h.article_id) is not None for h in hits)
                with lock:
                    n[0] += 1
            except Exception as e:  # noqa: BLE001 - any error fails the test
                errors.append(repr(e))

    # Three threads share one KB object, as the app's browser sessions do, while another
    # process ingests; the CLI searches the same KB from its own process meanwhile.
    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    t0 = time.time()
    ing = subprocess.Popen(ingest_cmd(kb_path, src), cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    cli_runs = 0
    while ing.poll() is None:
        c = subprocess.run([sys.executable, "-m", "kb", "--kb", str(kb_path), "search", "--json", "跨境电商 全托管"],
                           cwd=ROOT, env=ENV, capture_output=True, text=True)
        if c.returncode != 0 or not json.loads(c.stdout)["hits"]:
            errors.append("cli: " + c.stderr[-300:])
        cli_runs += 1
    _, err = ing.communicate()
    secs = time.time() - t0
    done.set()
    for t in threads:
        t.join()
    assert ing.returncode == 0, err
    assert errors == []
    assert cli_runs >= 1
    assert n[0] > 10
    assert kb.store.counts()["articles"] == 155
    assert len(kb.search("编号149的结尾句", k=3)) > 0
    print("CONCURRENCY-REPORT", json.dumps({"searches": n[0], "cli_searches": cli_runs, "seconds": round(secs, 1),
                                            "searches_per_s": round(n[0] / secs, 1), "errors": len(errors)}))
    kb.close()


def wait_until_locked(kb: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Return once ``proc`` holds the KB's write lock (a second FileLock cannot take it)."""
    from filelock import FileLock, Timeout
    lock = FileLock(str(kb / "write.lock"))
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return
        lock.release()
        time.sleep(0.05)
    pytest.fail(f"the first ingest never held the write lock (exit code {proc.poll()})")


def test_second_ingest_waits_for_the_first(tmp_path):
    # Timing-free: the second ingest starts once the first holds the lock, and the first has
    # enough files (300, several seconds) to still hold it when the second has imported.
    src = make_batch(tmp_path / "src", 300)
    other = make_batch(tmp_path / "other", 3, tag="other")
    kb = tmp_path / "kb"
    subprocess.run(ingest_cmd(kb, make_batch(tmp_path / "init", 1, tag="init")), cwd=ROOT, env=ENV, check=True, capture_output=True)
    a = subprocess.Popen(ingest_cmd(kb, src), cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_locked(kb, a)
    b = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), str(other)], cwd=ROOT, env=ENV,
                       capture_output=True, text=True, timeout=300)
    a.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0
    assert "another process is writing" in b.stderr, b.stderr
    assert check_consistent(kb) == 304
