"""The index contract: what the knowledge base needs of a vector index and of a lexical index,
and the registry that picks an implementation by the KB's ``backend`` setting.

SQLite (``kb.store``) is the truth; an index is derived from it, keyed by SQLite passage id, and
can always be rebuilt from it. A backend is a pair of classes, one for each protocol below,
registered under a name:

    from kb import backends
    backends.register("mine", MyVectorIndex, backends.get("embedded").lexical, "my engine for vectors")

``KB_BACKEND=mine python -m ingest --kb DIR …`` then builds a KB on it, and the KB records the
name (``kb.params.BuildParams``) so every later process opens it the same way. Nothing outside
``kb/backends/`` names an engine: ranking (``kb.search``) and the index lifecycle
(``kb.indexes``) speak only these protocols. ``tests/test_backends.py`` runs one contract suite
against every registered backend, checking results against numpy brute force.

The first backend, ``embedded``: FAISS for vectors (``faiss_index.FaissIndex``, exact or IVF by
size) and bm25s for BM25 (``bm25.Bm25Index``), both saved as files in the KB's ``index/``
folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, Sequence

import numpy as np

from ..errors import ConfigError
from ..params import IndexParams


@dataclass(frozen=True)
class Selection:
    """The passages a search may return: those with these ``ids``, or those the filters ``where``
    matches (for an engine that filters by itself: ``Capabilities.filters_in_engine``). A search
    given no Selection (None) may return any passage; an empty ``ids`` finds nothing."""
    ids: np.ndarray | None = None
    where: dict | None = None

    @property
    def empty(self) -> bool:
        return self.ids is not None and not len(self.ids)

    def id_array(self, owner: str) -> np.ndarray:
        """The ids, for an engine that takes only ids (``owner`` names it in the error otherwise)."""
        if self.ids is None:
            raise ValueError(f"{owner} filters by passage ids only (its backend does not declare filters_in_engine)")
        return np.asarray(self.ids, np.int64)


class VectorIndex(Protocol):
    """Inner-product search over L2-normalised vectors, keyed by passage id (int64)."""

    @property
    def exact(self) -> bool:
        """Whether ``search`` returns the exact top k (True) or an approximation (an ANN index)."""

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Add rows (an id already present must have been removed first)."""

    def remove(self, ids: Sequence[int]) -> None:
        """Remove these ids; ids the index does not hold are ignored."""

    def search(self, q: np.ndarray, k: int, allowed: Selection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the ``k`` best rows for one query vector, best first, only among
        the ``allowed`` passages when given."""

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The vectors of these ids as the index holds them (a zero row for an id it lacks)."""

    def ids(self) -> np.ndarray:
        """Every id it holds (for consistency checks)."""

    def describe(self) -> dict:
        """What it is, for the manifest and ``kb stats``: at least ``kind`` and ``summary`` (words)."""

    def suits(self, n: int, params: IndexParams) -> bool:
        """Whether this index still fits a KB of ``n`` passages; if not, the next compaction
        builds a new one (an exact index grown past the ANN threshold, say)."""

    def save(self, folder: Path, stem: str) -> dict:
        """Persist into ``folder`` under names starting with ``stem``; returns the manifest
        entry that ``load`` takes back, with the files written under ``files``. An engine that
        persists itself returns its entry and writes nothing."""

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vecs: np.ndarray, params: IndexParams) -> "VectorIndex": ...

    @classmethod
    def load(cls, folder: Path, entry: dict, dim: int, params: IndexParams) -> "VectorIndex": ...


class LexicalScores(Protocol):
    """One query's BM25 scores over every live passage."""

    def top(self, n: int, allowed: Selection | None = None) -> dict[int, float]:
        """The ``n`` best passages with a score above zero: {id: score}."""

    def get(self, ids: Sequence[int]) -> np.ndarray:
        """The scores of these ids (0 for a passage holding no query term)."""


class LexicalIndex(Protocol):
    """BM25 (Lucene variant, k1 1.5, b 0.75) over pre-cut terms, keyed by passage id."""

    def __len__(self) -> int: ...

    def add(self, ids: Sequence[int], docs: Sequence[Sequence[str]]) -> None:
        """Add (or replace) passages with their terms."""

    def remove(self, ids: Sequence[int]) -> None: ...

    def scores(self, terms: Sequence[str], weights: dict[str, float] | None = None) -> LexicalScores:
        """BM25 for these query terms, each term's part times its weight where given."""

    def idf(self, term: str) -> float:
        """The term's IDF (the full IDF of an unseen term for one that no passage holds)."""

    def ids(self) -> np.ndarray:
        """Every live passage id."""

    def describe(self) -> dict: ...

    def save(self, folder: Path, stem: str) -> dict: ...

    @classmethod
    def build(cls, ids: Sequence[int], docs: Sequence[Sequence[str]], params: IndexParams | None = None) -> "LexicalIndex": ...

    @classmethod
    def load(cls, folder: Path, entry: dict, params: IndexParams | None = None) -> "LexicalIndex": ...


class Capabilities:
    """What an engine may do beyond the protocols above, declared with the defaults of one that
    keeps files (the embedded backend). Both classes of a backend inherit this (or define every
    name: ``register`` checks); the lifecycle (``kb.indexes``, ``kb.base``) calls these, never
    probing for them.

    - ``persistent``: the engine keeps its own state (kb.backends.milvus): no files; ``save``
      flushes and returns an entry naming what it holds; on open the lifecycle reconciles the
      engine with SQLite by id instead of replaying a delta, and never rewrites a base just
      because a delta grew.
    - ``filters_in_engine``: ``search`` / ``top`` take a ``Selection`` of filters (see
      ``kb.results.Filters.active``), not only of ids; ``build`` / ``add`` take ``fields=`` (one
      dict per row with lang, source, date, article_id); and ``set_fields`` rewrites rows' fields
      in place (an article's source or date edited; ``Indexes.apply_field_edits``).
    """
    persistent: ClassVar[bool] = False
    filters_in_engine: ClassVar[bool] = False

    @classmethod
    def check(cls, params: IndexParams) -> None:
        """Refuse parameters that cannot work (ConfigError) before a KB is created on, or moved
        to, this engine."""

    @classmethod
    def discard(cls, folder: Path, entry: dict, params: IndexParams) -> None:
        """Free what a manifest entry no longer in use holds beyond its files (which the
        lifecycle removes itself)."""

    @classmethod
    def forget(cls, params: IndexParams, entry: dict | None = None) -> None:
        """After a KB moved to another backend: free what this engine still keeps for it."""

    @classmethod
    def release(cls, params: IndexParams, entry: dict | None = None) -> None:
        """Let go of the engine when the KB is closed."""

    def set_fields(self, ids: Sequence[int], fields: Sequence[dict]) -> None:
        """Rewrite rows' filter fields (``filters_in_engine`` engines only)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep filter fields")


CAPABILITIES = ("persistent", "filters_in_engine", "check", "discard", "forget", "release", "set_fields")


@dataclass(frozen=True)
class Backend:
    name: str
    vector: type
    lexical: type
    help: str


_REGISTRY: dict[str, Backend] = {}


def register(name: str, vector: type, lexical: type, help: str = "") -> Backend:
    """Make a backend choosable by ``KB_BACKEND`` / ``--backend``. Both classes declare every
    capability (``Capabilities``: inherit it for the defaults)."""
    for cls in (vector, lexical):
        missing = [c for c in CAPABILITIES if not hasattr(cls, c)]
        if missing:
            raise ConfigError(f"backend {name!r}: {cls.__name__} lacks {', '.join(missing)} (inherit kb.backends.Capabilities)")
    _REGISTRY[name] = Backend(name, vector, lexical, help)
    return _REGISTRY[name]


def get(name: str) -> Backend:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown index backend {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


def _register_builtin() -> None:
    from .bm25 import Bm25Index
    from .faiss_index import FaissIndex
    register("embedded", FaissIndex, Bm25Index, "FAISS (exact, then IVF by size) and bm25s, saved as files in the KB folder")
    from .milvus import MilvusLexicalIndex, MilvusVectorIndex  # (pymilvus is imported when a KB uses it)
    register("milvus", MilvusVectorIndex, MilvusLexicalIndex,
             "Milvus (Lite from a file path, or a server/cluster by URI) for vectors and BM25, filters in the engine")


_register_builtin()
