"""The sentence base: every base passage's sentences and their vectors, for scoring a search's
leading candidates without reading SQLite (written by the index lifecycle, ``kb.indexes``)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import IndexUnavailable
from .files import fsync_path
from .records import SentenceRef


class SentenceBase:
    """The sentences of the base's passages, for the full scoring of a search's leading
    candidates: each passage's sentences as (sentence id, seq, start, end) in memory, and their
    vectors in half precision on disk, a passage's rows together. Read from SQLite, scoring 15
    passages' ~100 sentences costs ~0.9 ms after an embedding, most of it SQLite's per-row work
    and Python's per-row objects; from these files, a few array lookups and one read a passage
    (benchmarks/README.md). The vectors are read, not memory-mapped: mapped pages stay counted in
    the process's memory (the kernel maps 64 kB around each page a search touches), and at a
    million passages the file is 2.6 GB.

    Written with the dense base (at each compaction, from SQLite), never changed after: a
    passage added since is read from SQLite instead (``kb.indexes.Indexes.lead``)."""

    FILES = ("pids.npy", "offsets.npy", "sids.npy", "spans.npy", "vectors.f16", "shape.json")

    def __init__(self, pids: np.ndarray, offsets: np.ndarray, sids: np.ndarray, spans: np.ndarray,
                 vectors, dim: int):
        self.pids = pids          # passage ids, ascending
        self.offsets = offsets    # passage i's sentences are rows offsets[i]:offsets[i+1]
        self.sids = sids          # sentence id of each row
        self.spans = spans        # (seq, start, end) of each row
        self.vectors = vectors    # vectors.f16, open: float16 rows of ``dim``
        self.dim = dim
        self.stale: set[int] = set()  # passages removed since (an id may come back for a new passage)

    def close(self) -> None:
        self.vectors.close()

    def forget(self, pids) -> None:
        self.stale.update(int(p) for p in pids)

    def __len__(self) -> int:
        return len(self.pids)

    def lookup(self, pids: list[int]) -> tuple[dict[int, list[tuple]], np.ndarray]:
        """For the passages among ``pids`` that the base holds: their sentences as (id, seq,
        start, end, row), where ``row`` indexes the returned float32 vector matrix."""
        n = len(self.pids)
        if self.stale:
            pids = [p for p in pids if p not in self.stale]
        if not n or not pids:
            return {}, np.zeros((0, self.dim), np.float32)
        want = np.asarray(pids, np.int64)
        pos = np.minimum(np.searchsorted(self.pids, want), n - 1)
        found = self.pids[pos] == want
        lo, hi = self.offsets[pos[found]], self.offsets[pos[found] + 1]
        rows = np.concatenate([np.arange(a, b) for a, b in zip(lo.tolist(), hi.tolist())]) if len(lo) else lo
        sids, spans = self.sids[rows].tolist(), self.spans[rows].tolist()
        out: dict[int, list[tuple]] = {}
        at, row, fd = 0, 2 * self.dim, self.vectors.fileno()
        blobs = []
        for pid, a, b in zip(want[found].tolist(), lo.tolist(), hi.tolist()):
            out[pid] = [SentenceRef(sids[r], *spans[r], r) for r in range(at, at + b - a)]
            at += b - a
            blobs.append(os.pread(fd, (b - a) * row, a * row))
        vecs = np.frombuffer(b"".join(blobs), np.float16)
        if len(vecs) != at * self.dim:
            raise IndexUnavailable(f"{self.vectors.name} ends early (a damaged index file): rebuild the indexes with "
                                   "`python -m kb rebuild`")
        return out, vecs.reshape(at, self.dim).astype(np.float32)

    @classmethod
    def write(cls, folder: Path, chunks, dim: int) -> None:
        """Write from ``chunks`` of (passage ids, sentence ids, (seq, start, end) rows, float32
        vectors), one row per sentence, in passage id then seq order."""
        folder.mkdir(parents=True, exist_ok=True)
        pids, counts, sids, spans = [], [], [], []
        rows = 0
        with open(folder / "vectors.f16", "wb") as f:
            for p, sid, span, vecs in chunks:
                f.write(np.ascontiguousarray(vecs, np.float16).tobytes())
                rows += len(p)
                starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
                pids.append(p[starts])
                counts.append(np.diff(np.r_[starts, len(p)]))
                sids.append(sid)
                spans.append(span)
        cat = (lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt))
        np.save(folder / "pids.npy", cat(pids, np.int64))
        np.save(folder / "offsets.npy", np.r_[0, np.cumsum(cat(counts, np.int64))].astype(np.int64))
        np.save(folder / "sids.npy", cat(sids, np.int64))
        np.save(folder / "spans.npy", np.concatenate(spans).astype(np.int32) if spans else np.zeros((0, 3), np.int32))
        (folder / "shape.json").write_text(json.dumps({"rows": rows, "dim": dim}))
        for name in cls.FILES:
            fsync_path(folder / name)

    @classmethod
    def load(cls, folder: Path, dim: int) -> "SentenceBase":
        shape = json.loads((folder / "shape.json").read_text())
        if shape["dim"] != dim:
            raise ValueError(f"{folder.name} holds {shape['dim']}-d sentence vectors, the KB {dim}-d")
        pids, offsets = np.load(folder / "pids.npy"), np.load(folder / "offsets.npy")
        sids, spans = np.load(folder / "sids.npy"), np.load(folder / "spans.npy")
        rows = int(shape["rows"])
        if not (len(offsets) == len(pids) + 1 and offsets[-1] == rows == len(sids) == len(spans)):
            raise ValueError(f"{folder.name}: its files disagree on the number of sentences")
        if len(offsets) and (offsets[0] != 0 or np.any(np.diff(offsets) < 0)) or np.any(np.diff(pids) <= 0):
            raise ValueError(f"{folder.name}: its offsets or passage ids are out of order (a damaged file)")
        size = (folder / "vectors.f16").stat().st_size
        if size != rows * dim * 2:
            raise ValueError(f"{folder.name}/vectors.f16 holds {size} bytes, not {rows} x {dim} half floats")
        # Kept open: a writer may replace these files meanwhile, and the open file stays readable.
        return cls(pids, offsets, sids, spans, open(folder / "vectors.f16", "rb", buffering=0), dim)


