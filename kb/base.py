"""The knowledge base: one folder with a SQLite database (the truth) and derived indexes.

``KnowledgeBase.open(path)`` for searching, ``kb.writer()`` around ingesting or removing.
Derived files live under ``index/`` and are named in ``index/manifest.json`` together with the
SQLite ``data_version`` they reflect; a stale or missing set is rebuilt from SQLite on open.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import config
from .embed import Embedder, embedder_name, get_embedder
from .errors import EmbedderMismatch, KBError, KBLocked, KBNotFound
from .index import DenseIndex, LexicalIndex, SentenceBase, ivf_shape, write_json_atomic
from .langspace import LanguageSpace, load_prior
from .segment import make_passages, split_sentences
from .store import Article, Store, now_iso
from .text import detect_lang, init_jieba, to_simplified, tokenize

DB_NAME = "kb.sqlite"
# New bases are written once the delta (passages added or removed since) exceeds a tenth of the
# KB, at least COMPACT_MIN and at most COMPACT_MAX passages: a bounded share of rebuild work per
# change, and a bounded replay from SQLite when a KB is opened.
COMPACT_MIN, COMPACT_MAX = 50, 20_000


@dataclass
class ArticleInput:
    """What ingest hands to the KB: cleaned text plus metadata."""
    key: str            # resolved path or URL; identifies "the same article" across runs
    path: str           # as given by the user
    text: str           # cleaned, normalised text
    content_hash: str   # of the raw input
    title: str = ""
    source: str | None = None
    url: str | None = None
    author: str | None = None
    date: str | None = None
    meta: dict = field(default_factory=dict)


def article_id_for(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def _notice(msg: str) -> None:
    print(f"kb: {msg}", file=sys.stderr)


class KnowledgeBase:
    def __init__(self, path: Path, store: Store, embedder: Embedder | None = None, model: str | None = None):
        self.path = Path(path)
        self.store = store
        self._embedder = embedder
        self._model = model
        self._lock = threading.RLock()
        self._loaded_version = -1
        self.passages_index: DenseIndex | None = None
        self.lexical: LexicalIndex | None = None
        self.sentence_base: SentenceBase | None = None  # None: every passage's sentences from SQLite
        # The language means the dense index's vectors are centred with (kb.langspace).
        self.space = LanguageSpace()
        self._space_stale = False  # a language the space has no mean for was added since
        # Passage ids added to / removed from the indexes since their saved base (see kb.index).
        self._delta_added: list[int] = []
        self._delta_removed: list[int] = []
        self._base: dict | None = None   # manifest entries of the saved base files
        self._fresh = False  # indexes just rebuilt from SQLite by this object, unchanged since
        self._dim: int | None = None  # read from SQLite once (see ``dim``)
        self._fold: bool | None = None  # read from SQLite once (see ``folds_script``)
        self._writer_lock = None

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, create: bool = False, embedder: Embedder | None = None,
             model: str | None = None) -> "KnowledgeBase":
        """Open the KB at ``path`` (default: setting KB_DIR). ``create`` makes it when missing.

        Raises KBNotFound when there is none and ``create`` is false, EmbedderMismatch when the
        configured embedder is not the one that built it."""
        path = Path(path or config.get("KB_DIR"))
        db = path / DB_NAME
        if not db.exists():
            if not create:
                raise KBNotFound(f"No knowledge base in {path}. Build one with: python -m ingest --kb {path} data/articles")
            path.mkdir(parents=True, exist_ok=True)
        kb = cls(path, Store(db), embedder, model)
        kb._check_embedder()
        return kb

    @property
    def embedder_name(self) -> str:
        return self._embedder.name if self._embedder is not None else embedder_name(self._model)

    def _check_embedder(self) -> None:
        built = self.store.get_meta("embedder")
        if built and built != self.embedder_name:
            raise EmbedderMismatch(
                f"The KB in {self.path} was built with embedder '{built}' but '{self.embedder_name}' is configured; "
                f"set KB_MODEL to the model that built it, or rebuild the KB with the new one.")

    @property
    def folds_script(self) -> bool:
        """Whether this KB embeds the Simplified folding of its text (``kb.text.to_simplified``) and
        so must fold questions too. New KBs do: a Simplified question then meets a Traditional
        article in the same script (on CMRC converted to Traditional, recall@1 0.979 unfolded
        against 0.983 over the Simplified originals, benchmarks/README.md). KBs built before this
        carry no flag and keep embedding text as it is, so their stored vectors stay valid."""
        if self._fold is None:
            mode = self.store.get_meta("embed_script")
            older = mode is None and self.store.get_meta("embedder") is not None  # (flag written with the name)
            self._fold = not older and mode in (None, "simplified")
        return self._fold

    def query_vector(self, query: str) -> np.ndarray:
        """The question's vector, its script folded as the KB's passages were."""
        return self.embedder.queries([to_simplified(query) if self.folds_script else query])[0]

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self._model)
        return self._embedder

    @property
    def dim(self) -> int:
        """The KB's vector width: stored with the first article and fixed from then on."""
        if self._dim is None:
            d = self.store.get_meta("dim")
            if not d:
                return self.embedder.dim
            self._dim = int(d)
        return self._dim

    def close(self) -> None:
        self._set_sentence_base(None)
        self.store.close()

    # --- derived indexes ------------------------------------------------------------------
    @property
    def _index_dir(self) -> Path:
        return self.path / "index"

    def _manifest(self) -> dict | None:
        import json
        try:
            return json.loads((self._index_dir / "manifest.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def ensure_indexes(self) -> None:
        """Make the in-memory indexes reflect SQLite: load the saved files when they are current,
        otherwise rebuild from SQLite (and save, unless another process is writing).

        While another process is writing, a reader serves the last saved state (consistent, if
        a little behind) rather than rebuilding; hits whose passages are gone are skipped."""
        with self._lock:
            version = self.store.data_version()
            if version == self._loaded_version and self.passages_index is not None:
                return
            man = self._manifest()
            if man and man.get("data_version") == version:
                if self._try_load(man):
                    return
            elif self._writer_lock is None and self._other_writer_active():
                if man and man.get("data_version") != self._loaded_version and self._try_load(man):
                    return
                if self.passages_index is not None:
                    return
            elif version > 0:
                have = man.get("data_version") if man else "none"
                _notice(f"derived indexes are stale (index version {have}, database version {version}); rebuilding from SQLite")
            self._rebuild_in_memory()
            self._save_if_free()

    def _try_load(self, man: dict) -> bool:
        try:
            self._load(man)
        except Exception as e:  # a damaged or old-format file: the caller rebuilds
            _notice(f"derived index unreadable ({type(e).__name__}: {e}); rebuilding from SQLite")
            self.passages_index = self.lexical = None
            return False
        self._loaded_version = man["data_version"]
        return True

    def _save_if_free(self) -> None:
        """Save rebuilt indexes, holding the write lock so no writer's files are swept away."""
        if self._writer_lock is not None:
            self._save()
            return
        from filelock import FileLock, Timeout
        lock = FileLock(str(self.path / "write.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return  # a writer is busy; it saves its own state when done
        try:
            if self.store.data_version() == self._loaded_version:
                self._save()
        finally:
            lock.release()

    def _other_writer_active(self) -> bool:
        from filelock import FileLock, Timeout
        lock = FileLock(str(self.path / "write.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    def _load(self, man: dict) -> None:
        """Load the saved bases, then replay the delta: drop removed ids, add the added ones'
        vectors and terms from SQLite."""
        self._fresh = False
        d = self._index_dir
        dense = man["dense"]
        if bool(man.get("space")) != self._wants_centring():
            raise ValueError("the index was built with another KB_LANG_CENTER")
        space = LanguageSpace.load(d / man["space"]) if man.get("space") else LanguageSpace()
        self.passages_index = DenseIndex.load(d / dense["file"], self.dim, dense["kind"], centred=space.centred)
        self.lexical = LexicalIndex.load(d / man["lexical"])
        self.space, self._space_stale = space, False
        self._base = {"dense": dense, "lexical": man["lexical"], "space": man.get("space")}
        self._set_sentence_base(None)
        if man.get("sentences"):
            try:
                self._set_sentence_base(SentenceBase.load(d / man["sentences"], self.dim))
                self._base["sentences"] = man["sentences"]
            except Exception as e:  # an optimisation only: searches read sentences from SQLite instead
                _notice(f"sentence index unreadable ({type(e).__name__}: {e}); the next save writes it anew")
        self._delta_added, self._delta_removed = [], []
        if man.get("delta"):
            with np.load(d / man["delta"], allow_pickle=False) as z:
                removed, added = z["removed"].tolist(), z["added"].tolist()
            self._mirror(removed, added)

    def _mirror(self, removed: list[int], added: list[int]) -> None:
        """Apply one change to the in-memory indexes and remember it as part of the delta."""
        self._fresh = False
        if removed:
            self.passages_index.remove(removed)
            self.lexical.remove(removed)
            if self.sentence_base is not None:
                self.sentence_base.forget(removed)
            self._delta_removed += removed
        if added:
            for ids, vecs, terms, langs in self.store.index_rows(added, self.dim):
                if not all(self.space.knows(lang) for lang in langs):
                    self._space_stale = True  # centred with the other means until the next save rebuilds it
                self.passages_index.add(ids, self.space.passages(vecs, langs))
                for p, t in zip(ids.tolist(), terms):
                    self.lexical.add(p, t)
                self._delta_added += ids.tolist()

    def _rebuild_in_memory(self) -> None:
        """Both indexes from SQLite, from one consistent snapshot; the next save writes new bases."""
        dim = self.dim
        self.store.db.execute("BEGIN")
        try:
            version = self.store.data_version()
            self.space = self._new_space()
            self._space_stale = False
            id_parts, vec_parts = [], []
            for ids, vecs, langs in self.store.iter_vectors("passages", dim):
                id_parts.append(ids)
                vec_parts.append(self.space.passages(vecs, langs))
            ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
            vecs = np.vstack(vec_parts) if vec_parts else np.zeros((0, dim), np.float32)
            del id_parts, vec_parts
            self.passages_index = DenseIndex.build(dim, ids, vecs, config.get("KB_ANN_MIN_PASSAGES"),
                                                   centred=self.space.centred)
            del vecs
            self._rebuild_lexical()
        finally:
            self.store.db.execute("COMMIT")
        self._loaded_version = version
        self._fresh = True
        self._base = None  # nothing saved matches these indexes yet
        self._set_sentence_base(None)
        self._delta_added, self._delta_removed = [], []

    @staticmethod
    def _wants_centring() -> bool:
        return config.get("KB_LANG_CENTER") == 1

    def _new_space(self) -> LanguageSpace:
        """The language means as SQLite's running sums give them now (or none, uncentred)."""
        if not self._wants_centring():
            return LanguageSpace()
        return LanguageSpace.from_sums(self.store.lang_sums(), load_prior(self.store.get_meta("embedder") or ""))

    def query_vectors(self, qv: np.ndarray, lang: str) -> tuple[np.ndarray, np.ndarray]:
        """A question's vector as compared with the index's passages, and with sentences."""
        return self.space.query(qv, lang)

    def _rebuild_lexical(self) -> None:
        ids: list[int] = []
        docs: list[list[str]] = []
        for i, d in self.store.iter_terms():
            ids += i
            docs += d
        self.lexical = LexicalIndex.build(ids, docs)

    def _needs_compaction(self) -> bool:
        """Write new bases when there are none, the delta is due (see COMPACT_MIN), or the
        dense index no longer fits the KB's size."""
        if self._base is None or self._space_stale:
            return True
        delta = len(self._delta_added) + len(self._delta_removed)
        if delta > min(COMPACT_MAX, max(COMPACT_MIN, len(self.passages_index) // 10)):
            return True
        return self._dense_misfit()

    def _dense_misfit(self) -> bool:
        n, idx = len(self.passages_index), self.passages_index
        ann_min = config.get("KB_ANN_MIN_PASSAGES")
        if idx.kind == "flat":
            return n >= ann_min
        return n < ann_min // 2 or idx.nlist * 4 < ivf_shape(n)[0]

    def _space_drifted(self) -> bool:
        """Whether a compaction should centre the dense index anew: always for an exact index
        (cheap: no training), for IVF once a language's mean moved by 5% since it was built."""
        if not self.space.centred:
            return False
        if self.passages_index.kind == "flat":
            return True
        now = self._new_space().passage_means
        return any(np.linalg.norm(now[k] - v) > 0.05 * np.linalg.norm(now[k])
                   for k, v in self.space.passage_means.items() if k in now)

    def _save(self) -> None:
        """Write new files, fsync, then switch the manifest (atomic rename). Between compactions
        only the delta's ids are written; a compaction writes both bases afresh."""
        d = self._index_dir
        d.mkdir(parents=True, exist_ok=True)
        v = self._loaded_version
        stamp = f"{v}-{int(time.time() * 1000)}"
        if self._needs_compaction():
            if self._dense_misfit() or self._space_stale or self._space_drifted():
                # the dense index no longer fits the KB's size, or its language means moved: both anew
                self._rebuild_in_memory()
            elif self._base is not None:  # the in-memory lexical index is base + delta: rebuild it whole
                self._rebuild_lexical()
            dense = {"file": f"passages-{stamp}.faiss", **self.passages_index.describe()}
            self.passages_index.save(d / dense["file"])
            self.lexical.save(d / f"bm25-{stamp}")
            space = None
            if self.space.centred:
                space = f"space-{stamp}.npz"
                self.space.save(d / space)
            self._base = {"dense": dense, "lexical": f"bm25-{stamp}", "space": space}
            self._delta_added, self._delta_removed = [], []
            delta_file = None
        else:
            delta_file = f"delta-{stamp}.npz"
            with open(d / delta_file, "wb") as f:
                np.savez(f, added=np.asarray(self._delta_added, np.int64),
                         removed=np.asarray(self._delta_removed, np.int64))
                f.flush()
                os.fsync(f.fileno())
        if not self._base.get("sentences"):  # with new bases, or once for a KB saved without it
            self._write_sentence_base(d / f"sentences-{stamp}")
        write_json_atomic(d / "manifest.json", {"data_version": v, **self._base, "delta": delta_file,
                                                "passages": len(self.passages_index),
                                                "embedder": self.embedder_name, "written_at": now_iso()})
        keep = {self._base["dense"]["file"], self._base["lexical"], self._base.get("sentences"), self._base.get("space"),
                delta_file, "manifest.json"}
        for f in d.iterdir():
            if f.name not in keep:
                shutil.rmtree(f, ignore_errors=True) if f.is_dir() else f.unlink(missing_ok=True)

    def _write_sentence_base(self, folder: Path) -> None:
        """Every passage's sentences from SQLite as they are now (the indexes' state) into
        ``folder``; searches use it from here on."""
        if len(self.passages_index) > 100_000:
            _notice(f"writing the sentence index of {len(self.passages_index)} passages")
        SentenceBase.write(folder, self.store.iter_passage_sentences(self.dim), self.dim)
        self._set_sentence_base(SentenceBase.load(folder, self.dim))
        self._base["sentences"] = folder.name

    def _set_sentence_base(self, sb: SentenceBase | None) -> None:
        if self.sentence_base is not None:
            self.sentence_base.close()
        self.sentence_base = sb

    def lead_passages(self, pids: list[int]) -> tuple[dict[int, dict], dict[int, list[tuple]], np.ndarray]:
        """For a search's leading candidates: their rows (``Store.passage_rows``) and their
        sentences as (id, seq, start, end, row) with a vector matrix that ``row`` indexes — from
        the sentence base where it holds them, otherwise (passages added since it was written,
        or no base) from SQLite. A passage removed since, or without sentences, is absent."""
        rows = self.store.passage_rows(pids)
        sents, vecs = self.sentence_base.lookup(pids) if self.sentence_base is not None else ({}, None)
        rest = [p for p in pids if p in rows and p not in sents]
        if rest:
            more, more_vecs = self.store.sentences_of(rest, self.dim)
            shift = 0 if vecs is None else len(vecs)
            sents.update({p: [(*s[:4], s[4] + shift) for s in ss] for p, ss in more.items()})
            vecs = more_vecs if vecs is None else np.vstack([vecs, more_vecs])
        if vecs is None:
            vecs = np.zeros((0, self.dim), np.float32)
        return {p: r for p, r in rows.items() if p in sents}, sents, vecs

    def rebuild(self) -> dict:
        """Rebuild every derived index from SQLite and save it (``python -m kb rebuild``)."""
        with self.writer():
            if not self._fresh:  # (opening the writer has just rebuilt them when they were missing)
                init_jieba()
                self._rebuild_in_memory()
                self._save()
        return self.stats()

    # --- writing -----------------------------------------------------------------------
    @contextmanager
    def writer(self, wait_message: bool = True):
        """Hold the KB's write lock (one writer at a time); saves derived indexes on exit."""
        from filelock import FileLock, Timeout
        if self._writer_lock is not None:  # re-entrant
            yield self
            return
        lock = FileLock(str(self.path / "write.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if wait_message:
                _notice(f"another process is writing to {self.path}; waiting for it to finish…")
            try:
                lock.acquire(timeout=3600)
            except Timeout:
                raise KBLocked(f"{self.path} stayed locked by another writer for an hour; giving up") from None
        self._writer_lock = lock
        try:
            self.store.ensure_lang_sums()
            self.ensure_indexes()
            self._retokenize_if_needed()
            yield self
        finally:
            try:
                self.flush()
            finally:
                self._writer_lock = None
                lock.release()

    def _retokenize_if_needed(self, force: bool = False) -> None:
        """Re-cut every passage's lexical terms when the user dictionary changed (no re-embedding)."""
        from .text import lexicon_id
        current = lexicon_id()
        stored = self.store.get_meta("lexicon")
        if not force and stored == current:
            return
        n = 0
        from .text import _query_tokens_cached
        _query_tokens_cached.cache_clear()
        with self.store.transaction() as db:
            if stored is not None or force:
                rows = db.execute("SELECT id, text FROM passages").fetchall()
                db.executemany("UPDATE passages SET terms=? WHERE id=?", [(" ".join(tokenize(t)), i) for i, t in rows])
                n = len(rows)
                self.store._bump()
            self.store.set_meta("lexicon", current)
        if n:
            _notice(f"user dictionary changed: re-tokenised {n} passages for BM25 (vectors kept)")
            self._rebuild_in_memory()

    def flush(self) -> None:
        """Save the derived indexes (the delta, or new bases when due), if anything changed."""
        with self._lock:
            if self.passages_index is None:
                return
            man = self._manifest()
            if not man or man.get("data_version") != self._loaded_version or not man.get("sentences"):
                self._save()

    def _require_writer(self) -> None:
        if self._writer_lock is None:
            raise KBError("internal: writes must happen inside `with kb.writer():`")

    def status_of(self, doc: ArticleInput) -> tuple[str, str | None]:
        """('unchanged'|'updated'|'added'|'duplicate', detail) for a document before adding it."""
        row = self.store.article_by_key(doc.key)
        if row is not None:
            return ("unchanged", row["id"]) if row["content_hash"] == doc.content_hash else ("updated", row["id"])
        dup = self.store.article_by_hash(doc.content_hash)
        if dup is not None:
            return "duplicate", dup["path"]
        return "added", None

    def add(self, doc: ArticleInput) -> tuple[str, str | None]:
        """Segment, embed and store one article (replacing an older version of it).

        Returns (status, detail): status is added / updated / unchanged / duplicate; detail is
        the article id, or for a duplicate the path of the copy already stored."""
        self._require_writer()
        status, detail = self.status_of(doc)
        if status in ("unchanged", "duplicate"):
            return status, detail
        art_id = article_id_for(doc.key)
        max_chars = config.get("KB_PASSAGE_MAX_CHARS")
        sentences = split_sentences(doc.text, max_chars)
        if not sentences:
            raise KBError(f"{doc.path}: no text left after cleaning")
        passages = make_passages(doc.text, sentences, config.get("KB_PASSAGE_TOKENS"), max_chars,
                                 hard_breaks=doc.meta.get("pages") or ())
        sent_texts = [doc.text[s.start:s.end] for s in sentences]
        pass_texts = [p.text for p in passages]
        fold = self.folds_script
        sent_vecs, pass_vecs = self._embed_passages(sent_texts, pass_texts, fold)
        rows = [{"seq": p.seq, "paragraph": p.paragraph, "paragraph_end": p.paragraph_end, "start": p.start,
                 "end": p.end, "sent_lo": p.sent_lo, "sent_hi": p.sent_hi, "text": p.text, "lang": p.lang,
                 "terms": " ".join(tokenize(p.text))} for p in passages]
        from .dedup import signature
        sig = signature(doc.text)
        near = self.duplicates.best_match(sig, exclude=art_id)
        dup_of = None
        if near is not None:
            first = self.store.article(near[0])
            dup_of = (first.dup_of or first.id) if first else None
        art = Article(id=art_id, key=doc.key, path=doc.path, title=doc.title or Path(doc.path).stem,
                      source=doc.source, url=doc.url, author=doc.author, date=doc.date,
                      lang=detect_lang(doc.text), content_hash=doc.content_hash, text=doc.text, meta=doc.meta,
                      ingested_at=now_iso(), dup_of=dup_of, minhash=sig.tobytes())
        with self._lock:
            if self.store.get_meta("embedder") is None:
                with self.store.transaction():
                    self.store.set_meta("embedder", self.embedder.name)
                    self.store.set_meta("dim", str(self.embedder.dim))
                    self.store.set_meta("embed_script", "simplified" if fold else "as-is")
                    self._fold = fold
            old_p, old_s = self.store.put_article(art, [(s.start, s.end, s.paragraph) for s in sentences], sent_vecs,
                                                  rows, pass_vecs)
            self._apply(art_id, old_p, old_s)
            self.duplicates.add(art_id, sig)
        if dup_of is not None:
            first = self.store.article(dup_of)
            return "near-duplicate", f"{first.path if first else dup_of} (similarity {near[1]:.2f})"
        return status, art_id

    @property
    def duplicates(self):
        """Near-duplicate finder over the stored articles' MinHash signatures (built on first use)."""
        if getattr(self, "_dups", None) is None:
            from .dedup import DuplicateFinder
            self._dups = DuplicateFinder()
            self._dups.load(*self.store.signatures())
        return self._dups

    def _embed_passages(self, sent_texts: list[str], pass_texts: list[str], fold: bool) -> tuple[np.ndarray, np.ndarray]:
        """Embed sentences and passages together in large batches: the bundled engine packs a
        batch's tokens without padding, so bigger batches only save per-call overhead."""
        texts = sent_texts + pass_texts
        if fold:
            texts = [to_simplified(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.embedder.dim), np.float32)
        bs = max(1, config.get("KB_BATCH"))
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            out[idx] = self.embedder.passages([texts[j] for j in idx])
        return out[:len(sent_texts)], out[len(sent_texts):]

    def _apply(self, art_id: str, old_p: list[int], old_s: list[int]) -> None:
        """Mirror one committed SQLite change into the in-memory indexes."""
        added = [r[0] for r in self.store.db.execute("SELECT id FROM passages WHERE article_id=? ORDER BY id",
                                                     (art_id,))] if art_id else []
        self._mirror(list(old_p), added)
        self._loaded_version = self.store.data_version()

    def remove(self, article_id: str) -> Article:
        """Remove one article (id or unique id prefix) and everything derived from it."""
        self._require_writer()
        art = self.resolve(article_id)
        with self._lock:
            old_p, old_s = self.store.delete_article(art.id)
            self._apply("", old_p, old_s)
            self.duplicates.remove(art.id)
        return art

    # --- reading -----------------------------------------------------------------------
    def resolve(self, article_id: str) -> Article:
        """The article with this id or unique id prefix."""
        ids = self.store.find_article(article_id.strip()) if article_id.strip() else []
        if not ids:
            raise KBError(f"No article with id '{article_id}' in {self.path}; `python -m kb list` shows the ids")
        if len(ids) > 1:
            raise KBError(f"Article id prefix '{article_id}' is ambiguous ({', '.join(ids[:5])}…); give more characters")
        return self.store.article(ids[0])

    def articles(self) -> list[Article]:
        return self.store.articles()

    def stats(self) -> dict:
        c = self.store.counts()
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {"path": str(self.path), **c, "embedder": self.store.get_meta("embedder") or self.embedder_name,
                "dim": int(self.store.get_meta("dim") or 0),
                "embedded_text": "Simplified folding" if self.folds_script else "as written",
                "data_version": self.store.data_version(),
                "index": self.index_info(), "bytes_on_disk": size}

    def index_info(self) -> str:
        """The derived indexes in words, e.g. for ``kb stats``."""
        self.ensure_indexes()
        d = self.passages_index.describe()
        dense = ("faiss exact inner product (IndexFlatIP)" if d["kind"] == "flat" else
                 f"faiss IVF, {'half-precision' if d['codec'] == 'fp16' else '8-bit scalar quantised'} vectors"
                 f" (nlist {d['nlist']}, nprobe {d['nprobe']})")
        sentences = (f" + sentence base ({len(self.sentence_base)} passages)" if self.sentence_base is not None
                     else " (sentences from SQLite)")
        space = (f"; vectors centred on their language's mean ({', '.join(sorted(self.space.passage_means)) or 'none yet'})"
                 if self.space.centred else "; plain cosine (KB_LANG_CENTER=0)")
        return f"{dense} + bm25s ({self.lexical.delta_size if self.lexical else 0} passages in the delta){sentences}{space}"

    def search(self, query: str, k: int = 5, **kw):
        """Ranked, cited passages for ``query``; see ``kb.search.search``."""
        from .search import search
        with self._lock:  # one connection and one set of indexes, shared by the app's sessions
            return search(self, query, k=k, **kw)

    def sources(self) -> list[str]:
        return [r[0] for r in self.store.db.execute(
            "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY source")]
