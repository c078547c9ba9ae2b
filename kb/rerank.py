"""Optional cross-encoder reranking of the fused top candidates (setting KB_RERANKER).

Off by default: no cross-encoder ships offline with the project. With a sentence-transformers
CrossEncoder name or local path configured, the top KB_RERANK_DEPTH passages are re-scored
jointly with the question and reordered by that score.
"""
from __future__ import annotations

import os
import threading

from .errors import ConfigError

_cache: dict[str, object] = {}
_lock = threading.Lock()


def get_reranker(name: str):
    with _lock:
        if name not in _cache:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import CrossEncoder

            try:
                _cache[name] = CrossEncoder(name, num_labels=1, device="cpu")
            except Exception as e:  # noqa: BLE001
                raise ConfigError(f"KB_RERANKER={name}: could not load this cross-encoder offline ({e})") from None
        return _cache[name]


def rerank_scores(name: str, query: str, texts: list[str]) -> list[float]:
    model = get_reranker(name)
    with _lock:
        return [float(x) for x in model.predict([(query, t) for t in texts], show_progress_bar=False)]
