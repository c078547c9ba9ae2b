"""The embedded backend's vector index: FAISS over the passage vectors, in the KB's folder.

Its kind is chosen by size and recorded in the manifest (figures: benchmarks/perf.py):
- ``flat``: exact inner product while the KB is small (a brute-force scan is cheap);
- ``ivf``: an inverted file over half-precision vectors (FAISS ``IndexIVFScalarQuantizer``,
  fp16) from KB_ANN_MIN_PASSAGES passages on: half the memory of float vectors and a scan of
  ``nprobe`` of its ``nlist`` lists per query. It supports removal, which HNSW does not. Side by
  side on the same vectors, fp16 beat 8-bit codes on both speed and recall (recall@10 at 100k:
  8-bit 0.948 in 0.68 ms, fp16 0.957 in 0.41 ms; at 1M: 0.952 in 1.35 ms, 0.975 in 1.12 ms);
  KBs built with 8-bit codes keep them until ``kb rebuild``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..params import IndexParams
from . import Capabilities, Selection
from ..files import fsync_path


def ivf_shape(n: int) -> tuple[int, int]:
    """(nlist, nprobe) for ``n`` vectors: about 8·√n lists (a power of two, 256–16384, and never
    fewer than TRAIN_PER_LIST points a list), and a probe count chosen with the recall@10-against-
    exact sweep of benchmarks/perf.py. Twice the lists of the usual 4·√n scan half the vectors
    per probe for the same recall (8-bit codes): at 1M passages 8,192 lists and 64 probes gave recall@10 0.958
    in 1.9 ms, 4,096 lists 0.963 in 2.8 ms; at 100k, 2,048 lists 0.956 in 0.7 ms, 1,024 lists
    0.956 in 1.1 ms (benchmarks/README.md)."""
    nlist = 2 ** int(round(math.log2(max(256.0, min(16384.0, 8 * math.sqrt(max(n, 1)))))))
    while nlist > 1 and nlist * TRAIN_PER_LIST > n:
        nlist //= 2
    return nlist, probes_for(nlist, "fp16")


# k-means of the IVF lists: this many sample points per list (FAISS asks for at least 39) and
# this many iterations — minutes, not hours, at a million passages.
TRAIN_PER_LIST, TRAIN_ITERATIONS = 40, 10


def probes_for(nlist: int, codec: str, centred: bool = False, nprobe: int = 0) -> int:
    """Lists probed per query: ``nprobe`` (setting KB_NPROBE) when not 0, else by the index's vector codec — fp16: 48
    (16 from 8,192 lists on); 8-bit (KBs built before fp16): 64 (32 from 8,192 lists on). From the
    recall@10-against-exact sweeps of benchmarks/perf.py (figures in benchmarks/README.md): fp16,
    100k passages in 2,048 lists, 48 probes 0.963 (32: 0.949); 1M in 8,192 lists, 16 probes 0.972
    (32: 0.983, 8: 0.955); 8-bit, 100k 64 probes 0.958 (48: 0.950), 1M 32 probes 0.963.
    Language-centred vectors (kb.langspace) spread over more lists: twice the probes (100k fp16:
    48 probes 0.886, 96 probes 0.960, 2026-11-30; at 1M the doubling is not yet measured)."""
    if nlist >= 8192:
        default = 16 if codec == "fp16" else 32
    else:
        default = 48 if codec == "fp16" else 64
    if centred:
        default *= 2
    return max(1, min(nlist, nprobe or default))


def _single_thread(faiss) -> None:
    """One query at a time gains nothing from FAISS's OpenMP threads, and they hurt: FAISS and
    the bundled embedder ship separate OpenMP runtimes, and FAISS's idle threads spin on the
    cores the next question's embedding needs (a search at 10k passages took 51 ms instead of
    18 ms on 2 cores, benchmarks/README.md)."""
    if faiss.omp_get_max_threads() != 1:
        faiss.omp_set_num_threads(1)


def _half_precision_coarse(faiss, index) -> None:
    """Choose an IVF index's lists by its centroids in half precision: the same lists (the top
    five hits agreed on 499 of 500 questions at 100k and 1M passages), and half the bytes that
    every search scans after the embedding has evicted them from the CPU caches (12.6 → 6.3 MB
    at 1M passages: −0.4 ms a search there, −0.15 ms at 100k; benchmarks/README.md)."""
    old = faiss.downcast_index(index.quantizer)
    if not isinstance(old, faiss.IndexFlat):
        return
    coarse = faiss.IndexScalarQuantizer(index.d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    coarse.add(old.reconstruct_n(0, index.nlist))
    if index.own_fields:  # the float quantizer was the index's to free: Python frees it now
        old.this.acquire()
    index.quantizer = coarse
    index.own_fields = True  # the index frees the new one ...
    coarse.this.disown()     # ... and Python does not


class FaissIndex(Capabilities):
    """Inner-product search over L2-normalised vectors, keyed by SQLite row id."""

    def __init__(self, dim: int, index=None, kind: str = "flat", nprobe: int = 0):
        import faiss
        self.dim = dim
        self._faiss = faiss
        self.kind = kind
        self.nprobe = nprobe
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if kind == "ivf":
            self.index.nprobe = nprobe

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self.index.nlist) if self.kind == "ivf" else 0

    @property
    def exact(self) -> bool:
        return self.kind == "flat"

    def describe(self) -> dict:
        summary = ("faiss exact inner product (IndexFlatIP)" if self.kind == "flat" else
                   f"faiss IVF, {'half-precision' if self.codec == 'fp16' else '8-bit scalar quantised'} vectors"
                   f" (nlist {self.nlist}, nprobe {self.nprobe})")
        return {"kind": self.kind, "nlist": self.nlist, "nprobe": self.nprobe, "vectors": len(self),
                "codec": self.codec, "summary": summary}

    def suits(self, n: int, params: IndexParams) -> bool:
        """Exact below ``ann_min_passages``; an IVF index from there on, rebuilt when the KB has
        shrunk to half that or grown to four times the lists it was trained for."""
        if self.kind == "flat":
            return n < params.ann_min_passages
        return not (n < params.ann_min_passages // 2 or self.nlist * 4 < ivf_shape(n)[0])

    @property
    def codec(self) -> str:
        """How an ``ivf`` index stores vectors: 'fp16', or '8bit' for KBs built before fp16."""
        if self.kind != "ivf":
            return "float32"
        return "8bit" if self.index.sq.qtype == self._faiss.ScalarQuantizer.QT_8bit else "fp16"

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vecs: np.ndarray, params: IndexParams) -> "FaissIndex":
        """Exact while ``len(ids) < params.ann_min_passages``; otherwise an IVF index over fp16
        vectors, trained on these."""
        import faiss
        n = len(ids)
        if n < params.ann_min_passages:
            out = cls(dim)
            out.add(ids, vecs)
            return out
        nlist = ivf_shape(n)[0]
        nprobe = probes_for(nlist, "fp16", params.centred, params.nprobe)
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # training and adding use every core
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.max_points_per_centroid = TRAIN_PER_LIST
        index.cp.niter = TRAIN_ITERATIONS
        rng = np.random.default_rng(0)
        sample = vecs[np.sort(rng.choice(n, min(n, TRAIN_PER_LIST * nlist), replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        _half_precision_coarse(faiss, index)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # so remove_ids works by id
        out = cls(dim, index, "ivf", nprobe)
        for i in range(0, n, 100_000):
            out.add(ids[i:i + 100_000], vecs[i:i + 100_000])
        return out

    def add(self, ids, vecs: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, q: np.ndarray, k: int, allowed: Selection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (ids, scores) for one query vector, optionally only among the ``allowed`` ids
        (the caller searches small allowed sets exactly; see ``kb.indexes``)."""
        if len(self) == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        f = self._faiss
        params = None
        if allowed is not None:
            only = allowed.id_array("FaissIndex")
            if not len(only):
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            sel = f.IDSelectorBatch(only)
            # Filtered IVF search probes more lists, since most of each list may be filtered out.
            params = (f.SearchParametersIVF(sel=sel, nprobe=min(self.nlist, 4 * self.nprobe)) if self.kind == "ivf"
                      else f.SearchParameters(sel=sel))
        _single_thread(f)
        scores, ids = self.index.search(np.ascontiguousarray(q.reshape(1, -1), dtype=np.float32), min(k, len(self)),
                                        params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def vectors(self, ids: list[int]) -> np.ndarray:
        """The vectors of these ids as the index holds them (half precision for ``ivf``)."""
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        try:
            return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
        except RuntimeError:  # an id the index does not hold (removed meanwhile): a zero vector for it
            out = np.zeros((len(ids), self.dim), np.float32)
            for i, x in enumerate(ids):
                try:
                    out[i] = self.index.reconstruct(int(x))
                except RuntimeError:
                    pass
            return out

    def ids(self) -> np.ndarray:
        """Every id in the index (for consistency checks)."""
        f = self._faiss
        if self.kind == "flat":
            return f.vector_to_array(self.index.id_map)
        inv = self.index.invlists
        out = [f.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy() for i in range(self.nlist) if inv.list_size(i)]
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def save(self, folder: Path, stem: str) -> dict:
        name = f"{stem}.faiss"
        self._faiss.write_index(self.index, str(folder / name))
        fsync_path(folder / name)
        return {"file": name, "files": [name], **{k: v for k, v in self.describe().items() if k != "summary"}}

    @classmethod
    def load(cls, folder: Path, entry: dict, dim: int, params: IndexParams) -> "FaissIndex":
        """From its manifest entry (``save``'s; KBs saved before the index contract wrote the
        same keys, without ``files``)."""
        import faiss
        path = folder / entry["file"]
        kind = entry["kind"]
        index = faiss.read_index(str(path))
        if index.d != dim:
            raise ValueError(f"{path.name} holds {index.d}-d vectors, the KB {dim}-d")
        out = cls(dim, index, kind)
        if kind == "ivf":
            _half_precision_coarse(faiss, index)  # (an index saved with float centroids: converted here)
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            # a search-time choice: the parameters as they are now
            out.nprobe = index.nprobe = probes_for(int(index.nlist), out.codec, params.centred, params.nprobe)
        return out
