"""The write path: one article in — segmented, embedded, fingerprinted, stored, indexed — or out.

``ArticleWriter`` is what ``KnowledgeBase.add`` / ``remove`` call inside ``kb.writer()``: it cuts
the cleaned text into sentences and passages (``kb.segment``, with the KB's recorded
``BuildParams``), embeds both in large batches, computes the MinHash signature that finds
near-duplicates (``kb.dedup``), commits everything in one SQLite transaction (``kb.store``)
and mirrors the change into the derived indexes (``kb.indexes``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .embed import Embedder
from .errors import KBError
from .indexes import Indexes, notice
from .params import BuildParams
from .segment import count_tokens, make_passages, split_sentences
from .store import Article, Store, now_iso
from .text import _query_tokens_cached, detect_lang, lexicon_id, strip_controls, to_simplified, tokenize


@dataclass(kw_only=True)
class ArticleFields:
    """An article's descriptive fields: what a reader finds (``ingest.readers.RawDoc``), what
    ingest hands to the KB (``ArticleInput``) and what the store keeps — one record from reader
    to store. ``meta``: the rest (the reader's kind, PDF page offsets, lines dropped as noise…)."""
    title: str | None = None
    author: str | None = None
    date: str | None = None     # YYYY-MM-DD (or YYYY-MM, YYYY) once ingest has read it
    url: str | None = None
    source: str | None = None
    meta: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class ArticleInput(ArticleFields):
    """What ingest hands to the KB: cleaned text plus its fields."""
    key: str            # resolved path or URL; identifies "the same article" across runs
    path: str           # as given by the user
    text: str           # cleaned, normalised text
    content_hash: str   # of the raw input
    title: str = ""


def article_id_for(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


@dataclass
class Prepared:
    """One article made ready to store: cut, embedded, fingerprinted. Built by ``prepare``
    (anywhere: this process, or a Ray worker in ``ingest.distributed``); stored by the one
    writer with ``ArticleWriter.commit``."""
    doc: ArticleInput
    sentences: list
    passages: list
    sent_vecs: np.ndarray
    pass_vecs: np.ndarray
    terms: list[str]
    signature: np.ndarray
    lang: str
    embedder: str       # the embedder's name (the KB checks it is its own)
    folded: bool        # embedded from the Simplified folding of the text
    device: str = "cpu"  # where it was embedded (``Embedder.device``; `kb stats` names the last)


def prepare(doc: ArticleInput, build: BuildParams, embedder: Embedder, fold: bool, batch: int = 64) -> Prepared:
    """Segment ``doc`` with the KB's ``build`` parameters, embed its sentences and passages
    (their Simplified folding when ``fold``), cut its lexical terms and take its MinHash
    signature. Reads nothing from the KB: the expensive half of adding an article."""
    max_chars = build.passage_max_chars
    sentences = split_sentences(doc.text, max_chars)
    if not sentences:
        raise KBError(f"{doc.path}: no text left after cleaning")
    passages = make_passages(doc.text, sentences, build.passage_tokens, max_chars,
                             hard_breaks=doc.meta.get("pages") or ())
    sent_texts = [doc.text[s.start:s.end] for s in sentences]
    if build.passage_vectors == "pooled":
        sent_vecs, _ = _embed(embedder, sent_texts, [], fold, batch)
        pass_vecs = pool_passages(sent_vecs, passages, [count_tokens(t) for t in sent_texts])
    else:
        sent_vecs, pass_vecs = _embed(embedder, sent_texts, [p.text for p in passages], fold, batch)
    terms = [" ".join(tokenize(p.text)) for p in passages]
    from .dedup import signature
    return Prepared(doc, sentences, passages, sent_vecs, pass_vecs, terms, signature(doc.text), detect_lang(doc.text),
                    embedder.name, fold, getattr(embedder, "device", "cpu"))  # (an embedder class of one's own may not say)


def pool_passages(sent_vecs: np.ndarray, passages: list, weights: list[int]) -> np.ndarray:
    """Each passage's vector from its sentences' (``BuildParams.passage_vectors`` 'pooled'): their
    mean weighted by length in tokens, L2-normalised. A passage is whole sentences, so the text is
    embedded once instead of twice (the passage's own embedding differs little: benchmarks/README.md)."""
    w = np.maximum(np.asarray(weights, np.float32), 1.0)
    out = np.zeros((len(passages), sent_vecs.shape[1]), np.float32)
    for i, p in enumerate(passages):
        out[i] = (w[p.sent_lo:p.sent_hi, None] * sent_vecs[p.sent_lo:p.sent_hi]).sum(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms


def _embed(embedder: Embedder, sent_texts: list[str], pass_texts: list[str], fold: bool,
           batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Embed sentences and passages together in large batches: the bundled engine packs a
    batch's tokens without padding, so bigger batches only save per-call overhead."""
    texts = sent_texts + pass_texts
    if fold:
        texts = [to_simplified(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), embedder.dim), np.float32)
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        out[idx] = embedder.passages([texts[j] for j in idx])
    return out[:len(sent_texts)], out[len(sent_texts):]


class ArticleWriter:
    """Adds and removes articles of one KB. ``embedder`` is asked for when the first article
    needs embedding (a KB opened to remove articles never loads a model); ``fold`` says whether
    the KB embeds the Simplified folding of its text (``KnowledgeBase.folds_script``)."""

    def __init__(self, store: Store, indexes: Indexes, build: BuildParams, embedder: Callable[[], Embedder],
                 fold: Callable[[], bool], batch: int = 64):
        self.store = store
        self.indexes = indexes
        self.build = build
        self._embedder = embedder
        self._fold = fold
        self.batch = max(1, batch)
        self._dups = None

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

        Returns (status, detail): status is added / updated / unchanged / duplicate /
        near-duplicate; detail is the article id, or for a (near-)duplicate the copy already
        stored."""
        status, detail = self.status_of(doc)
        if status in ("unchanged", "duplicate"):
            return status, detail
        return self.commit(prepare(doc, self.build, self._embedder(), self._fold(), self.batch), (status, detail))

    def commit(self, ready: Prepared, known: tuple[str, str | None] | None = None) -> tuple[str, str | None]:
        """Store a prepared article in one transaction and mirror it into the indexes (the
        cheap half of ``add``). Its status is decided here, against the KB as it is now, unless
        ``known`` gives the one this writer decided just before preparing it."""
        doc = ready.doc
        status, detail = known or self.status_of(doc)
        if status in ("unchanged", "duplicate"):
            return status, detail
        built = self.store.get_meta("embedder")
        if built is not None and (ready.embedder != built or ready.folded != self._fold()):
            raise KBError(f"{doc.path}: embedded by '{ready.embedder}'{' (folded)' if ready.folded else ''}, "
                          f"but this KB uses '{built}'")
        sentences, passages, sent_vecs, pass_vecs, terms, sig = (ready.sentences, ready.passages, ready.sent_vecs,
                                                                 ready.pass_vecs, ready.terms, ready.signature)
        art_id = article_id_for(doc.key)
        near = self.duplicates.best_match(sig, exclude=art_id)
        dup_of = None
        if near is not None:
            first = self.store.article(near[0])
            dup_of = (first.dup_of or first.id) if first else None
        art = Article(id=art_id, key=doc.key, path=doc.path,  # (metadata without terminal controls: kb.text)
                      title=strip_controls(doc.title or Path(doc.path).stem) or "untitled",
                      source=strip_controls(doc.source), url=strip_controls(doc.url), author=strip_controls(doc.author),
                      date=strip_controls(doc.date),
                      lang=ready.lang, content_hash=doc.content_hash, text=doc.text, meta=doc.meta,
                      ingested_at=now_iso(), dup_of=dup_of, minhash=sig.tobytes())
        with self.indexes.lock:
            if self.store.get_meta("embedder") is None:
                with self.store.transaction():
                    self.store.set_meta("embedder", ready.embedder)
                    self.store.set_meta("dim", str(ready.pass_vecs.shape[1]))
                    self.store.set_meta("embed_script", "simplified" if ready.folded else "as-is")
            if self.store.get_meta("embedded_on") != ready.device:
                with self.store.transaction():
                    self.store.set_meta("embedded_on", ready.device)
            old_p, _ = self.store.put_article(art, sentences, sent_vecs, passages, terms, pass_vecs)
            self.indexes.applied(old_p, self.store.passage_ids(art_id))
            self.duplicates.add(art_id, sig)
        if dup_of is not None:
            first = self.store.article(dup_of)
            return "near-duplicate", f"{first.path if first else dup_of} (similarity {near[1]:.2f})"
        return status, art_id

    def remove(self, art: Article) -> None:
        """Remove one article from the library and its indexes, into the trash (restorable)."""
        with self.indexes.lock:
            old_p, _ = self.store.trash_article(art.id)
            self.indexes.applied(old_p, [])
            self.duplicates.remove(art.id)

    def restore(self, article_id: str) -> None:
        """Put a removed article back from the trash: its rows and vectors as stored, its passages
        into the indexes again (nothing read or embedded anew)."""
        with self.indexes.lock:
            new_p = self.store.restore_article(article_id)
            self.indexes.applied([], new_p)
            self._dups = None  # (rebuilt from the stored signatures when next needed)

    @property
    def duplicates(self):
        """Near-duplicate finder over the stored articles' MinHash signatures (built on first use)."""
        if self._dups is None:
            from .dedup import DuplicateFinder
            self._dups = DuplicateFinder()
            self._dups.load(*self.store.signatures())
        return self._dups

    def retokenize_if_needed(self, force: bool = False) -> None:
        """Re-cut every passage's lexical terms when the user dictionary changed (no re-embedding)."""
        current = lexicon_id()
        stored = self.store.get_meta("lexicon")
        if not force and stored == current:
            return
        _query_tokens_cached.cache_clear()
        if stored is None and not force:  # a KB cut before lexicons were recorded: record this one
            with self.store.transaction():
                self.store.set_meta("lexicon", current)
            return
        n = self.store.retokenize(tokenize, current)
        if n:
            notice(f"user dictionary changed: re-tokenised {n} passages for BM25 (vectors kept)")
            self.indexes.rebuild()
