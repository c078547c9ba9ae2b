"""Every hostile input is ingested correctly or rejected with one line naming it; the rest of
the batch and the existing KB are untouched; memory stays bounded."""
from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys

import pytest

from .fakes import HASH
from .conftest import ROOT, SEED
from .hostile import build

pytestmark = pytest.mark.process  # real processes: killed, run side by side, measured

ENV = {"KB_MODEL": HASH}


def test_hostile_catalogue(tmp_path):
    import os
    env = dict(os.environ, **ENV)
    kb = tmp_path / "kb"
    subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), str(SEED)], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    before = sqlite3.connect(kb / "kb.sqlite").execute("SELECT id, content_hash, text FROM articles").fetchall()
    cases = build(tmp_path / "hostile")
    assert len(cases) >= 30
    r = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), str(tmp_path / "hostile")] +
                       [str(tmp_path / "hostile" / n) for n, *_ in cases if "loop" in n or n in ("fifo.txt", "unreadable.txt")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
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
    print("HOSTILE-REPORT", json.dumps({"inputs": len(cases), "peak_rss_mb": round(peak_mb),
                                        "outcomes": outcomes}, ensure_ascii=False))
