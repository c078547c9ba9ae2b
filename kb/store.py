"""SQLite, the source of truth: articles, their sentences and passages, and every vector.

The FAISS and BM25 files are derived from these tables and can always be rebuilt from them.
``data_version`` in ``meta`` rises with every committed change; derived files are stamped with
the version they reflect.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import KBError, StorageError
from .records import PassageRow, SentenceRef
from .segment import Passage, Sentence
from .text import strip_controls

SCHEMA_VERSION = "1"
# meta key: articles whose source/date an engine's own copy has yet to follow (``Store.field_edits``)
FIELD_EDITS = "field_edits"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,          -- stable: derived from the file's resolved path (or URL)
    key TEXT UNIQUE NOT NULL,     -- resolved path or URL: what "the same article" means
    path TEXT NOT NULL,           -- the file as given to ingest
    title TEXT, source TEXT, url TEXT, author TEXT, date TEXT, lang TEXT,
    content_hash TEXT NOT NULL,   -- of the raw bytes: unchanged file = nothing to do
    text TEXT NOT NULL,           -- the cleaned text every span points into
    meta TEXT NOT NULL DEFAULT '{}',
    ingested_at TEXT NOT NULL,
    dup_of TEXT,                  -- first stored copy of a near-duplicate article
    minhash BLOB                  -- MinHash signature (uint64 x 128) for near-duplicate detection
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, paragraph INTEGER NOT NULL,
    vec BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, seq);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, paragraph INTEGER NOT NULL, paragraph_end INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL,
    sent_lo INTEGER NOT NULL, sent_hi INTEGER NOT NULL,   -- sentence seq range [lo, hi)
    text TEXT NOT NULL, lang TEXT NOT NULL,
    terms TEXT NOT NULL,          -- lexical terms, space-joined (BM25 is rebuilt from these)
    vec BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id, seq);
-- Running sums of the vectors per language (kind 'p' passages by their language, 's' sentences
-- by their article's), for the language means of kb.langspace; kept with every write.
-- Collections of cited spans a researcher keeps, with notes (kb.collection). Items name their
-- article by id and span, not by row: they outlive re-ingesting and removing the article.
CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS saved (
    id INTEGER PRIMARY KEY,
    collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
    article_id TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    permalink TEXT NOT NULL,       -- as made when saved (with the span's fingerprint)
    title TEXT NOT NULL, quote TEXT NOT NULL,   -- copies: readable after the article is gone
    note TEXT NOT NULL DEFAULT '', saved_at TEXT NOT NULL,
    UNIQUE (collection, article_id, start, end)
);
-- Items removed from a collection (one by one or with their collection), restorable until the
-- trash is emptied (kb.collection.remove / delete / restore).
CREATE TABLE IF NOT EXISTS trash_saved (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- (never reused: an old Undo cannot bring back another item)
    collection TEXT NOT NULL, collection_created_at TEXT NOT NULL,
    article_id TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, permalink TEXT NOT NULL,
    title TEXT NOT NULL, quote TEXT NOT NULL, note TEXT NOT NULL, saved_at TEXT NOT NULL, removed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lang_stats (
    kind TEXT NOT NULL, lang TEXT NOT NULL, n INTEGER NOT NULL, sum BLOB NOT NULL,
    PRIMARY KEY (kind, lang)
);
-- Removed articles, kept whole (their vectors too) until the trash is emptied, so a removal can be
-- undone without reading or embedding anything again (KnowledgeBase.remove / restore / empty_trash).
CREATE TABLE IF NOT EXISTS trash_articles (
    id TEXT PRIMARY KEY, key TEXT NOT NULL, path TEXT NOT NULL, title TEXT, source TEXT, url TEXT, author TEXT,
    date TEXT, lang TEXT, content_hash TEXT NOT NULL, text TEXT NOT NULL, meta TEXT NOT NULL, ingested_at TEXT NOT NULL,
    dup_of TEXT, minhash BLOB, removed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trash_sentences (
    article_id TEXT NOT NULL REFERENCES trash_articles(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, paragraph INTEGER NOT NULL, vec BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS trash_passages (
    article_id TEXT NOT NULL REFERENCES trash_articles(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, paragraph INTEGER NOT NULL, paragraph_end INTEGER NOT NULL, start INTEGER NOT NULL,
    end INTEGER NOT NULL, sent_lo INTEGER NOT NULL, sent_hi INTEGER NOT NULL, text TEXT NOT NULL, lang TEXT NOT NULL,
    terms TEXT NOT NULL, vec BLOB NOT NULL
);
"""


@dataclass(kw_only=True)
class ArticleMeta:
    """What citing an article needs: its metadata, without the text. A search reads only this
    (``Store.cited``): a long article's whole text is costly to read (five 20,000-character
    articles: ~1 ms a search)."""
    id: str
    path: str
    title: str
    source: str | None
    url: str | None
    author: str | None
    date: str | None
    meta: dict
    dup_of: str | None = None  # first stored copy of a near-duplicate article


@dataclass(kw_only=True)
class Article(ArticleMeta):
    key: str
    lang: str
    content_hash: str
    text: str
    ingested_at: str
    passages: int = 0
    minhash: bytes | None = None

    def summary(self) -> dict:
        return {"id": self.id, "path": self.path, "title": self.title, "source": self.source, "url": self.url,
                "author": self.author, "date": self.date, "lang": self.lang, "passages": self.passages,
                "ingested_at": self.ingested_at, "duplicate_of": self.dup_of,
                "ocr": self.meta.get("ocr") if isinstance(self.meta, dict) else None}  # (pages read by OCR, confidence)


def _vec_blob(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype=np.float32).tobytes()


def vecs_from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)


class Store:
    """Thin data access over one SQLite file in WAL mode."""

    def __init__(self, path: Path, readonly: bool = False):
        """Open the database; ``readonly`` for a KB on read-only media (never written). Raises
        KBError for a database made by a newer version of this program."""
        self.path = Path(path)
        self.readonly = readonly
        self.db = self._connect(readonly)
        try:
            self._open(readonly)
        except BaseException:
            self.db.close()
            raise

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        from urllib.parse import quote
        base = f"file:{quote(str(self.path))}"
        db = sqlite3.connect(base + ("?mode=ro" if readonly else ""), uri=True, timeout=60, check_same_thread=False,
                             isolation_level=None)
        if readonly:
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                # A WAL database on read-only media cannot make its shared-memory file: read the
                # file as it is (nothing can change it there).
                db.close()
                db = sqlite3.connect(base + "?mode=ro&immutable=1", uri=True, timeout=60, check_same_thread=False,
                                     isolation_level=None)
        return db

    def _open(self, readonly: bool) -> None:
        self.db.row_factory = sqlite3.Row
        self._check_version()
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=60000")
        # A 64 MB page cache: a search reads a few hundred rows scattered over the file, and
        # with the default 2 MB cache most pages were read again, one system call each.
        # (A memory map was as fast but charged its read-ahead to the process: +3 MB RSS per search.)
        self.db.execute("PRAGMA cache_size=-65536")
        if not readonly:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            cols = {r[1] for r in self.db.execute("PRAGMA table_info(articles)")}
            for col, decl in (("dup_of", "TEXT"), ("minhash", "BLOB")):  # KBs made before these columns
                if col not in cols:
                    self.db.execute(f"ALTER TABLE articles ADD COLUMN {col} {decl}")
            # Covers the near-duplicate check's read of every signature without touching article text.
            self.db.execute("CREATE INDEX IF NOT EXISTS articles_minhash ON articles(id, minhash)")
            if self.get_meta("schema_version") is None:
                with self.transaction():
                    self.set_meta("schema_version", SCHEMA_VERSION)
                    self.set_meta("data_version", "0")
                    self.set_meta("lang_stats", "1")

    def _check_version(self) -> None:
        """Refuse a database whose schema is newer than this program's (it would be misread, and
        writing to it could damage what the newer version keeps)."""
        has_meta = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() if has_meta else None
        if row is None:
            return
        try:
            newer = int(row[0]) > int(SCHEMA_VERSION)
        except ValueError:
            newer = True
        if newer:
            raise KBError(f"{self.path} was written by a newer version of this program (schema version {row[0]!r}; this "
                          f"one reads {SCHEMA_VERSION}); upgrade it to use this knowledge base")

    def close(self):
        self.db.close()

    @contextmanager
    def transaction(self):
        """One atomic write. Nested inside another transaction it joins that one (bulk loads
        wrap many ``put_article`` calls in one commit)."""
        if self.db.in_transaction:
            yield self.db
            return
        if self.readonly:
            raise StorageError.read_only(self.path.parent)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # --- meta --------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                        (key, value))

    def data_version(self) -> int:
        return int(self.get_meta("data_version") or 0)

    def _bump(self) -> None:
        self.set_meta("data_version", str(self.data_version() + 1))

    # --- writes (each one a single transaction) ---------------------------------------
    def put_article(self, art: Article, sentences: list[Sentence], sent_vecs: np.ndarray, passages: list[Passage],
                    terms: list[str], pass_vecs: np.ndarray) -> tuple[list[int], list[int]]:
        """Insert or replace one article with its sentences and passages (as ``kb.segment`` cut
        them; ``terms``: each passage's lexical terms, space-joined), atomically. Returns
        (removed passage ids, removed sentence ids) of a replaced older version."""
        with self.transaction() as db:
            old_p, old_s = self._delete_rows(art.id)
            db.execute("DELETE FROM trash_articles WHERE id=? OR key=?", (art.id, art.key))  # (added again: the removed copy goes)
            db.execute("INSERT INTO articles(id, key, path, title, source, url, author, date, lang, content_hash, text,"
                       " meta, ingested_at, dup_of, minhash) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (art.id, art.key, art.path, art.title, art.source, art.url, art.author, art.date, art.lang,
                        art.content_hash, art.text, json.dumps(art.meta, ensure_ascii=False), art.ingested_at,
                        art.dup_of, art.minhash))
            db.executemany("INSERT INTO sentences(article_id, seq, start, end, paragraph, vec) VALUES(?,?,?,?,?,?)",
                           [(art.id, i, s.start, s.end, s.paragraph, _vec_blob(sent_vecs[i])) for i, s in enumerate(sentences)])
            db.executemany(
                "INSERT INTO passages(article_id, seq, paragraph, paragraph_end, start, end, sent_lo, sent_hi, text, lang,"
                " terms, vec) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                [(art.id, p.seq, p.paragraph, p.paragraph_end, p.start, p.end, p.sent_lo, p.sent_hi, p.text, p.lang, t,
                  _vec_blob(pass_vecs[i])) for i, (p, t) in enumerate(zip(passages, terms, strict=True))])
            if len(passages):
                self._add_lang_sums("p", [p.lang for p in passages], pass_vecs, +1)
            if len(sentences):
                self._add_lang_sums("s", [art.lang] * len(sentences), sent_vecs, +1)
            self._bump()
        return old_p, old_s

    def _delete_rows(self, article_id: str) -> tuple[list[int], list[int]]:
        self._forget_lang_sums(article_id)
        old_p = [r[0] for r in self.db.execute("SELECT id FROM passages WHERE article_id=?", (article_id,))]
        old_s = [r[0] for r in self.db.execute("SELECT id FROM sentences WHERE article_id=?", (article_id,))]
        self.db.execute("DELETE FROM passages WHERE article_id=?", (article_id,))
        self.db.execute("DELETE FROM sentences WHERE article_id=?", (article_id,))
        self.db.execute("DELETE FROM articles WHERE id=?", (article_id,))
        return old_p, old_s

    def delete_article(self, article_id: str) -> tuple[list[int], list[int]]:
        """Remove an article for good (its passage and sentence ids are returned)."""
        with self.transaction():
            out = self._delete_rows(article_id)
            self._bump()
        return out

    # --- the trash: removed articles, restorable until emptied ---------------------------------
    _ART = "id, key, path, title, source, url, author, date, lang, content_hash, text, meta, ingested_at, dup_of, minhash"
    _SENT = "article_id, seq, start, end, paragraph, vec"
    _PASS = "article_id, seq, paragraph, paragraph_end, start, end, sent_lo, sent_hi, text, lang, terms, vec"

    def trash_article(self, article_id: str) -> tuple[list[int], list[int]]:
        """Move an article, with its sentences, passages and vectors, to the trash, in one
        transaction; returns its (passage ids, sentence ids) as ``delete_article`` does."""
        with self.transaction() as db:
            db.execute("DELETE FROM trash_articles WHERE id=?", (article_id,))  # (an older removal of the same file)
            db.execute(f"INSERT INTO trash_articles({self._ART}, removed_at) SELECT {self._ART}, ? FROM articles WHERE id=?",
                       (now_iso(), article_id))
            db.execute(f"INSERT INTO trash_sentences({self._SENT}) SELECT {self._SENT} FROM sentences WHERE article_id=?"
                       " ORDER BY seq", (article_id,))
            db.execute(f"INSERT INTO trash_passages({self._PASS}) SELECT {self._PASS} FROM passages WHERE article_id=?"
                       " ORDER BY seq", (article_id,))
            out = self._delete_rows(article_id)
            self._bump()
        return out

    def trashed(self) -> list[dict]:
        """The removed articles in the trash, last removed first: id, title, path, removed_at, passages."""
        return [dict(r) for r in self.db.execute(
            "SELECT t.id, t.title, t.path, t.removed_at, (SELECT COUNT(*) FROM trash_passages p WHERE p.article_id=t.id)"
            " AS passages FROM trash_articles t ORDER BY t.removed_at DESC, t.id")]

    def restore_article(self, article_id: str) -> list[int]:
        """Put a removed article back from the trash (its vectors as they were); returns its new
        passage ids. KBError when it is not in the trash or an article of that file is stored now."""
        from .errors import ArticleNotFound, KBError
        row = self.db.execute("SELECT key, title FROM trash_articles WHERE id=?", (article_id,)).fetchone()
        if row is None:
            raise ArticleNotFound(f"No removed article with id '{article_id}' in the trash", cli_hint="`python -m kb trash` lists them")
        if self.db.execute("SELECT 1 FROM articles WHERE id=? OR key=?", (article_id, row["key"])).fetchone():
            raise KBError(f"“{row['title']}” has been added again since it was removed; the stored copy stays "
                          "(empty the trash to drop the removed one)")
        with self.transaction() as db:
            db.execute(f"INSERT INTO articles({self._ART}) SELECT {self._ART} FROM trash_articles WHERE id=?", (article_id,))
            db.execute(f"INSERT INTO sentences({self._SENT}) SELECT {self._SENT} FROM trash_sentences WHERE article_id=?"
                       " ORDER BY seq", (article_id,))
            db.execute(f"INSERT INTO passages({self._PASS}) SELECT {self._PASS} FROM trash_passages WHERE article_id=?"
                       " ORDER BY seq", (article_id,))
            db.execute("DELETE FROM trash_articles WHERE id=?", (article_id,))  # (its rows with it: ON DELETE CASCADE)
            prow = db.execute("SELECT lang, vec FROM passages WHERE article_id=? ORDER BY id", (article_id,)).fetchall()
            if prow:
                self._add_lang_sums("p", [r[0] for r in prow], vecs_from_blobs([r[1] for r in prow], len(prow[0][1]) // 4), +1)
            srow = db.execute("SELECT vec FROM sentences WHERE article_id=?", (article_id,)).fetchall()
            lang = db.execute("SELECT lang FROM articles WHERE id=?", (article_id,)).fetchone()[0]
            if srow and lang:
                self._add_lang_sums("s", [lang] * len(srow), vecs_from_blobs([r[0] for r in srow], len(srow[0][0]) // 4), +1)
            self._bump()
        return self.passage_ids(article_id)

    def empty_trash(self, article_id: str | None = None) -> list[dict]:
        """Drop removed articles for good (all, or one), and when all, the removed collection
        items too; returns the articles dropped (id, path)."""
        where, args = ("WHERE id=?", (article_id,)) if article_id else ("", ())
        with self.transaction() as db:
            gone = [dict(r) for r in db.execute(f"SELECT id, path FROM trash_articles {where}", args)]
            db.execute(f"DELETE FROM trash_articles {where}", args)
            if not article_id:
                db.execute("DELETE FROM trash_saved")
        return gone

    # --- language sums (kb.langspace) ------------------------------------------------------
    def _add_lang_sums(self, kind: str, langs: list[str], vecs: np.ndarray, sign: int) -> None:
        if not self._has_lang_sums():
            return  # an older KB: its sums are computed whole by ``ensure_lang_sums``
        langs_arr = np.asarray(langs)
        for lang in set(langs):
            part = np.asarray(vecs, np.float64)[langs_arr == lang]
            row = self.db.execute("SELECT n, sum FROM lang_stats WHERE kind=? AND lang=?", (kind, lang)).fetchone()
            n, total = (row[0], np.frombuffer(row[1], np.float64).copy()) if row else (0, np.zeros(part.shape[1]))
            n, total = n + sign * len(part), total + sign * part.sum(axis=0)
            self.db.execute("INSERT INTO lang_stats(kind, lang, n, sum) VALUES(?,?,?,?) ON CONFLICT(kind, lang) "
                            "DO UPDATE SET n=excluded.n, sum=excluded.sum", (kind, lang, n, total.tobytes()))

    def _forget_lang_sums(self, article_id: str) -> None:
        rows = self.db.execute("SELECT lang, vec FROM passages WHERE article_id=?", (article_id,)).fetchall()
        if rows:
            self._add_lang_sums("p", [r[0] for r in rows], vecs_from_blobs([r[1] for r in rows], len(rows[0][1]) // 4), -1)
        lang = self.db.execute("SELECT lang FROM articles WHERE id=?", (article_id,)).fetchone()
        srows = self.db.execute("SELECT vec FROM sentences WHERE article_id=?", (article_id,)).fetchall()
        if lang and srows:
            self._add_lang_sums("s", [lang[0]] * len(srows), vecs_from_blobs([r[0] for r in srows], len(srows[0][0]) // 4), -1)

    def _has_lang_sums(self) -> bool:
        return self.get_meta("lang_stats") == "1"

    def _computed_lang_sums(self) -> dict[tuple[str, str], tuple[int, np.ndarray]]:
        """The sums from every stored vector, a batch at a time (a KB made before they were kept)."""
        out: dict[tuple[str, str], tuple[int, np.ndarray]] = {}
        dim = int(self.get_meta("dim") or 0)
        if not dim:
            return out
        for kind, table in (("p", "passages"), ("s", "sentences")):
            for _, vecs, langs in self.iter_vectors(table, dim):
                langs_arr = np.asarray(langs)
                for lang in set(langs):
                    part = vecs[langs_arr == lang]
                    n, total = out.get((kind, lang), (0, np.zeros(dim)))
                    out[(kind, lang)] = (n + len(part), total + part.sum(axis=0, dtype=np.float64))
        return out

    def ensure_lang_sums(self) -> None:
        """Compute the language sums of a KB written before they were kept (a writer's job)."""
        if self._has_lang_sums():
            return
        with self.transaction() as db:
            db.execute("DELETE FROM lang_stats")
            for (kind, lang), (n, total) in self._computed_lang_sums().items():
                db.execute("INSERT INTO lang_stats(kind, lang, n, sum) VALUES(?,?,?,?)", (kind, lang, n, total.tobytes()))
            self.set_meta("lang_stats", "1")

    def lang_sums(self) -> dict[tuple[str, str], tuple[int, np.ndarray]]:
        """{(kind, lang): (count, sum of vectors)}; computed on the fly for an older KB."""
        if not self._has_lang_sums():
            return self._computed_lang_sums()
        return {(k, lang): (n, np.frombuffer(b, np.float64)) for k, lang, n, b in
                self.db.execute("SELECT kind, lang, n, sum FROM lang_stats")}

    # --- reads ------------------------------------------------------------------------
    def _article(self, row: sqlite3.Row) -> Article:
        d = dict(row)
        d["meta"] = json.loads(d.get("meta") or "{}")
        return Article(**d)

    def article(self, article_id: str) -> Article | None:
        """One article, with its passage count."""
        row = self.db.execute("SELECT a.*, (SELECT COUNT(*) FROM passages p WHERE p.article_id=a.id) AS passages"
                              " FROM articles a WHERE id=?", (article_id,)).fetchone()
        return self._article(row) if row else None

    def cited(self, ids: list[str]) -> dict[str, ArticleMeta]:
        """The articles a search cites, in one query, without their texts."""
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        rows = self._tuples().execute("SELECT id, path, title, source, url, author, date, meta, dup_of"
                                      f" FROM articles WHERE id IN ({q})", list(ids))
        return {r[0]: ArticleMeta(id=r[0], path=r[1], title=r[2], source=r[3], url=r[4], author=r[5], date=r[6],
                                  meta=json.loads(r[7] or "{}"), dup_of=r[8]) for r in rows}

    def first_sentences(self, ids: list[str]) -> dict[str, str]:
        """Each article's first sentence, as its sentences were cut (from its first passage)."""
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        return dict(self._tuples().execute(
            "SELECT s.article_id, substr(p.text, 1 + s.start - p.start, s.end - s.start) FROM sentences s"
            f" JOIN passages p ON p.article_id=s.article_id AND p.seq=0 WHERE s.article_id IN ({q}) AND s.seq=0",
            list(ids)))

    def find_article(self, prefix: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM articles WHERE id LIKE ? ESCAPE '\\'", (_like_prefix(prefix),))]

    def article_by_key(self, key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT id, content_hash FROM articles WHERE key=?", (key,)).fetchone()

    def signatures(self) -> tuple[list[str], list[bytes]]:
        """(article ids, their MinHash signatures as uint64 bytes)."""
        rows = self.db.execute("SELECT id, minhash FROM articles WHERE minhash IS NOT NULL").fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    def article_by_hash(self, content_hash: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT id, path FROM articles WHERE content_hash=?", (content_hash,)).fetchone()

    def articles(self) -> list[Article]:
        rows = self.db.execute("SELECT a.id, a.key, a.path, a.title, a.source, a.url, a.author, a.date, a.lang,"
                               " a.content_hash, '' AS text, a.meta, a.ingested_at, a.dup_of, NULL AS minhash,"
                               " (SELECT COUNT(*) FROM passages p WHERE p.article_id=a.id) AS passages"
                               " FROM articles a ORDER BY a.ingested_at, a.id").fetchall()
        return [self._article(r) for r in rows]

    def passages_of(self, article_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT id, seq, paragraph, paragraph_end, start, end, sent_lo, sent_hi, text, lang"
                               " FROM passages WHERE article_id=? ORDER BY seq", (article_id,)).fetchall()

    def passage_rows(self, pids: list[int]) -> dict[int, PassageRow]:
        """What ranking and citing need of each passage, in one query for all candidates of a
        search: article, paragraph, span, language, and its text (the article's text over
        [start, end)). A passage that no longer exists is absent."""
        if not pids:
            return {}
        q = ",".join("?" * len(pids))
        return {r[0]: PassageRow(*r) for r in self._tuples().execute(
            f"SELECT id, article_id, paragraph, start, end, lang, text FROM passages WHERE id IN ({q})", pids)}

    def sentences_of(self, pids: list[int], dim: int) -> tuple[dict[int, list[SentenceRef]], np.ndarray]:
        """Each passage's sentences (``SentenceRef``) in reading order, where ``row``
        indexes the returned sentence-vector matrix, in one query (for passages the sentence
        base, ``kb.sentence_base.SentenceBase``, does not hold)."""
        sents: dict[int, list[tuple]] = {}
        blobs: list[bytes] = []
        cur = self._tuples()
        for i in range(0, len(pids), 500):
            chunk = pids[i:i + 500]
            q = ",".join("?" * len(chunk))
            for pid, sid, seq, start, end, vec in cur.execute(
                    "SELECT p.id, s.id, s.seq, s.start, s.end, s.vec FROM passages p JOIN sentences s"
                    " ON s.article_id=p.article_id AND s.seq>=p.sent_lo AND s.seq<p.sent_hi"
                    f" WHERE p.id IN ({q}) ORDER BY p.id, s.seq", chunk):
                sents.setdefault(pid, []).append(SentenceRef(sid, seq, start, end, len(blobs)))
                blobs.append(vec)
        return sents, vecs_from_blobs(blobs, dim)

    def iter_passage_sentences(self, dim: int, batch: int = 5000):
        """Yield (passage ids, sentence ids, (seq, start, end) rows, vectors): one row per
        sentence of every passage, in passage id then seq order (for ``SentenceBase.write``)."""
        last = -1
        while True:
            ids = [r[0] for r in self.db.execute("SELECT id FROM passages WHERE id>? ORDER BY id LIMIT ?", (last, batch))]
            if not ids:
                return
            rows = self._tuples().execute(
                "SELECT p.id, s.id, s.seq, s.start, s.end, s.vec FROM passages p JOIN sentences s"
                " ON s.article_id=p.article_id AND s.seq>=p.sent_lo AND s.seq<p.sent_hi"
                " WHERE p.id BETWEEN ? AND ? ORDER BY p.id, s.seq", (ids[0], ids[-1])).fetchall()
            last = ids[-1]
            if rows:
                yield (np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
                       np.array([r[2:5] for r in rows], np.int32), vecs_from_blobs([r[5] for r in rows], dim))

    def _tuples(self) -> sqlite3.Cursor:
        """A cursor yielding plain tuples: for the reads of every search, where building
        ``sqlite3.Row`` objects cost 0.4 ms of a 0.9 ms read of 15 passages' sentences."""
        cur = self.db.cursor()
        cur.row_factory = None
        return cur

    def passage_text(self, pid: int) -> str:
        return self.db.execute("SELECT text FROM passages WHERE id=?", (pid,)).fetchone()[0]

    def vectors_of(self, ids: list[int], dim: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(ids, vectors, languages) of these passages (those that still exist), for exact search within a filter."""
        rows = []
        for i in range(0, len(ids), 5000):
            chunk = ids[i:i + 5000]
            q = ",".join("?" * len(chunk))
            rows += self.db.execute(f"SELECT id, vec, lang FROM passages WHERE id IN ({q}) ORDER BY id", chunk).fetchall()
        return (np.array([r[0] for r in rows], np.int64), vecs_from_blobs([r[1] for r in rows], dim),
                [r[2] for r in rows])

    def iter_vectors(self, table: str, dim: int, batch: int = 20000):
        """Yield (ids, vectors, languages) in batches, for rebuilding the FAISS index and the
        language sums (languages: the passages' own, or for sentences their article's)."""
        assert table in ("passages", "sentences")
        lang = "lang" if table == "passages" else "(SELECT lang FROM articles a WHERE a.id=article_id)"
        last = -1
        while True:
            rows = self.db.execute(f"SELECT id, vec, {lang} FROM {table} WHERE id>? ORDER BY id LIMIT ?",
                                   (last, batch)).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            yield ids, vecs_from_blobs([r[1] for r in rows], dim), [r[2] for r in rows]
            last = int(ids[-1])

    def index_rows(self, ids: list[int], dim: int, batch: int = 5000):
        """Yield (ids, vectors, term lists, languages) of these passages (those that still exist), for the indexes."""
        for i in range(0, len(ids), batch):
            chunk = ids[i:i + batch]
            q = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT id, vec, terms, lang FROM passages WHERE id IN ({q}) ORDER BY id",
                                   chunk).fetchall()
            if rows:
                yield (np.array([r[0] for r in rows], np.int64), vecs_from_blobs([r[1] for r in rows], dim),
                       [r[2].split() for r in rows], [r[3] for r in rows])

    def filter_fields(self, ids) -> list[dict]:
        """For an engine that filters by itself (``kb.backends``' ``filters_in_engine``): each
        passage's language and its article's id, source and date, in the order of ``ids``
        (empty fields for a passage that is gone)."""
        ids = [int(x) for x in ids]
        out: dict[int, dict] = {}
        for i in range(0, len(ids), 5000):
            chunk = ids[i:i + 5000]
            q = ",".join("?" * len(chunk))
            for pid, lang, aid, source, date in self.db.execute(
                    f"SELECT p.id, p.lang, a.id, a.source, a.date FROM passages p JOIN articles a ON a.id=p.article_id "
                    f"WHERE p.id IN ({q})", chunk):
                out[pid] = {"lang": lang or "", "article_id": aid or "", "source": source or "", "date": date or ""}
        return [out.get(p, {}) for p in ids]

    def iter_terms(self, batch: int = 20000):
        """Yield (passage ids, term lists) for rebuilding the BM25 index."""
        last = -1
        while True:
            rows = self.db.execute("SELECT id, terms FROM passages WHERE id>? ORDER BY id LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            yield [r[0] for r in rows], [r[1].split() for r in rows]
            last = rows[-1][0]

    def counts(self) -> dict:
        c = self.db.execute("SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM passages),"
                            " (SELECT COUNT(*) FROM sentences)").fetchone()
        langs = dict(self.db.execute("SELECT lang, COUNT(*) FROM articles GROUP BY lang").fetchall())
        return {"articles": c[0], "passages": c[1], "sentences": c[2], "languages": langs}

    EDITABLE = ("title", "author", "date", "source", "url")

    def update_metadata(self, article_id: str, engine_copy: bool = False, **fields) -> None:
        """Correct an article's citable metadata (``EDITABLE``; None clears a field). Passages,
        vectors and indexes are untouched: searches read these fields when they cite. With
        ``engine_copy`` (an engine that keeps its own copy of the filter fields), the article is
        marked in the same transaction as one whose copy must be rewritten (``field_edits``):
        a process that dies before rewriting it leaves the mark for the next one."""
        bad = set(fields) - set(self.EDITABLE)
        if bad:
            raise ValueError(f"not editable: {', '.join(sorted(bad))}")
        if not fields:
            return
        fields = {k: strip_controls(v) if isinstance(v, str) else v for k, v in fields.items()}
        with self.transaction() as db:
            db.execute(f"UPDATE articles SET {', '.join(f'{k}=?' for k in fields)} WHERE id=?", [*fields.values(), article_id])
            if engine_copy:
                import uuid
                self.set_meta(FIELD_EDITS, json.dumps(self.field_edits() | {article_id: uuid.uuid4().hex[:12]}))

    def field_edits(self) -> dict[str, str]:
        """Articles whose filter fields changed since an engine's copy of them was rewritten:
        {article id: a mark unique to that edit}."""
        try:
            out = json.loads(self.get_meta(FIELD_EDITS) or "{}")
        except ValueError:
            return {}
        return out if isinstance(out, dict) else {}

    def field_edits_done(self, done: dict[str, str]) -> None:
        """Clear the marks of edits an engine's copy now reflects; an article edited again since
        (another mark) stays marked."""
        with self.transaction():
            left = {a: m for a, m in self.field_edits().items() if done.get(a) != m}
            self.set_meta(FIELD_EDITS, json.dumps(left))

    # --- collections (kb.collection) -------------------------------------------------------
    def save_to_collection(self, name: str, article_id: str, start: int, end: int, permalink: str, title: str,
                           quote: str, note: str) -> int:
        """Keep a span in collection ``name`` (made if new); saving it again updates its note.
        Returns the item's id."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO collections(name, created_at) VALUES(?, ?)", (name, now_iso()))
            db.execute("INSERT INTO saved(collection, article_id, start, end, permalink, title, quote, note, saved_at)"
                       " VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(collection, article_id, start, end) DO UPDATE SET"
                       " note=excluded.note, permalink=excluded.permalink, quote=excluded.quote, title=excluded.title",
                       (name, article_id, start, end, permalink, title, quote, note, now_iso()))
            return db.execute("SELECT id FROM saved WHERE collection=? AND article_id=? AND start=? AND end=?",
                              (name, article_id, start, end)).fetchone()[0]

    def collections(self) -> list[tuple[str, int, str]]:
        """(name, number of items, created at) of every collection, by name."""
        return [tuple(r) for r in self.db.execute(
            "SELECT c.name, (SELECT COUNT(*) FROM saved s WHERE s.collection=c.name), c.created_at FROM collections c"
            " ORDER BY c.name")]

    def collection_items(self, name: str) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM saved WHERE collection=? ORDER BY saved_at, id", (name,))]

    def has_collection(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM collections WHERE name=?", (name,)).fetchone() is not None

    _SAVED = "collection, article_id, start, end, permalink, title, quote, note, saved_at"

    def remove_saved(self, name: str, item_id: int) -> int | None:
        """Move an item to the trash; returns its id there (None when the collection has no such item)."""
        with self.transaction() as db:
            got = self._trash_saved(db, "s.collection=? AND s.id=?", (name, item_id))
            return got[0] if got else None

    def _trash_saved(self, db, where: str, args: tuple) -> list[int]:
        at = now_iso()
        ids = []
        for r in db.execute(f"SELECT s.id, c.created_at FROM saved s JOIN collections c ON c.name=s.collection WHERE {where}"
                            " ORDER BY s.saved_at, s.id", args).fetchall():
            cur = db.execute(f"INSERT INTO trash_saved({self._SAVED}, collection_created_at, removed_at)"
                             f" SELECT {self._SAVED}, ?, ? FROM saved WHERE id=?", (r[1], at, r[0]))
            ids.append(cur.lastrowid)
            db.execute("DELETE FROM saved WHERE id=?", (r[0],))
        return ids

    def trashed_saved(self) -> list[dict]:
        """Items in the trash, last removed first: trash id, collection, title, quote, note, removed_at."""
        return [dict(r) for r in self.db.execute(
            "SELECT id, collection, article_id, title, quote, note, removed_at FROM trash_saved ORDER BY removed_at DESC, id")]

    def restore_saved(self, trash_id: int) -> tuple[str, int]:
        """Put a removed item back in its collection (made again if it was deleted); returns
        (collection, the item's id). ItemNotFound when the trash has no such item; KBError when
        the collection keeps the same span again since."""
        from .errors import ItemNotFound, KBError
        row = self.db.execute("SELECT * FROM trash_saved WHERE id=?", (trash_id,)).fetchone()
        if row is None:
            raise ItemNotFound(f"No removed item {trash_id} in the trash", cli_hint="`python -m kb trash` lists them")
        if self.db.execute("SELECT 1 FROM saved WHERE collection=? AND article_id=? AND start=? AND end=?",
                           (row["collection"], row["article_id"], row["start"], row["end"])).fetchone():
            raise KBError(f"“{row['collection']}” keeps this passage of “{row['title']}” again since it was removed; "
                          "the kept one stays")
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO collections(name, created_at) VALUES(?, ?)",
                       (row["collection"], row["collection_created_at"]))
            cur = db.execute(f"INSERT INTO saved({self._SAVED}) SELECT {self._SAVED} FROM trash_saved WHERE id=?", (trash_id,))
            db.execute("DELETE FROM trash_saved WHERE id=?", (trash_id,))
        return row["collection"], cur.lastrowid

    def rename_collection(self, name: str, new: str) -> None:
        """Give collection ``name`` (which exists) the unused name ``new``, its items with it."""
        with self.transaction() as db:
            db.execute("INSERT INTO collections(name, created_at) SELECT ?, created_at FROM collections WHERE name=?", (new, name))
            db.execute("UPDATE saved SET collection=? WHERE collection=?", (new, name))
            db.execute("DELETE FROM collections WHERE name=?", (name,))

    def saved_item(self, name: str, item_id: int) -> dict | None:
        row = self.db.execute("SELECT * FROM saved WHERE collection=? AND id=?", (name, item_id)).fetchone()
        return dict(row) if row is not None else None

    def update_saved(self, name: str, item_id: int, note: str | None = None, to: str | None = None) -> None:
        """Change an item's note and/or move it to collection ``to`` (made when new)."""
        with self.transaction() as db:
            if note is not None:
                db.execute("UPDATE saved SET note=? WHERE collection=? AND id=?", (note, name, item_id))
            if to is not None and to != name:
                db.execute("INSERT OR IGNORE INTO collections(name, created_at) VALUES(?, ?)", (to, now_iso()))
                db.execute("UPDATE saved SET collection=? WHERE collection=? AND id=?", (to, name, item_id))

    def delete_collection(self, name: str) -> list[int] | None:
        """Delete a collection, its items into the trash; returns their trash ids (None when no
        collection has that name)."""
        with self.transaction() as db:
            ids = self._trash_saved(db, "s.collection=?", (name,))
            return ids if db.execute("DELETE FROM collections WHERE name=?", (name,)).rowcount > 0 else None

    def passage_ids(self, article_id: str) -> list[int]:
        """The passages of one article, in id order."""
        return [r[0] for r in self.db.execute("SELECT id FROM passages WHERE article_id=? ORDER BY id", (article_id,))]

    def sources(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY source")]

    def retokenize(self, tokenize, lexicon: str) -> int:
        """Re-cut every passage's lexical terms with ``tokenize`` (vectors untouched) and record
        the lexicon they were cut with; returns the number of passages re-cut."""
        with self.transaction() as db:
            rows = db.execute("SELECT id, text FROM passages").fetchall()
            db.executemany("UPDATE passages SET terms=? WHERE id=?", [(" ".join(tokenize(t)), i) for i, t in rows])
            if rows:
                self._bump()
            self.set_meta("lexicon", lexicon)
        return len(rows)

    @contextmanager
    def snapshot(self):
        """A read transaction: every read inside sees one committed state."""
        self.db.execute("BEGIN")
        try:
            yield self
        finally:
            self.db.execute("COMMIT")

    def filtered_passage_ids(self, lang: str | None = None, source: str | None = None, since: str | None = None,
                             until: str | None = None, article: str | None = None) -> set[int]:
        """The passages in language ``lang``, of articles from ``source``, dated within
        [``since``, ``until``] (ISO dates, inclusive), whose id starts with ``article``."""
        where, args = [], []
        for cond, value in (("p.lang=?", lang), ("a.source=?", source), ("a.date>=?", since),
                            ("a.date<=?", until and until + "\uffff"),
                            ("a.id LIKE ? ESCAPE '\\'", article and _like_prefix(article))):
            if value:
                where.append(cond)
                args.append(value)
        return {r[0] for r in self.db.execute(
            "SELECT p.id FROM passages p JOIN articles a ON a.id=p.article_id" + (" WHERE " + " AND ".join(where) if where else ""),
            args)}


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching strings that start with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
