"""Starting Milvus Lite: waited for until it answers, and a held file named only when it is held.

``pymilvus.MilvusClient(path)`` starts the Lite server (a child process) and gives it half a
second before connecting; on a busy machine the server has not made its socket yet, the
connection fails at once, and the one message pymilvus has ("Open local milvus failed") was read
as "another process holds the file" (issue #29: a fresh folder under load). Here the server is
started first and its socket polled until it answers (``START_S`` at most); a start that fails
says why: another process holds the file (found by trying its lock, and that process named), the
server exited, or it did not answer in time. ``kb.backends.milvus.client`` calls ``start``
before connecting; pymilvus then finds the server already running.
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import KBError

START_S = 120    # the longest wait for a Lite server to answer (it took ~1 s on a quiet machine here)
SLOW_S = 5       # a start slower than this says so on stderr
TRIES = 3        # starts of a server that exits at once, before giving up
CONCURRENT = "Use a Milvus server (KB_MILVUS_URI=http://…) for concurrent use"


def lock_path(db: str | Path) -> Path:
    """The lock file Milvus Lite holds beside its database file (``.NAME.lock``)."""
    db = Path(db)
    return db.with_name(f".{db.name}.lock")


def _running(db: str | Path) -> bool:
    """Whether this process runs the Lite server of ``db`` (milvus-lite's manager knows it)."""
    from milvus_lite.server_manager import server_manager_instance as manager
    return str(Path(db).absolute().resolve()) in manager._servers


def holder(db: str | Path) -> int | None:
    """The process holding the Lite file ``db`` (its pid; 0 when held but the pid is not
    found), or None when no process holds it. Probed by trying its lock without waiting — never
    in the process that holds it (a POSIX lock is dropped when any of the process's descriptors
    of the file closes: the probe would free it)."""
    if _running(db):
        return os.getpid()
    try:
        fd = os.open(lock_path(db), os.O_RDWR)
    except OSError:
        return None  # no lock file: nobody holds it
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                return None
            return _lock_owner(os.fstat(fd).st_ino) or 0
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _lock_owner(inode: int | None) -> int | None:
    """The pid /proc/locks gives for a POSIX lock on this inode (None where there is none, or it
    cannot be read)."""
    if inode is None:
        return None
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) > 5 and parts[1] == "POSIX" and parts[5].rsplit(":", 1)[-1] == str(inode):
            try:
                return int(parts[4])
            except ValueError:
                return None
    return None


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    text = " ".join(Path(words[0]).name if i == 0 else w for i, w in enumerate(words))
    return text if len(text) <= 80 else text[:77] + "…"


def held_message(db: str, pid: int) -> str:
    who = f"process {pid} ({_command(pid)})" if pid and _command(pid) else (f"process {pid}" if pid else "another process")
    return (f"{db}: cannot open Milvus (Milvus Lite serves one process at a time, and {who} has this file open: "
            f"is the app or another command using this KB? {CONCURRENT})")


def _answers(sock: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(sock)
        return True
    except OSError:
        return False
    finally:
        s.close()


def start(db: str) -> None:
    """Start this process's Lite server for the file ``db`` (once; later calls find it running)
    and return when its socket answers. Raises KBError naming what happened: the file held by
    another process, a server that exited, one that did not answer within START_S."""
    from milvus_lite.server_manager import server_manager_instance as manager
    key = str(Path(db).absolute().resolve())
    t0 = time.monotonic()
    if not _running(db):
        # Asked before starting: a start that fails on a held file has milvus-lite delete that
        # file's lock file as it cleans up (the holder keeps its lock on the unlinked file, and a
        # later start would make a new one and open the database a second time).
        pid = holder(db)
        if pid is not None:
            raise KBError(held_message(db, pid))
    for tries in range(1, TRIES + 1):
        inode = _inode(lock_path(db))
        uri = manager.start_and_get_uri(db)
        if uri is not None:
            break
        pid = holder(db)
        if pid is None:
            pid = _lock_owner(inode)  # (taken just now by another process, its lock file since unlinked)
        if pid is not None:
            raise KBError(held_message(db, pid))
        if tries == TRIES:
            raise KBError(f"{db}: cannot open Milvus (the Milvus Lite server exited as it started, {TRIES} times; "
                          f"is {Path(db).parent} writable, with space left?)")
        time.sleep(0.5)
    server = manager._servers.get(key)  # (its child process, to notice it exit)
    proc = getattr(server, "_p", None)
    sock = uri.removeprefix("unix:")
    while not _answers(sock):
        waited = time.monotonic() - t0
        if proc is not None and proc.poll() is not None:
            manager.release_server(db)
            raise KBError(f"{db}: cannot open Milvus (the Milvus Lite server exited while starting, status "
                          f"{proc.returncode}, after {waited:.1f} s)")
        if waited > START_S:
            manager.release_server(db)
            raise KBError(f"{db}: cannot open Milvus (the Milvus Lite server did not answer within {START_S} s of "
                          "starting: the machine is very busy, or the server hung); try again")
        time.sleep(0.05)
    took = time.monotonic() - t0
    if took > SLOW_S:
        print(f"kb: Milvus Lite took {took:.0f} s to start ({db}): a busy machine", file=sys.stderr, flush=True)
