"""Derived search indexes: FAISS for passage vectors, bm25s for lexical terms.

Both are keyed by SQLite passage id and can always be rebuilt from SQLite (``kb rebuild``);
both are saved as plain files (no pickle).

Growth without rebuilds: each index is a saved *base* plus a small in-memory *delta* of
passages added since (and *tombstones* for passages removed since). The KB records the delta's
ids next to the base (see ``kb.base``) and reloads their vectors and terms from SQLite on open,
so adding one article writes a few bytes, not the whole index. When the delta grows past a
share of the base, the KB writes a new base (compaction).

Dense index kind, chosen by size and recorded in the manifest (figures: benchmarks/perf.py):
- ``flat``: exact inner product while the KB is small (a brute-force scan is cheap);
- ``ivf``: an inverted file over half-precision vectors (FAISS ``IndexIVFScalarQuantizer``,
  fp16) from KB_ANN_MIN_PASSAGES passages on: half the memory of float vectors and a scan of
  ``nprobe`` of its ``nlist`` lists per query. It supports removal, which HNSW does not. Side by
  side on the same vectors, fp16 beat 8-bit codes on both speed and recall (recall@10 at 100k:
  8-bit 0.948 in 0.68 ms, fp16 0.957 in 0.41 ms; at 1M: 0.952 in 1.35 ms, 0.975 in 1.12 ms);
  KBs built with 8-bit codes keep them until ``kb rebuild``.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .errors import KBError

K1, B = 1.5, 0.75  # bm25s defaults (Lucene variant); the delta is scored with the same formula


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


def probes_for(nlist: int, codec: str, centred: bool = False) -> int:
    """Lists probed per query: setting KB_NPROBE, else by the index's vector codec — fp16: 48
    (16 from 8,192 lists on); 8-bit (KBs built before fp16): 64 (32 from 8,192 lists on). From the
    recall@10-against-exact sweeps of benchmarks/perf.py (figures in benchmarks/README.md): fp16,
    100k passages in 2,048 lists, 48 probes 0.963 (32: 0.949); 1M in 8,192 lists, 16 probes 0.972
    (32: 0.983, 8: 0.955); 8-bit, 100k 64 probes 0.958 (48: 0.950), 1M 32 probes 0.963.
    Language-centred vectors (kb.langspace) spread over more lists: twice the probes (100k fp16:
    48 probes 0.886, 96 probes 0.960, 2026-11-30; at 1M the doubling is not yet measured)."""
    from . import config
    if nlist >= 8192:
        default = 16 if codec == "fp16" else 32
    else:
        default = 48 if codec == "fp16" else 64
    if centred:
        default *= 2
    return max(1, min(nlist, config.get("KB_NPROBE") or default))


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


class DenseIndex:
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

    def describe(self) -> dict:
        return {"kind": self.kind, "nlist": self.nlist, "nprobe": self.nprobe, "vectors": len(self),
                "codec": self.codec}

    @property
    def codec(self) -> str:
        """How an ``ivf`` index stores vectors: 'fp16', or '8bit' for KBs built before fp16."""
        if self.kind != "ivf":
            return "float32"
        return "8bit" if self.index.sq.qtype == self._faiss.ScalarQuantizer.QT_8bit else "fp16"

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vecs: np.ndarray, ann_min: int, centred: bool = False) -> "DenseIndex":
        """Exact while ``len(ids) < ann_min``; otherwise an IVF index over fp16 vectors, trained on these."""
        import faiss
        n = len(ids)
        if n < ann_min:
            out = cls(dim)
            out.add(ids, vecs)
            return out
        nlist = ivf_shape(n)[0]
        nprobe = probes_for(nlist, "fp16", centred)
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

    def search(self, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (ids, scores) for one query vector, optionally only among ``allowed`` ids
        (the caller searches small allowed sets exactly; see ``kb.search``)."""
        if len(self) == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        f = self._faiss
        params = None
        if allowed is not None:
            if not len(allowed):
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            sel = f.IDSelectorBatch(np.asarray(allowed, np.int64))
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

    def save(self, path: Path) -> None:
        self._faiss.write_index(self.index, str(path))
        _fsync(path)

    @classmethod
    def load(cls, path: Path, dim: int, kind: str, centred: bool = False) -> "DenseIndex":
        import faiss
        index = faiss.read_index(str(path))
        if index.d != dim:
            raise ValueError(f"{path.name} holds {index.d}-d vectors, the KB {dim}-d")
        out = cls(dim, index, kind)
        if kind == "ivf":
            _half_precision_coarse(faiss, index)  # (an index saved with float centroids: converted here)
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            # a search-time choice: the setting as it is now
            out.nprobe = index.nprobe = probes_for(int(index.nlist), out.codec, centred)
        return out


class LexicalIndex:
    """BM25 over the terms of ``kb.text.tokenize``, keyed by passage id: a bm25s base (memory-
    mapped) plus a delta of passages added since, scored with the same Lucene formula and the
    base's statistics, and tombstones for base passages removed since."""

    def __init__(self, retriever=None, ids: np.ndarray | None = None, avgdl: float = 0.0):
        self.retriever = retriever
        self.ids = ids if ids is not None else np.zeros(0, np.int64)  # ascending: rows found by bisection
        self.avgdl = avgdl
        self.dead = np.zeros(len(self.ids), bool)
        self._n_dead = 0  # (kept: counting a million flags on every search cost ~0.5 ms)
        self._postings: dict[str, dict[int, int]] = {}
        self._delta: dict[int, dict[str, int]] = {}   # passage id -> term frequencies
        self._dlen: dict[int, int] = {}
        self._idf: dict[str, float] = {}  # per term, until the next add or remove
        self._csc: tuple | None = None  # the base's (data, indices, indptr), as plain arrays

    def __len__(self) -> int:
        return len(self.ids) - self._n_dead + len(self._delta)

    @property
    def delta_size(self) -> int:
        return len(self._delta)

    def live_ids(self) -> np.ndarray:
        return np.concatenate([self.ids[~self.dead], np.fromiter(self._delta, np.int64, len(self._delta))])

    @classmethod
    def build(cls, ids: list[int], docs: list[list[str]]) -> "LexicalIndex":
        if not ids:
            return cls()
        import bm25s
        order = np.argsort(np.asarray(ids, np.int64), kind="stable")
        ids_arr = np.asarray(ids, np.int64)[order]
        docs = [docs[i] for i in order]
        retriever = bm25s.BM25(k1=K1, b=B)
        # bm25s needs at least one token per document to size its matrix; "" is its empty token.
        retriever.index([d if d else [""] for d in docs], show_progress=False)
        avgdl = float(np.mean([max(1, len(d)) for d in docs]))
        return cls(retriever, ids_arr, avgdl)

    # --- incremental changes ----------------------------------------------------------
    def _row(self, pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, found) of base ids ``pids``."""
        pids = np.asarray(pids, np.int64)
        if not len(self.ids):
            return np.zeros(len(pids), np.int64), np.zeros(len(pids), bool)
        rows = np.minimum(np.searchsorted(self.ids, pids), len(self.ids) - 1)
        return rows, self.ids[rows] == pids

    def add(self, pid: int, terms: list[str]) -> None:
        tf: dict[str, int] = {}
        for t in terms:
            tf[t] = tf.get(t, 0) + 1
        self.remove([pid])
        self._delta[int(pid)] = tf
        self._dlen[int(pid)] = max(1, len(terms))
        for t, c in tf.items():
            self._postings.setdefault(t, {})[int(pid)] = c
        self._idf.clear()

    def remove(self, pids) -> None:
        if not len(pids):
            return
        self._idf.clear()
        rows, found = self._row(pids)
        self.dead[rows[found]] = True
        self._n_dead = int(self.dead.sum())
        for p in pids:
            tf = self._delta.pop(int(p), None)
            self._dlen.pop(int(p), None)
            for t in tf or ():
                post = self._postings.get(t)
                if post is not None:
                    post.pop(int(p), None)
                    if not post:
                        del self._postings[t]

    # --- scoring ----------------------------------------------------------------------
    def _matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The base's precomputed BM25 scores as (data, indices, indptr): term ``t``'s passages
        are rows ``indices[indptr[t]:indptr[t+1]]``. Plain views of bm25s's memory maps, since a
        memmap's Python-level indexing costs ~4 µs a call."""
        if self._csc is None:
            m = self.retriever.scores
            self._csc = (np.asarray(m["data"]), np.asarray(m["indices"]), np.asarray(m["indptr"]))
        return self._csc

    def _base_df(self, term: str) -> int:
        if self.retriever is None:
            return 0
        tid = self.retriever.vocab_dict.get(term)
        indptr = self._matrix()[2]
        return int(indptr[tid + 1] - indptr[tid]) if tid is not None and tid + 1 < len(indptr) else 0

    def _base_scores(self, terms: list[str], weights: dict[str, float] | None = None
                     ) -> tuple[np.ndarray, list[np.ndarray]] | None:
        """BM25 of every base passage (aligned with ``ids``) and, for each query term, the rows
        of the passages that hold it; None when no term is in the vocabulary. bm25s's own
        ``get_scores`` does the same sum; this one skips its checks and memmap wrappers (0.05
        against 0.09–0.17 ms at 100k passages)."""
        r = self.retriever
        found = [(r.vocab_dict[t], t) for t in terms if t in r.vocab_dict]
        if not found:
            return None
        if r.nonoccurrence_array is not None:  # variants that score absent terms too (not the Lucene one used here)
            return r.get_scores([tid for tid, _ in found]), []
        data, indices, indptr = self._matrix()
        scores = np.zeros(int(r.scores["num_docs"]), data.dtype)
        postings = []
        for tid, t in found:
            a, b = int(indptr[tid]), int(indptr[tid + 1])
            w = 1.0 if weights is None else weights.get(t, 1.0)
            np.add.at(scores, indices[a:b], data[a:b] if w == 1.0 else data[a:b] * w)
            postings.append(indices[a:b])
        return scores, postings

    def idf(self, term: str) -> float:
        """Lucene IDF of ``term`` over base and delta (full IDF for a term no passage has)."""
        v = self._idf.get(term)
        if v is None:
            n = float(len(self.ids) + len(self._delta))
            df = float(self._base_df(term) + len(self._postings.get(term, ())))
            v = math.log(1 + (n - df + 0.5) / (df + 0.5))
            if len(self._idf) > 100_000:
                self._idf.clear()
            self._idf[term] = v
        return v

    def ideal_score(self, terms: list[str]) -> float:
        """BM25 of a passage of average length holding each query term once: the scale that
        makes scores comparable across queries. Terms absent from the index count at full IDF,
        so a query only partly matched (say, an English question whose only shared term with a
        Chinese passage is "TikTok") scores low."""
        if not len(self) or not terms:
            return 0.0
        return sum(self.idf(t) for t in terms)

    def query(self, terms: list[str], weights: dict[str, float] | None = None) -> "LexicalScores":
        """BM25 of every live passage for these query terms, each term's part multiplied by its
        weight where ``weights`` gives one (translated terms count by their reliability)."""
        terms = [t for t in terms if t]
        found = self._base_scores(terms, weights) if self.retriever is not None and terms else None
        base, postings = found if found is not None else (None, [])
        if base is not None and self._n_dead:
            base[self.dead] = 0
        delta: dict[int, float] = {}
        if self._delta and terms:
            avgdl = self.avgdl or float(np.mean(list(self._dlen.values())))
            for t in terms:
                post = self._postings.get(t)
                if not post:
                    continue
                w = self.idf(t) * (1.0 if weights is None else weights.get(t, 1.0))
                for p, c in post.items():
                    delta[p] = delta.get(p, 0.0) + w * c / (K1 * (1 - B + B * self._dlen[p] / avgdl) + c)
        return LexicalScores(self, base, delta, postings)

    # --- files ------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the base only (the KB writes the delta's ids itself)."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", self.ids, allow_pickle=False)
        (folder / "stats.json").write_text(json.dumps({"avgdl": self.avgdl, "k1": K1, "b": B}))
        if self.retriever is not None:
            self.retriever.save(str(folder), allow_pickle=False)
        for f in folder.iterdir():
            _fsync(f)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        ids = np.load(folder / "ids.npy", allow_pickle=False)
        avgdl = json.loads((folder / "stats.json").read_text())["avgdl"]
        if len(ids) == 0:
            return cls()
        import bm25s
        # Memory-mapped: a million passages' score matrix stays on disk until a query touches it.
        retriever = bm25s.BM25.load(str(folder), mmap=True, allow_pickle=False)
        return cls(retriever, np.asarray(ids, np.int64), avgdl)


class LexicalScores:
    """One query's BM25 scores over the base (an array aligned with its ids) and the delta;
    ``postings``: for each query term, the base rows that hold it."""

    def __init__(self, lex: LexicalIndex, base: np.ndarray | None, delta: dict[int, float],
                 postings: list[np.ndarray]):
        self.lex, self.base, self.delta, self.postings = lex, base, delta, postings

    def top(self, n: int, allowed: np.ndarray | None = None) -> dict[int, float]:
        """The ``n`` best-scoring passages (score > 0), optionally only among ``allowed`` ids."""
        out: dict[int, float] = {}
        if self.base is not None:
            s = self.base
            if allowed is not None:
                s = np.where(np.isin(self.lex.ids, allowed), s, 0)
            idx = np.flatnonzero(s >= max(self._floor(n) if allowed is None else 0.0, np.finfo(np.float32).tiny))
            if len(idx) > n:  # the n best; ties at the last place go to the lower passage ids
                vals = s[idx]
                nth = np.partition(vals, len(vals) - n)[len(vals) - n]
                above = idx[vals > nth]
                idx = np.concatenate([above, idx[vals == nth][:n - len(above)]])
            out = dict(zip(self.lex.ids[idx].tolist(), s[idx].tolist()))
        if self.delta:
            keep = None if allowed is None else set(allowed.tolist())
            d = self.delta if keep is None else {p: v for p, v in self.delta.items() if p in keep}
            out.update(d)
            if len(out) > n:
                out = dict(sorted(out.items(), key=lambda kv: -kv[1])[:n])
        return out

    def _floor(self, n: int) -> float:
        """A score no lower than the n-th best: the n-th best among the passages holding the
        rarest query term that n passages hold. Selecting ``scores >= floor`` then finds the top
        n among a few hundred passages rather than among every passage holding any term (at 1M
        passages, listing those ~30,000 took 0.8 ms)."""
        rows = min((p for p in self.postings if len(p) >= n), key=len, default=None)
        if rows is None:
            return 0.0
        vals = self.base[rows]
        return float(np.partition(vals, len(vals) - n)[len(vals) - n])

    def get(self, pids: list[int]) -> np.ndarray:
        out = np.zeros(len(pids), np.float32)
        if self.base is not None and len(pids):
            rows, found = self.lex._row(np.asarray(pids, np.int64))
            out[found] = self.base[rows[found]]
        for j, p in enumerate(pids):
            if p in self.delta:
                out[j] = self.delta[p]
        return out


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
    passage added since is read from SQLite instead (``KnowledgeBase.lead_passages``)."""

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
            out[pid] = [(sids[r], *spans[r], r) for r in range(at, at + b - a)]
            at += b - a
            blobs.append(os.pread(fd, (b - a) * row, a * row))
        vecs = np.frombuffer(b"".join(blobs), np.float16)
        if len(vecs) != at * self.dim:
            raise KBError(f"{self.vectors.name} ends early: rebuild the indexes with `python -m kb rebuild`")
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
            _fsync(folder / name)

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
        size = (folder / "vectors.f16").stat().st_size
        if size != rows * dim * 2:
            raise ValueError(f"{folder.name}/vectors.f16 holds {size} bytes, not {rows} x {dim} half floats")
        # Kept open: a writer may replace these files meanwhile, and the open file stays readable.
        return cls(pids, offsets, sids, spans, open(folder / "vectors.f16", "rb", buffering=0), dim)


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
