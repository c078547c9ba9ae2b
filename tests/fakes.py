"""Small fakes for fast unit tests: the language-specific parts, without a model.

``HASH`` is the ``KB_MODEL`` value that selects the fake embedder, in this process or in a
``python -m ingest`` / ``python -m kb`` subprocess started from the repository root.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

HASH = "tests.fakes:HashEmbedder"


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


class HashEmbedder:
    """Deterministic fake: hashed bag of lexical terms. Same-language word overlap only; for
    unit tests that must not load a model."""

    name = "hash-256"
    dim = 256
    device = "cpu (fake)"

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        from kb.text import tokenize
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for tok in tokenize(t):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
            out[i, 0] += 0.01  # no zero vectors
        return _normalise_rows(out)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)
