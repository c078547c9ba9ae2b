"""Derived search indexes: FAISS for vectors, bm25s for lexical terms.

Both map their internal rows to SQLite ids here, so row numbers never leave this module.
Both are rebuilt from SQLite by ``kb rebuild`` and saved as plain files (no pickle).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


class DenseIndex:
    """Exact inner-product search over L2-normalised vectors, keyed by SQLite row id."""

    def __init__(self, dim: int, index=None):
        import faiss
        self.dim = dim
        self._faiss = faiss
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids, vecs: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, q: np.ndarray, k: int, allowed: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (ids, scores) for one query vector, optionally only among ``allowed`` ids."""
        if len(self) == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        params = None
        if allowed is not None:
            if not allowed:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            params = self._faiss.SearchParameters(sel=self._faiss.IDSelectorBatch(np.fromiter(allowed, np.int64)))
        scores, ids = self.index.search(np.ascontiguousarray(q.reshape(1, -1), dtype=np.float32), min(k, len(self)),
                                        params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def vectors(self, ids) -> np.ndarray:
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def save(self, path: Path) -> None:
        self._faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> "DenseIndex":
        import faiss
        return cls(dim, faiss.read_index(str(path)))


class LexicalIndex:
    """BM25 (bm25s) over the lexical terms of ``kb.text.tokenize``, keyed by passage id."""

    def __init__(self, retriever=None, ids: np.ndarray | None = None):
        self.retriever = retriever
        self.ids = ids if ids is not None else np.zeros(0, np.int64)
        self._row = {int(p): i for i, p in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: list[int], docs: list[list[str]]) -> "LexicalIndex":
        if not ids:
            return cls()
        import bm25s
        retriever = bm25s.BM25()
        # bm25s needs at least one token per document to size its matrix; "" is its empty token.
        retriever.index([d if d else [""] for d in docs], show_progress=False)
        return cls(retriever, np.asarray(ids, dtype=np.int64))

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every indexed passage (aligned with ``self.ids``) for the query terms."""
        if self.retriever is None:
            return np.zeros(0, np.float32)
        tids = self.retriever.get_tokens_ids([t for t in terms if t])
        if not tids:
            return np.zeros(len(self.ids), np.float32)
        return self.retriever.get_scores(tids)

    def idf(self, term: str) -> float:
        """Lucene-style IDF of ``term`` (full IDF for a term no passage has)."""
        if self.retriever is None:
            return 1.0
        indptr = self.retriever.scores["indptr"]
        n = float(self.retriever.scores["num_docs"])
        tid = self.retriever.vocab_dict.get(term)
        df = float(indptr[tid + 1] - indptr[tid]) if tid is not None and tid + 1 < len(indptr) else 0.0
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def ideal_score(self, terms: list[str]) -> float:
        """BM25 of a passage of average length holding each query term once: the scale that
        makes scores comparable across queries. Terms absent from the index count at full IDF,
        so a query only partly matched (say, an English question whose only shared term with a
        Chinese passage is "TikTok") scores low."""
        if self.retriever is None or not terms:
            return 0.0
        return sum(self.idf(t) for t in terms)

    def row_of(self, pid: int) -> int | None:
        return self._row.get(int(pid))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", self.ids, allow_pickle=False)
        if self.retriever is not None:
            self.retriever.save(str(folder), allow_pickle=False)
        for f in folder.iterdir():
            _fsync(f)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        ids = np.load(folder / "ids.npy", allow_pickle=False)
        if len(ids) == 0:
            return cls()
        import bm25s
        retriever = bm25s.BM25.load(str(folder), mmap=False, allow_pickle=False)
        return cls(retriever, ids)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)
