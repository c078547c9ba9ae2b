"""Near-duplicate articles: MinHash over jieba word shingles (datasketch).

The same story reposted by two sites differs in page noise and small edits; its shingle sets
still overlap heavily, while different articles barely share 3-word shingles. The threshold
comes from benchmarks/dedup.py (figures in benchmarks/README.md).
"""
from __future__ import annotations

import numpy as np

from .text import tokenize

NUM_PERM = 128
THRESHOLD = 0.5
SHINGLE = 3
SCHEME = "affine32"  # datasketch 2.x default; stored signatures must be read with the same one


def signature(text: str) -> np.ndarray:
    """MinHash hash values (uint64, NUM_PERM) of the article's 3-word shingles."""
    from datasketch import MinHash

    toks = tokenize(text)
    shingles = {" ".join(toks[i:i + SHINGLE]) for i in range(max(1, len(toks) - SHINGLE + 1))}
    m = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME)
    m.update_batch([s.encode("utf-8") for s in shingles])
    return m.hashvalues.astype(np.uint64)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


class DuplicateFinder:
    """Every stored signature in one matrix; a new article is compared with all of them at once
    (a vectorised comparison: ~5 ms for 30,000 articles, and no index to build, which an LSH
    index built on first use took seconds to do for a large KB)."""

    _GONE = np.iinfo(np.uint64).max  # a removed row: hash values stay below 2**32, so never equal

    def __init__(self, threshold: float = THRESHOLD):
        self.threshold = threshold
        self.rows: dict[str, int] = {}
        self.ids: list[str | None] = []
        self.matrix = np.zeros((0, NUM_PERM), np.uint64)

    def load(self, ids: list[str], blobs: list[bytes]) -> None:
        """Start from these stored signatures, with room to add more without copying."""
        n = len(ids)
        self.ids = list(ids)
        self.rows = {a: i for i, a in enumerate(ids)}
        self.matrix = np.full((n + max(1024, n // 8), NUM_PERM), self._GONE, np.uint64)
        for i in range(0, n, 20_000):
            chunk = blobs[i:i + 20_000]
            self.matrix[i:i + len(chunk)] = np.frombuffer(b"".join(chunk), np.uint64).reshape(len(chunk), NUM_PERM)

    def add(self, article_id: str, sig: np.ndarray) -> None:
        self.remove(article_id)
        n = len(self.ids)
        if n == len(self.matrix):
            grown = np.full((max(1024, n + n // 4), NUM_PERM), self._GONE, np.uint64)
            grown[:n] = self.matrix
            self.matrix = grown
        self.matrix[n] = sig
        self.ids.append(article_id)
        self.rows[article_id] = n

    def remove(self, article_id: str) -> None:
        row = self.rows.pop(article_id, None)
        if row is not None:
            self.matrix[row] = self._GONE
            self.ids[row] = None

    def best_match(self, sig: np.ndarray, exclude: str | None = None) -> tuple[str, float] | None:
        """The most similar stored article at or above the threshold, with its similarity."""
        n = len(self.ids)
        if not n:
            return None
        sims = (self.matrix[:n] == sig).mean(axis=1)
        if exclude in self.rows:
            sims[self.rows[exclude]] = -1
        best = int(np.argmax(sims))
        if sims[best] < self.threshold:
            return None
        return self.ids[best], float(sims[best])
