"""The index lifecycle: a KB's derived indexes, kept in step with SQLite.

``Indexes`` owns the vector and lexical indexes (any backend of ``kb.backends``), the language
space their vectors are centred in (``kb.langspace``) and the sentence base
(``kb.sentence_base``). It loads them, replays what changed since they were saved, mirrors each
write, compacts, and saves; and it answers the reads a search needs from them (``dense``,
``lead``, ``vectors``).

Files live under ``index/`` and are named in ``index/manifest.json`` together with the SQLite
``data_version`` they reflect; a stale or missing set is rebuilt from SQLite on open.

Growth without rebuilds: each index is a saved *base* plus a small in-memory *delta* of passages
added since (and *tombstones* for passages removed since). The manifest records the delta's ids
next to the base, and their vectors and terms are reloaded from SQLite on open, so adding one
article writes a few bytes, not the whole index. New bases are written once the delta exceeds a
tenth of the KB, at least COMPACT_MIN and at most COMPACT_MAX passages: a bounded share of
rebuild work per change, and a bounded replay from SQLite when a KB is opened.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from .backends import Backend, Selection
from .errors import KBError
from .files import write_json_atomic
from .langspace import LanguageSpace, load_prior
from .params import IndexParams
from .records import PassageRow, SentenceRef
from .sentence_base import SentenceBase
from .store import Store, now_iso
from .writelock import is_free

COMPACT_MIN, COMPACT_MAX = 50, 20_000

# Up to this many passages in a filter are searched exactly (their vectors read from SQLite)
# when the vector index is approximate: an ANN search restricted to a few ids can miss them.
EXACT_FILTER_MAX = 50_000


def notice(msg: str) -> None:
    print(f"kb: {msg}", file=sys.stderr)


class Indexes:
    """The derived indexes of the KB in ``path`` over ``store``.

    ``dim`` and ``embedder_name`` are asked of the KB when needed (an empty KB learns its
    width from its first article). ``write_locked`` is set by the KB while this process holds the
    write lock."""

    def __init__(self, path: Path, store: Store, backend: Backend, params: IndexParams,
                 dim: Callable[[], int], embedder_name: Callable[[], str]):
        self.path = Path(path)
        self.folder = self.path / "index"
        self.store = store
        self.backend = backend
        self.params = params if params.home else replace(params, home=str(self.path))
        # An engine that keeps its own state (Milvus): no files, no delta; reconciled by id on open.
        self.persistent = backend.vector.persistent
        # An engine that filters by itself: rows carry their filter fields; searches pass the filters.
        self.engine_filters = backend.vector.filters_in_engine and backend.lexical.filters_in_engine
        self._dim = dim
        self._embedder_name = embedder_name
        self.lock = threading.RLock()
        self.write_locked = False  # this process holds the KB's write lock (set by KnowledgeBase.writer)
        self.vector = None    # a kb.backends.VectorIndex
        self.lexical = None   # a kb.backends.LexicalIndex
        self.sentence_base: SentenceBase | None = None  # None: every passage's sentences from SQLite
        self.space = LanguageSpace()  # the language means the vector index's rows are centred with
        self.space_stale = False  # a language the space has no mean for was added since
        self.loaded_version = -1
        self.loaded_stamp: tuple | None = None  # ``files_stamp()`` when the files were last loaded or saved
        self.delta_added: list[int] = []    # passage ids added to / removed from the indexes since their base
        self.delta_removed: list[int] = []
        self.base: dict | None = None       # manifest entries of the saved base files
        self.fresh = False  # just rebuilt from SQLite by this object, unchanged since
        self._replaced: list[dict] = []  # bases of a persistent engine replaced, dropped once the manifest moves on
        self.readonly = False  # a KB on read-only media: rebuilt in memory when stale, never saved

    @property
    def dim(self) -> int:
        return self._dim()

    def close(self) -> None:
        self._set_sentence_base(None)
        if self.vector is not None:
            self.backend.vector.release(self.params, (self.base or {}).get("dense"))
        self.vector = self.lexical = None
        self.loaded_version = -1

    def fields(self, ids) -> list[dict] | None:
        """The rows' filter fields for an engine that filters by itself, else None."""
        return self.store.filter_fields(ids) if self.engine_filters else None

    def _with_fields(self, ids) -> dict:
        return {"fields": self.fields(ids)} if self.engine_filters else {}

    def selection(self, filters: dict) -> Selection | None:
        """What searches restrict themselves to under these filters (``kb.results.Filters.active``):
        the filters themselves for an engine that evaluates them, else the matching passage ids
        from SQLite (None when there are no filters; no ids when nothing matches)."""
        if not filters:
            return None
        if self.engine_filters:
            return Selection(where=dict(filters))
        found = self.store.filtered_passage_ids(**filters)
        return Selection(ids=np.fromiter(found, np.int64, len(found)))

    # --- opening: load, or rebuild ----------------------------------------------------------
    def manifest(self) -> dict | None:
        """The saved manifest, or None when there is none or it is unreadable (a damaged one is
        treated as missing: the indexes are rebuilt from SQLite and a new one written)."""
        try:
            man = json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, a folder, unreadable, not JSON, not UTF-8
            return None
        return man if isinstance(man, dict) else None

    def ensure(self) -> None:
        """Make the in-memory indexes reflect SQLite: load the saved files when they are current,
        otherwise rebuild from SQLite (and save, unless another process is writing).

        While another process is writing, a reader serves the last saved state (consistent, if
        a little behind) rather than rebuilding; hits whose passages are gone are skipped."""
        with self.lock:
            version = self.store.data_version()
            if version == self.loaded_version and self.vector is not None:
                if self.files_stamp() == self.loaded_stamp:
                    self.apply_field_edits()
                    return
                # Another process replaced the files (`kb rebuild`) or one was damaged: the data
                # version alone does not say so.
                notice("index files changed on disk since they were loaded; loading them again")
                self.loaded_version = -1
            try:
                self._ensure(version)
            finally:
                self.loaded_stamp = self.files_stamp()
            self.apply_field_edits()

    def apply_field_edits(self) -> None:
        """Bring an engine's own copy of the filter fields in step with articles whose source or
        date was edited (``Store.field_edits``: marked in the edit's transaction, by whichever
        process edited, with its indexes loaded or not). One meta read when there are none."""
        if not self.engine_filters or self.vector is None:
            return
        with self.lock:
            edits = self.store.field_edits()
            if not edits:
                return
            pids = [p for aid in edits for p in self.store.passage_ids(aid)]
            if pids:
                fields = self.store.filter_fields(pids)
                self.vector.set_fields(pids, fields)
                self.lexical.set_fields(pids, fields)
            if not self.readonly:
                self.store.field_edits_done(edits)

    def files_stamp(self) -> tuple:
        """What the index files on disk are now: (name, inode, size, mtime) of each, two levels
        deep (~20 stat calls, ~40 µs)."""
        out = []
        try:
            for e in os.scandir(self.folder):
                st = e.stat(follow_symlinks=False)
                out.append((e.name, st.st_ino, st.st_size, st.st_mtime_ns))
                if e.is_dir(follow_symlinks=False):
                    for f in os.scandir(e.path):
                        st = f.stat(follow_symlinks=False)
                        out.append((e.name + "/" + f.name, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            pass  # no folder yet, or one vanishing while a writer sweeps it: a stamp that differs
        return tuple(sorted(out))

    def invalidate(self) -> None:
        """Forget what is loaded: the next ``ensure`` loads the files again, or rebuilds (after
        ``IndexUnavailable``: a file found damaged while searching)."""
        with self.lock:
            self.loaded_version = -1
            self.loaded_stamp = None

    def _ensure(self, version: int) -> None:
        man = self.manifest()
        if man and man.get("data_version") == version:
            if self._try_load(man):
                return
        elif (self.persistent and man and not self.readonly and (self.write_locked or is_free(self.path))
              and self._try_load(man)):
            # the engine kept its own state: bring it in step with SQLite by id, not by a rebuild
            self.reconcile()
            self._save_if_free()
            return
        elif not self.write_locked and not self.readonly and not is_free(self.path):
            if man and man.get("data_version") != self.loaded_version and self._try_load(man):
                return
            if self.vector is not None:
                return
        elif version > 0:
            have = man.get("data_version") if man else "none"
            notice(f"derived indexes are stale (index version {have}, database version {version}); rebuilding from SQLite")
        self.rebuild()
        self._save_if_free()

    def _try_load(self, man: dict) -> bool:
        try:
            self._load(man)
        except KBError:  # not a damaged index but a KB-level problem (an engine that cannot be opened): said as is
            raise
        except Exception as e:  # a damaged or old-format file: the caller rebuilds
            notice(f"derived index unreadable ({type(e).__name__}: {e}); rebuilding from SQLite")
            self.vector = self.lexical = None
            return False
        self.loaded_version = man["data_version"]
        return True

    def _load(self, man: dict) -> None:
        """Load the saved bases, then replay the delta: drop removed ids, add the added ones'
        vectors and terms from SQLite."""
        self.fresh = False
        d = self.folder
        if man.get("backend", "embedded") != self.backend.name:
            raise ValueError(f"the index was built by backend {man.get('backend')!r}, the KB uses {self.backend.name!r}")
        if bool(man.get("space")) != self.params.centred:
            raise ValueError("the index was built with another KB_LANG_CENTER")
        space = LanguageSpace.load(d / man["space"]) if man.get("space") else LanguageSpace()
        lexical = man["lexical"] if isinstance(man["lexical"], dict) else {"folder": man["lexical"]}  # (older manifests)
        self.vector = self.backend.vector.load(d, man["dense"], self.dim, self.params)
        self.lexical = self.backend.lexical.load(d, lexical, self.params)
        self.space, self.space_stale = space, False
        self.base = {"dense": man["dense"], "lexical": lexical, "space": man.get("space")}
        self._set_sentence_base(None)
        if man.get("sentences"):
            try:
                self._set_sentence_base(SentenceBase.load(d / man["sentences"], self.dim))
                self.base["sentences"] = man["sentences"]
            except Exception as e:  # an optimisation only: searches read sentences from SQLite instead
                notice(f"sentence index unreadable ({type(e).__name__}: {e}); the next save writes it anew")
        self.delta_added, self.delta_removed = [], []
        if man.get("delta") and not self.persistent:
            with np.load(d / man["delta"], allow_pickle=False) as z:
                removed, added = z["removed"].tolist(), z["added"].tolist()
            self.mirror(removed, added)

    def rebuild(self) -> None:
        """Both indexes from SQLite, from one consistent snapshot; the next save writes new bases."""
        dim = self.dim
        with self.store.snapshot():
            version = self.store.data_version()
            self.space = self._new_space()
            self.space_stale = False
            id_parts, vec_parts = [], []
            for ids, vecs, langs in self.store.iter_vectors("passages", dim):
                id_parts.append(ids)
                vec_parts.append(self.space.passages(vecs, langs))
            ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
            vecs = np.vstack(vec_parts) if vec_parts else np.zeros((0, dim), np.float32)
            del id_parts, vec_parts
            man = self.manifest() if self.persistent and self.base is None else None
            old = self.base or ({k: man.get(k) for k in ("dense", "lexical")} if man else None)
            self.vector = self.backend.vector.build(dim, ids, vecs, self.params, **self._with_fields(ids))
            del vecs
            self._rebuild_lexical()
        self.loaded_version = version
        self.fresh = True
        self._replaced = (self._replaced or []) + ([old] if old and self.persistent else [])
        self.base = None  # nothing saved matches these indexes yet
        self._set_sentence_base(None)
        self.delta_added, self.delta_removed = [], []

    def _rebuild_lexical(self) -> None:
        ids: list[int] = []
        docs: list[list[str]] = []
        for i, d in self.store.iter_terms():
            ids += i
            docs += d
        self.lexical = self.backend.lexical.build(ids, docs, self.params, **self._with_fields(ids))

    def _new_space(self) -> LanguageSpace:
        """The language means as SQLite's running sums give them now (or none, uncentred)."""
        if not self.params.centred:
            return LanguageSpace()
        return LanguageSpace.from_sums(self.store.lang_sums(), load_prior(self.store.get_meta("embedder") or ""))

    # --- changes ------------------------------------------------------------------------------
    def mirror(self, removed: list[int], added: list[int]) -> None:
        """Apply one change to the in-memory indexes and remember it as part of the delta."""
        self.fresh = False
        if removed:
            self.vector.remove(removed)
            self.lexical.remove(removed)
            if self.sentence_base is not None:
                self.sentence_base.forget(removed)
            self.delta_removed += removed
        if added:
            for ids, vecs, terms, langs in self.store.index_rows(added, self.dim):
                if not all(self.space.knows(lang) for lang in langs):
                    self.space_stale = True  # centred with the other means until the next save rebuilds it
                fields = self._with_fields(ids)
                self.vector.add(ids, self.space.passages(vecs, langs), **fields)
                self.lexical.add(ids.tolist(), terms, **fields)
                self.delta_added += ids.tolist()

    def reconcile(self) -> None:
        """Bring an engine that keeps its own state in step with SQLite: the passages it lacks
        are added, those SQLite no longer has are removed (after a process died between its
        SQLite commit and the engine's write, say)."""
        truth = np.fromiter(self.store.filtered_passage_ids(), np.int64)
        for index in (self.vector, self.lexical):
            held = index.ids()
            extra = np.setdiff1d(held, truth).tolist()
            missing = np.setdiff1d(truth, held).tolist()
            if extra or missing:
                notice(f"{type(index).__name__}: {len(missing)} passages missing, {len(extra)} extra; "
                       "bringing it in step with SQLite")
            if extra:
                index.remove(extra)
            for ids, vecs, terms, langs in self.store.index_rows(missing, self.dim):
                fields = self._with_fields(ids)
                if index is self.vector:
                    index.add(ids, self.space.passages(vecs, langs), **fields)
                else:
                    index.add(ids.tolist(), terms, **fields)
        self.loaded_version = self.store.data_version()

    def applied(self, removed: list[int], added: list[int]) -> None:
        """Mirror a change just committed to SQLite; the indexes now reflect its version."""
        self.mirror(list(removed), added)
        self.loaded_version = self.store.data_version()

    # --- saving -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Save (the delta, or new bases when due), if anything changed since the last save."""
        with self.lock:
            if self.vector is None:
                return
            man = self.manifest()
            if not man or man.get("data_version") != self.loaded_version or not man.get("sentences"):
                self.save()

    def _save_if_free(self) -> None:
        """Save rebuilt indexes, holding the write lock so no writer's files are swept away. A
        reader that cannot save them (read-only media, a full disk) searches them from memory."""
        if self.readonly:
            return
        if self.write_locked:
            self.save()
            return
        from filelock import FileLock, Timeout
        lock = FileLock(str(self.path / "write.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return  # a writer is busy; it saves its own state when done
        try:
            if self.store.data_version() == self.loaded_version:
                self.save()
        except OSError as e:
            notice(f"could not save the rebuilt indexes ({e.strerror or e}); searching them from memory")
        finally:
            lock.release()

    def _needs_compaction(self) -> bool:
        """Write new bases when there are none, the delta is due (see COMPACT_MIN), or the
        vector index no longer suits the KB's size."""
        if self.base is None or self.space_stale:
            return True
        if self.persistent:  # the engine compacts itself; only a change of index kind is ours
            return not self.vector.suits(len(self.vector), self.params)
        delta = len(self.delta_added) + len(self.delta_removed)
        if delta > min(COMPACT_MAX, max(COMPACT_MIN, len(self.vector) // 10)):
            return True
        return not self.vector.suits(len(self.vector), self.params)

    def _space_drifted(self) -> bool:
        """Whether a compaction should centre the vector index anew: always for an exact index
        (cheap: no training), for an approximate one once a language's mean moved by 5%."""
        if not self.space.centred:
            return False
        if self.vector.exact and not self.persistent:
            return True
        now = self._new_space().passage_means
        return any(np.linalg.norm(now[k] - v) > 0.05 * np.linalg.norm(now[k])
                   for k, v in self.space.passage_means.items() if k in now)

    def save(self) -> None:
        """Write new files, fsync, then switch the manifest (atomic rename). Between compactions
        only the delta's ids are written; a compaction writes both bases afresh. When a write
        fails (a full disk), this save's files are removed and the old manifest stays in force."""
        d = self.folder
        d.mkdir(parents=True, exist_ok=True)
        stamp = f"{self.loaded_version}-{int(time.time() * 1000)}"
        before = (dict(self.base) if self.base is not None else None, list(self.delta_added), list(self.delta_removed))
        try:
            self._save(d, stamp)
            self.loaded_stamp = self.files_stamp()  # (our own files: no reason to load them again)
        except BaseException:
            if stamp in json.dumps(self.manifest() or {}):  # (it failed after the switch: the new files are in force)
                raise
            self.base, self.delta_added, self.delta_removed = before  # what the manifest on disk still says
            for f in d.iterdir():
                if stamp in f.name or f.name == "manifest.json.tmp":
                    shutil.rmtree(f, ignore_errors=True) if f.is_dir() else f.unlink(missing_ok=True)
            raise

    def _save(self, d: Path, stamp: str) -> None:
        v = self.loaded_version
        if self._needs_compaction():
            if not self.vector.suits(len(self.vector), self.params) or self.space_stale or self._space_drifted():
                # the vector index no longer suits the KB's size, or its language means moved: both anew
                self.rebuild()
            elif self.base is not None:  # the in-memory lexical index is base + delta: rebuild it whole
                self._rebuild_lexical()
            space = None
            if self.space.centred:
                space = f"space-{stamp}.npz"
                self.space.save(d / space)
            self.base = {"dense": self.vector.save(d, f"passages-{stamp}"),
                         "lexical": self.lexical.save(d, f"bm25-{stamp}"), "space": space}
            self.delta_added, self.delta_removed = [], []
            delta_file = None
        elif self.persistent:
            self.base["dense"] = self.vector.save(d, f"passages-{stamp}")  # (flushes the engine)
            self.base["lexical"] = self.lexical.save(d, f"bm25-{stamp}")
            self.delta_added, self.delta_removed = [], []
            delta_file = None
        else:
            delta_file = f"delta-{stamp}.npz"
            with open(d / delta_file, "wb") as f:
                np.savez(f, added=np.asarray(self.delta_added, np.int64),
                         removed=np.asarray(self.delta_removed, np.int64))
                f.flush()
                os.fsync(f.fileno())
        if not self.base.get("sentences"):  # with new bases, or once for a KB saved without it
            self._write_sentence_base(d / f"sentences-{stamp}")
        if (d / "manifest.json").is_dir():  # (a damaged KB folder: the manifest's name taken by a folder)
            shutil.rmtree(d / "manifest.json")
        write_json_atomic(d / "manifest.json", {"data_version": v, "backend": self.backend.name, **self.base,
                                                "delta": delta_file, "passages": len(self.vector),
                                                "embedder": self._embedder_name(), "written_at": now_iso()})
        keep = {*_files(self.base["dense"]), *_files(self.base["lexical"]), self.base.get("sentences"),
                self.base.get("space"), delta_file, "manifest.json"}
        for f in d.iterdir():
            if f.name not in keep:
                shutil.rmtree(f, ignore_errors=True) if f.is_dir() else f.unlink(missing_ok=True)
        for old in self._replaced or []:  # an engine's collections that the manifest no longer names
            for kind in ("dense", "lexical"):
                entry = (old or {}).get(kind)
                if entry and entry != self.base[kind]:
                    getattr(self.backend, "vector" if kind == "dense" else "lexical").discard(d, entry, self.params)
        self._replaced = []

    def _write_sentence_base(self, folder: Path) -> None:
        """Every passage's sentences from SQLite as they are now (the indexes' state) into
        ``folder``; searches use it from here on."""
        if len(self.vector) > 100_000:
            notice(f"writing the sentence index of {len(self.vector)} passages")
        SentenceBase.write(folder, self.store.iter_passage_sentences(self.dim), self.dim)
        self._set_sentence_base(SentenceBase.load(folder, self.dim))
        self.base["sentences"] = folder.name

    def _set_sentence_base(self, sb: SentenceBase | None) -> None:
        if self.sentence_base is not None:
            self.sentence_base.close()
        self.sentence_base = sb

    # --- reads for a search: every read the ranking (kb.search) makes, whatever the backend ----------
    # (and ``space``, the language means the vectors are centred with: ``kb.langspace``)
    @property
    def lexical_size(self) -> int:
        """How many live passages the lexical index holds (0: BM25 has nothing to score)."""
        return len(self.lexical) if self.lexical is not None else 0

    def term_scores(self, terms: list[str], weights: dict[str, float] | None = None):
        """BM25 of every live passage for these terms (``kb.backends.LexicalScores``: ``top``,
        ``get``), each term's part times its weight where ``weights`` gives one."""
        return self.lexical.scores(terms, weights)

    def idf(self, term: str) -> float:
        """The term's IDF over the lexical index (``unseen_idf`` for a term no passage holds)."""
        return self.lexical.idf(term)

    def unseen_idf(self) -> float:
        """The IDF of a term no passage holds (Lucene's, over ``lexical_size`` passages)."""
        return math.log(1 + (self.lexical_size + 0.5) / 0.5)

    def stored_vectors(self, pids) -> np.ndarray:
        """The passages' vectors as the vector index holds them (centred; a zero row for an id it lacks)."""
        return self.vector.vectors(pids)

    def dense(self, qv: np.ndarray, n: int, allowed: Selection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosines) of the ``n`` passages nearest to ``qv`` (centred as the index's rows),
        only among the ``allowed`` ones when given. A small filter over an approximate index is
        searched exactly, with the vectors from SQLite."""
        if allowed is not None and allowed.ids is not None and not self.vector.exact and len(allowed.ids) <= EXACT_FILTER_MAX:
            ids, vecs, langs = self.store.vectors_of(allowed.ids.tolist(), self.dim)
            sims = self.space.passages(vecs, langs) @ qv
            top = np.argsort(-sims, kind="stable")[:n]
            return ids[top], sims[top]
        return self.vector.search(qv, n, allowed)

    def lead(self, pids: list[int]) -> tuple[dict[int, PassageRow], dict[int, list[SentenceRef]], np.ndarray]:
        """For a search's leading candidates: their rows and their sentences, with a vector
        matrix that each ``SentenceRef.row`` indexes — from the sentence base where it holds
        them, otherwise (passages added since it was written, or no base) from SQLite. A passage
        removed since, or without sentences, is absent."""
        rows = self.store.passage_rows(pids)
        sents, vecs = self.sentence_base.lookup(pids) if self.sentence_base is not None else ({}, None)
        rest = [p for p in pids if p in rows and p not in sents]
        if rest:
            more, more_vecs = self.store.sentences_of(rest, self.dim)
            shift = 0 if vecs is None else len(vecs)
            sents.update({p: [s._replace(row=s.row + shift) for s in ss] for p, ss in more.items()})
            vecs = more_vecs if vecs is None else np.vstack([vecs, more_vecs])
        if vecs is None:
            vecs = np.zeros((0, self.dim), np.float32)
        return {p: r for p, r in rows.items() if p in sents}, sents, vecs

    def describe(self) -> str:
        """The derived indexes in words, e.g. for ``kb stats``."""
        sentences = (f" + sentence base ({len(self.sentence_base)} passages)" if self.sentence_base is not None
                     else " (sentences from SQLite)")
        space = (f"; vectors centred on their language's mean ({', '.join(sorted(self.space.passage_means)) or 'none yet'})"
                 if self.space.centred else "; plain cosine (KB_LANG_CENTER=0)")
        return f"{self.vector.describe()['summary']} + {self.lexical.describe()['summary']}{sentences}{space}"


def _files(entry: dict) -> list[str]:
    """The files a manifest entry names (entries written before the index contract: ``file``)."""
    return entry.get("files") or [entry[k] for k in ("file", "folder") if k in entry]
