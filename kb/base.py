"""The knowledge base: one folder with a SQLite database (the truth) and derived indexes.

``KnowledgeBase.open(path)`` for searching, ``kb.writer()`` around ingesting or removing.
It is a facade over parts that each own one job:

| part | module | job |
|---|---|---|
| ``store`` | ``kb.store`` | SQLite: articles, sentences, passages, vectors; the only place with SQL |
| ``indexes`` | ``kb.indexes`` | the derived indexes (a ``kb.backends`` backend): load, replay, compact, save |
| ``writing`` | ``kb.writing`` | the write path: segment, embed, fingerprint, store, index |
| ``search`` | ``kb.search`` | ranking as stages over ``kb.records`` |

Parameters come in as data (``kb.params``): ``BuildParams`` recorded in the KB at creation,
``IndexParams`` and ``SearchParams`` from the caller, in one ``Settings`` record that the entry
points read from the environment (the defaults when a caller gives none).
"""
from __future__ import annotations

import dataclasses
import os
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import backends
from .embed import Embedder, embedder_name, get_embedder
from .errors import ArticleNotFound, ConfigError, EmbedderMismatch, KBError, KBNotFound, StorageError
from .indexes import Indexes, notice
from .params import BuildParams, IndexParams, SearchParams, Settings
from .store import Article, Store
from .text import init_jieba, to_simplified, use_userdict
from .writelock import WriteLock
from .writing import ArticleInput, ArticleWriter, article_id_for
from .view import drop_upload
from .results import is_iso_date

DB_NAME = "kb.sqlite"
# Removing by an id prefix shorter than this needs the caller's confirmation (``confirmed``): a
# one-character prefix that happens to be unique today names an article by accident.
SAFE_PREFIX = 6

__all__ = ["ArticleInput", "KnowledgeBase", "article_id_for", "DB_NAME"]


def writable(folder: Path) -> bool:
    """Whether this process can write in ``folder`` — by trying (``os.access`` says yes to root
    even on read-only media); the probe file is removed at once."""
    import tempfile
    try:
        fd, name = tempfile.mkstemp(prefix=".kb-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


class KnowledgeBase:
    def __init__(self, path: Path, store: Store, embedder: Embedder | None = None, model: str | None = None,
                 build: BuildParams | None = None, index_params: IndexParams | None = None,
                 params: SearchParams | None = None, settings: Settings | None = None):
        self.path = Path(path)
        self.store = store
        self.settings = settings or Settings()
        self._embedder = embedder
        self._model = model
        self.build = self._recorded_build(build or self.settings.build)
        self.params = params or self.settings.search
        self.indexes = Indexes(self.path, store, backends.get(self.build.backend), index_params or self.settings.index,
                               lambda: self.dim, lambda: self.embedder_name)
        self.writing = ArticleWriter(store, self.indexes, self.build, lambda: self.embedder, lambda: self.folds_script,
                                     batch=self.settings.batch)
        self._dim: int | None = None  # read from SQLite once (see ``dim``)
        self._fold: bool | None = None  # read from SQLite once (see ``folds_script``)
        self._write_lock = WriteLock(self.path)
        self.readonly = False  # on read-only media (or a folder this process may not write): searched, never written

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, create: bool = False, embedder: Embedder | None = None,
             model: str | None = None, build: BuildParams | None = None, index_params: IndexParams | None = None,
             params: SearchParams | None = None, settings: Settings | None = None) -> "KnowledgeBase":
        """Open the KB at ``path`` (default: ``settings.kb_dir``). ``create`` makes it when missing.

        ``settings`` (``kb.params.Settings``: what an entry point read from the environment;
        the defaults when not given) supply everything the other arguments leave out. ``build``
        applies to a KB created now (an existing one uses what it recorded). Raises
        KBNotFound when there is none and ``create`` is false, EmbedderMismatch when the
        configured embedder is not the one that built it."""
        settings = settings or Settings()
        use_userdict(settings.userdict)
        path = Path(path or settings.kb_dir)
        db = path / DB_NAME
        if path.exists() and not path.is_dir():
            raise KBNotFound(f"{path} is a file, not a knowledge base folder; give the folder (--kb DIR or KB_DIR)")
        if db.exists() and not db.is_file():
            raise KBNotFound(f"{db} is not a file; {path} is not a knowledge base (move that folder away)")
        wanted = build or settings.build
        new_backend = backends.get(wanted.backend)  # an unknown name: said before anything is created
        if not db.exists():
            new_backend.vector.check(dataclasses.replace(index_params or settings.index, home=str(path)))
        if not db.exists():
            if not create:
                raise KBNotFound(f"No knowledge base in {path}. Build one with: python -m ingest --kb {path} data/articles")
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageError.of(e, path, doing="creating the knowledge base") from None
        readonly = not writable(path)
        try:
            store = Store(db, readonly=readonly)
        except sqlite3.Error as e:
            raise StorageError.of(e, path, doing="opening kb.sqlite") from None
        try:
            kb = cls(path, store, embedder, model, build, index_params, params, settings)
            kb.readonly = readonly
            kb.indexes.readonly = readonly
            kb._check_embedder()
        except BaseException:
            store.close()
            raise
        return kb

    def _recorded_build(self, wanted: BuildParams) -> BuildParams:
        """The KB's build parameters: recorded by its first writer (``wanted`` then), read back
        after. A setting that differs from the record is named once, and the record wins."""
        backends.get(wanted.backend)  # an unknown name is an error even for an existing KB
        raw = self.store.get_meta("build")
        if raw is None:  # a new KB, or one made before they were recorded: the first writer records them
            return wanted
        try:
            have = BuildParams.from_json(raw)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{self.path}: its recorded build parameters are unreadable ({e})") from None
        changed = [f"{f.name}={getattr(wanted, f.name)!r}" for f in dataclasses.fields(BuildParams)
                   if getattr(wanted, f.name) != getattr(have, f.name)]
        if changed and wanted != BuildParams():
            notice(f"{self.path} was built with {have.to_json()}; ignoring {', '.join(changed)} (rebuild the KB to change them)")
        return have

    @property
    def model_spec(self) -> str:
        """The model this KB embeds questions with: ``model=``, else the settings' (KB_MODEL)."""
        return self._model or self.settings.model

    @property
    def embedder_name(self) -> str:
        return self._embedder.name if self._embedder is not None else embedder_name(self.model_spec)

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
        return self.query_vectors_of([query])[0]

    def query_vectors_of(self, queries: list[str]) -> np.ndarray:
        """Several questions' vectors, up to 64 in one embedding call (a call's cost is paid once,
        and questions are short: the bundled engine embeds a batch of them ~25% faster a question)."""
        texts = [to_simplified(q) for q in queries] if self.folds_script else list(queries)
        if len(texts) <= 64:
            return self.embedder.queries(texts)
        return np.vstack([self.embedder.queries(texts[i:i + 64]) for i in range(0, len(texts), 64)])

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = get_embedder(self.model_spec, s.device, s.embed_threads, s.embed_wait)
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
        self.indexes.close()
        self.store.close()

    def ensure_indexes(self) -> None:
        """Make the derived indexes reflect SQLite (``kb.indexes.Indexes.ensure``)."""
        self.indexes.ensure()

    def rebuild(self, backend: str | None = None, milvus_uri: str | None = None) -> dict:
        """Rebuild every derived index from SQLite and save it (``python -m kb rebuild``). With
        ``backend``, move the KB to that index backend (``milvus_uri``: where a milvus one keeps
        its collections): the indexes are derived, so moving is a rebuild, and the KB records
        the new backend; what the old one held (files, collections) is removed."""
        with self.writer():
            if (backend and backend != self.build.backend) or milvus_uri:
                self._move_indexes(backend or self.build.backend, milvus_uri)
            if not self.indexes.fresh:  # (opening the writer has just rebuilt them when they were missing)
                init_jieba()
                self.indexes.rebuild()
                self.indexes.save()
        return self.stats()

    def _move_indexes(self, backend: str, milvus_uri: str | None) -> None:
        """Switch to ``backend`` (inside the writer): build and save its indexes, then record it
        and free what the old backend held. A failure on the way (an engine that cannot be
        reached, say) leaves the KB on its old backend, untouched."""
        new = backends.get(backend)
        old = self.indexes
        man = old.manifest()
        params = dataclasses.replace(old.params, milvus_uri=milvus_uri) if milvus_uri else old.params
        new.vector.check(dataclasses.replace(params, home=str(self.path)))
        moved = Indexes(self.path, self.store, new, params, lambda: self.dim, lambda: self.embedder_name)
        moved.write_locked = True
        try:
            moved.rebuild()
            moved.save()
            build = dataclasses.replace(self.build, backend=backend)
            with self.store.transaction():
                self.store.set_meta("build", build.to_json())
        except BaseException:
            moved.close()
            if old.manifest() != man:  # (the new manifest was written: put the old one's files back)
                old.rebuild()
                old.save()
            raise
        self.build, self.indexes = build, moved
        self.writing.indexes, self.writing.build = self.indexes, self.build
        old.close()
        for kind, cls in (("dense", old.backend.vector), ("lexical", old.backend.lexical)):
            if man and man.get(kind):
                cls.discard(old.folder, man[kind], old.params)
        old.backend.vector.forget(old.params, (man or {}).get("dense"))

    # --- writing -----------------------------------------------------------------------
    @contextmanager
    def writer(self, wait_message: bool = True, timeout: float = 3600):
        """Hold the KB's write lock (``kb.writelock``: one writer at a time, of all processes and
        of this one's threads; the holding thread may enter again); saves derived indexes on
        exit. Waits up to ``timeout`` seconds for another writer (0: raise KBLocked at once)."""
        if self._write_lock.mine():  # re-entrant
            yield self
            return
        if self.readonly:
            raise StorageError.read_only(self.path)
        self._write_lock.acquire(timeout, notice if wait_message else None)
        self.indexes.write_locked = True
        failed = True
        try:
            if self.store.get_meta("build") is None:
                with self.store.transaction():
                    self.store.set_meta("build", self.build.to_json())
            self.store.ensure_lang_sums()
            self.indexes.ensure()
            self.writing.retokenize_if_needed()
            yield self
            failed = False
        except (sqlite3.Error, OSError) as e:
            raise StorageError.of(e, self.path) from None
        finally:
            try:
                self.indexes.flush()
            except (sqlite3.Error, OSError) as e:
                # The manifest still names the last complete files (see Indexes.save): the KB is
                # consistent, and searches rebuild the newest state in memory.
                err = StorageError.of(e, self.path, doing="saving the indexes")
                if not failed:
                    raise err from None
                notice(str(err))
            finally:
                self.indexes.write_locked = False
                self._write_lock.release()

    def flush(self) -> None:
        """Save the derived indexes (the delta, or new bases when due), if anything changed."""
        self.indexes.flush()

    def _require_writer(self) -> None:
        if not self._write_lock.mine():
            raise KBError("internal: writes must happen inside `with kb.writer():`")

    def add(self, doc: ArticleInput) -> tuple[str, str | None]:
        """Segment, embed and store one article (``kb.writing.ArticleWriter.add``)."""
        self._require_writer()
        return self.writing.add(doc)

    def remove(self, article_id: str, confirmed: bool = False) -> Article:
        """Remove one article (id or unique id prefix) from the library and its indexes, into the
        trash: ``restore`` brings it back, ``empty_trash`` drops it for good (with its uploaded
        bytes when it came in as an upload). A prefix shorter than SAFE_PREFIX characters is
        refused unless ``confirmed``."""
        self._require_writer()
        art = self.resolve(article_id)
        given = article_id.strip()
        if given != art.id and len(given) < SAFE_PREFIX and not confirmed:
            raise KBError(f"'{given}' is only {len(given)} character{'s' if len(given) > 1 else ''} of an article id; "
                          f"to remove {art.id} “{art.title}”, give at least {SAFE_PREFIX} characters of its id",
                          cli_hint="or confirm with --yes")
        self.writing.remove(art)  # (into the trash: ``restore`` undoes it until ``empty_trash``)
        return art

    def restore(self, article_id: str) -> Article:
        """Undo a removal: the article back from the trash, searchable again (ArticleNotFound when
        the trash does not hold it; KBError when the same file has been added again since)."""
        self._require_writer()
        self.writing.restore(article_id.strip())
        return self.store.article(article_id.strip())

    def trashed(self) -> list[dict]:
        """The removed articles that ``restore`` can bring back, last removed first."""
        return self.store.trashed()

    def empty_trash(self, article_id: str | None = None) -> list[dict]:
        """Drop removed articles for good (all, or one), with the bytes of those that came in as
        uploads (``KB/uploads/``); returns what was dropped."""
        self._require_writer()
        gone = self.store.empty_trash(article_id.strip() if article_id else None)
        live = {a.path for a in self.store.articles()}
        for g in gone:
            if g["path"] not in live:  # (after the commit: a failure leaves a file, never a dangling article)
                drop_upload(self.path / "uploads", g["path"])
        return gone

    def edit(self, article_id: str, **fields) -> Article:
        """Correct an article's title, author, date (YYYY-MM-DD, YYYY-MM or YYYY), source or URL
        (an empty value clears it; the title cannot be cleared). Returns the article as stored."""
        art = self.resolve(article_id)
        out = {}
        for k, v in fields.items():
            if v is None:
                continue
            v = v.strip()
            if k == "title" and not v:
                raise KBError("title: an article needs a title; give the one to show and cite")
            if k == "date" and v and not is_iso_date(v):
                raise KBError(f"date: '{v}' is not a date; use YYYY-MM-DD (or YYYY-MM, YYYY)")
            if k == "url" and v and not re.match(r"^https?://", v, re.I):
                raise KBError(f"url: '{v}' is not a web link (http:// or https://)")
            out[k] = v or None
        # An engine that filters by itself keeps its own copy of source and date: the edit marks
        # the article for it, and the copy is rewritten here when this process has the indexes
        # loaded, else by the next process (or request) that loads them (``Indexes.ensure``).
        engine = self.indexes.engine_filters and bool({"source", "date"} & set(out))
        with self.indexes.lock:
            self.store.update_metadata(art.id, engine_copy=engine, **out)
            if engine:
                self.indexes.apply_field_edits()
        return self.store.article(art.id)

    # --- reading -----------------------------------------------------------------------
    def resolve(self, article_id: str) -> Article:
        """The article with this id or unique id prefix (ArticleNotFound when there is none,
        KBError when the prefix is ambiguous)."""
        ids = self.store.find_article(article_id.strip()) if re.fullmatch(r"[0-9a-f]{1,40}", article_id.strip()) else []
        if not ids:
            raise ArticleNotFound(f"No article with id '{article_id}' in {self.path}", cli_hint="`python -m kb list` shows the ids")
        if len(ids) > 1:
            raise KBError(f"Article id prefix '{article_id}' is ambiguous ({', '.join(ids[:5])}…); give more characters")
        return self.store.article(ids[0])

    def articles(self) -> list[Article]:
        return self.store.articles()

    def sources(self) -> list[str]:
        return self.store.sources()

    def stats(self) -> dict:
        c = self.store.counts()
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {"path": str(self.path), **c, "embedder": self.store.get_meta("embedder") or self.embedder_name,
                "dim": int(self.store.get_meta("dim") or 0), "embedded_on": self.store.get_meta("embedded_on"),
                "embedded_text": "Simplified folding" if self.folds_script else "as written",
                "build": dataclasses.asdict(self.build), "data_version": self.store.data_version(),
                "index": self.index_info(), "bytes_on_disk": size}

    def index_info(self) -> str:
        """The derived indexes in words, e.g. for ``kb stats``."""
        self.indexes.ensure()
        return self.indexes.describe()

    def warm_up(self) -> None:
        """Load what the first search needs — jieba's dictionary, the indexes, the model, the
        bilingual dictionary — so that the first question does not wait for them (the app runs
        this in the background while it draws its first page; ``kb serve`` before it listens)."""
        from . import dictionary
        init_jieba()
        self.ensure_indexes()
        if self.store.counts()["passages"]:
            _ = self.embedder
            dictionary.get()

    def search(self, query: str, k: int = 5, query_vector: np.ndarray | None = None, **kw):
        """Ranked, cited passages for ``query``; see ``kb.search.search``."""
        return self.search_batch([query], k, query_vectors=None if query_vector is None else [query_vector], **kw)[0]

    def search_batch(self, queries: list[str], k: int = 5, params: SearchParams | None = None, **kw):
        """``search`` for several questions, their vectors embedded in one call: the ranking of
        ``kb.search`` over this KB's indexes and store, with its parameters and embedder."""
        from .search import search_batch
        with self.indexes.lock:  # one connection and one set of indexes, shared by the app's sessions
            return search_batch(self.indexes, self.store, queries, k, params=params or self.params,
                                embed=self.query_vectors_of, max_chars=self.build.passage_max_chars, **kw)
