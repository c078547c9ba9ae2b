"""A vector index in plain numpy: exact brute force over a matrix.

The oracle of the index contract tests (``tests/test_backends.py``), and the example of adding
a backend: this one class, registered beside the embedded lexical index, runs a whole KB.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kb.backends import Capabilities


class NumpyIndex(Capabilities):
    exact = True

    def __init__(self, dim: int, ids: np.ndarray | None = None, vecs: np.ndarray | None = None):
        self.dim = dim
        self._ids = np.zeros(0, np.int64) if ids is None else np.asarray(ids, np.int64)
        self._vecs = np.zeros((0, dim), np.float32) if vecs is None else np.asarray(vecs, np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids, vecs) -> None:
        self._ids = np.concatenate([self._ids, np.asarray(ids, np.int64)])
        self._vecs = np.vstack([self._vecs, np.asarray(vecs, np.float32).reshape(-1, self.dim)])

    def remove(self, ids) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, np.int64))
        self._ids, self._vecs = self._ids[keep], self._vecs[keep]

    def search(self, q, k, allowed=None):
        ids, vecs = self._ids, self._vecs
        if allowed is not None:
            sel = np.isin(ids, allowed.id_array("NumpyIndex"))
            ids, vecs = ids[sel], vecs[sel]
        sims = vecs @ np.asarray(q, np.float32)
        top = np.argsort(-sims, kind="stable")[:max(0, k)]
        return ids[top], sims[top]

    def vectors(self, ids) -> np.ndarray:
        row = {int(i): r for r, i in enumerate(self._ids.tolist())}
        out = np.zeros((len(ids), self.dim), np.float32)
        for j, i in enumerate(ids):
            if int(i) in row:
                out[j] = self._vecs[row[int(i)]]
        return out

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def describe(self) -> dict:
        return {"kind": "numpy", "vectors": len(self), "summary": f"numpy brute force ({len(self)} vectors)"}

    def suits(self, n, params) -> bool:
        return True

    def save(self, folder: Path, stem: str) -> dict:
        name = f"{stem}.npz"
        with open(folder / name, "wb") as f:
            np.savez(f, ids=self._ids, vecs=self._vecs)
        return {"file": name, "files": [name], "kind": "numpy"}

    @classmethod
    def build(cls, dim, ids, vecs, params) -> "NumpyIndex":
        return cls(dim, ids, vecs)

    @classmethod
    def load(cls, folder: Path, entry: dict, dim: int, params) -> "NumpyIndex":
        with np.load(folder / entry["file"], allow_pickle=False) as z:
            return cls(dim, z["ids"], z["vecs"])
