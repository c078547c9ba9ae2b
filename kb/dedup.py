"""Near-duplicate articles: MinHash over jieba word shingles (datasketch).

The same story reposted by two sites differs in page noise and small edits; its shingle sets
still overlap heavily, while different articles barely share 3-word shingles. The threshold
comes from benchmarks/dedup.py (figures in benchmarks/README.md).
"""
from __future__ import annotations

import numpy as np

NUM_PERM = 128
THRESHOLD = 0.5
SHINGLE = 3
SCHEME = "affine32"  # datasketch 2.x default; stored signatures must be read with the same one


def signature(text: str) -> np.ndarray:
    """MinHash hash values (uint64, NUM_PERM) of the article's 3-word shingles."""
    from datasketch import MinHash

    from .text import tokenize
    toks = tokenize(text)
    shingles = {" ".join(toks[i:i + SHINGLE]) for i in range(max(1, len(toks) - SHINGLE + 1))}
    m = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME)
    m.update_batch([s.encode("utf-8") for s in shingles])
    return m.hashvalues.astype(np.uint64)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


class DuplicateFinder:
    """An LSH index over the stored signatures, built on first use."""

    def __init__(self, threshold: float = THRESHOLD):
        from datasketch import MinHashLSH
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.sigs: dict[str, np.ndarray] = {}

    def _mh(self, sig: np.ndarray):
        from datasketch import MinHash
        return MinHash(num_perm=NUM_PERM, seed=1, hashvalues=sig, scheme=SCHEME)

    def add(self, article_id: str, sig: np.ndarray) -> None:
        if article_id in self.sigs:
            self.remove(article_id)
        self.sigs[article_id] = sig
        self.lsh.insert(article_id, self._mh(sig))

    def remove(self, article_id: str) -> None:
        if article_id in self.sigs:
            self.lsh.remove(article_id)
            del self.sigs[article_id]

    def best_match(self, sig: np.ndarray, exclude: str | None = None) -> tuple[str, float] | None:
        """The most similar stored article at or above the threshold, with its similarity."""
        best = None
        for cand in self.lsh.query(self._mh(sig)):
            if cand == exclude:
                continue
            s = similarity(sig, self.sigs[cand])
            if s >= self.threshold and (best is None or s > best[1]):
                best = (cand, s)
        return best
