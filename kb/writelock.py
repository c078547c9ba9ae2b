"""The KB's one write lock: one writer at a time, across processes and across the threads of one.

A file lock (``write.lock`` in the KB folder, ``filelock``) keeps other processes out; a thread
lock under it keeps out the other threads of this process (the API's request threads, the app's
sessions, which share one ``KnowledgeBase``). The thread holding it may enter again (an ingest
inside ``kb.writer()`` calls ``kb.writer()`` too). ``KnowledgeBase.writer`` takes it;
``Indexes`` asks ``is_free`` before saving what another process may be changing.
"""
from __future__ import annotations

import threading
from pathlib import Path

from .errors import KBLocked

NAME = "write.lock"


class WriteLock:
    def __init__(self, folder: Path):
        self.path = Path(folder) / NAME
        self._threads = threading.Lock()
        self._owner: int | None = None  # the thread holding it
        self._file = None

    def mine(self) -> bool:
        """Whether the calling thread holds it."""
        return self._owner == threading.get_ident()

    @property
    def held(self) -> bool:
        """Whether a thread of this process holds it."""
        return self._owner is not None

    def acquire(self, timeout: float, on_wait=None) -> None:
        """Take it, waiting up to ``timeout`` seconds (0: not at all) for another writer; raises
        KBLocked naming who holds it. ``on_wait(message)`` is told once when it has to wait."""
        from filelock import FileLock, Timeout
        if not self._threads.acquire(timeout=0):
            if timeout <= 0:
                raise KBLocked("another write to this knowledge base is running; try again when it has finished")
            if on_wait is not None:
                on_wait(f"another write to {self.path.parent} is running in this program; waiting for it to finish…")
            if not self._threads.acquire(timeout=timeout):
                raise KBLocked(f"{self.path.parent} stayed locked by another writer for {timeout:.0f} s; giving up")
        lock = FileLock(str(self.path))
        try:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if timeout <= 0:
                    raise KBLocked(f"another process is writing to {self.path.parent}; try again when it has finished") from None
                if on_wait is not None:
                    on_wait(f"another process is writing to {self.path.parent}; waiting for it to finish…")
                try:
                    lock.acquire(timeout=timeout)
                except Timeout:
                    raise KBLocked(f"{self.path.parent} stayed locked by another writer for {timeout:.0f} s; giving up") from None
        except BaseException:
            self._threads.release()
            raise
        self._file, self._owner = lock, threading.get_ident()

    def release(self) -> None:
        lock, self._file, self._owner = self._file, None, None
        try:
            if lock is not None:
                lock.release()
        finally:
            self._threads.release()

    def is_free(self) -> bool:
        """Whether no one holds it: no thread here, no other process (probed without waiting)."""
        if self.held:
            return False
        return is_free(self.path.parent)


def is_free(folder: Path) -> bool:
    """Whether no process holds the write lock of the KB in ``folder`` (probed without waiting)."""
    from filelock import FileLock, Timeout
    lock = FileLock(str(Path(folder) / NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    lock.release()
    return True
