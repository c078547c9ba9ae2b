"""Ingest files and folders into a knowledge base: read → clean → segment/embed/store.

A bad file is reported by name with its reason and skipped; the batch goes on and nothing
already stored is touched. Derived indexes are saved at the end (and every few hundred files,
so a long run interrupted late keeps most of its work without a rebuild).
"""
from __future__ import annotations

import os
import re
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from kb.base import ArticleInput, KnowledgeBase
from kb.errors import KBError, ReadError, StorageError
from kb.text import normalize

from .clean import clean_text, parse_date
from .fetch import is_url
from .readers import MAX_TEXT_CHARS, SUPPORTED, read_file

FLUSH_EVERY = 200


@dataclass
class Summary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicate: list[tuple[str, str]] = field(default_factory=list)   # (path, path of the copy kept)
    near_duplicate: list[tuple[str, str]] = field(default_factory=list)  # stored, linked to the first copy
    failed: list[tuple[str, str]] = field(default_factory=list)      # (path, reason)
    skipped: list[str] = field(default_factory=list)  # files in a folder of a kind no reader reads
    seconds: float = 0.0
    passages: int = 0

    def line(self) -> str:
        return (f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
                f"duplicate {len(self.duplicate)}, near-duplicate {len(self.near_duplicate)}, "
                f"failed {len(self.failed)} ({self.seconds:.1f} s)" + self.skipped_line())

    def skipped_line(self) -> str:
        """'; skipped 2 files of a kind it does not read: photo.heic, table.xlsx' ('' when none)."""
        if not self.skipped:
            return ""
        names = ", ".join(_safe(Path(p).name) for p in self.skipped[:5])
        more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
        n = len(self.skipped)
        return f"; skipped {n} file{'s' if n > 1 else ''} of a kind it does not read: {names}{more}"


def collect(paths: Iterable[str], skipped: list[str] | None = None
            ) -> tuple[list[tuple[Path | None, str]], list[tuple[str, str]]]:
    """Files to ingest (path, as given) from files, folders (recursively) and URLs (path None),
    and the paths that could not be listed. Inside folders only known extensions are taken
    (the others are appended to ``skipped``, when given); hidden entries are left out."""
    files: list[tuple[Path | None, str]] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for given in paths:
        if is_url(given):
            if given not in seen:
                seen.add(given)
                files.append((None, given))
            continue
        p = Path(given)
        if p.is_dir():
            for root, dirs, names in os.walk(p, onerror=lambda e: errors.append((e.filename, e.strerror or str(e)))):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for n in sorted(names):
                    f = Path(root) / n
                    if n.startswith("."):
                        continue
                    if f.suffix.lower() not in SUPPORTED:
                        if skipped is not None:
                            skipped.append(fs_text(str(f)))
                        continue
                    _add(files, seen, f, str(f), errors)
        elif p.exists() or p.is_symlink():
            _add(files, seen, p, given, errors)
        else:
            errors.append((given, "no such file or folder"))
    return files, errors


def _add(files, seen, f: Path, given: str, errors) -> None:
    try:
        key = str(f.resolve(strict=True))
    except (OSError, RuntimeError) as e:  # broken link, symlink loop
        errors.append((given, "symlink loop or broken link" if isinstance(e, RuntimeError) or f.is_symlink()
                       else (getattr(e, "strerror", None) or str(e))))
        return
    if key not in seen:
        seen.add(key)
        files.append((f, given))


def to_article(path: Path, given: str) -> ArticleInput:
    """Read and clean one file into what the KB stores. Raises ReadError."""
    return raw_to_article(read_file(path), key=key_of(path, given), given=fs_text(given),
                          stem=fs_text(path.stem, readable=True))


def key_of(path: Path | None, given: str) -> str:
    """What identifies an item as "the same article" across runs: its resolved path, or its URL."""
    return fs_text(str(path.resolve())) if path is not None else given


def fs_text(name: str, readable: bool = False) -> str:
    """A file name as text that can be stored and printed. A name that is not valid UTF-8 (GBK
    names from Windows archives) arrives with its bytes as surrogates: they are written as
    ``\\xNN`` escapes, which keep two different names different; ``readable`` instead decodes the
    bytes as GB18030 when that works (for a title)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogateescape")
    if readable:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            pass
    return raw.decode("utf-8", "backslashreplace")


def url_to_article(url: str, allow_private: bool = False) -> ArticleInput:
    """Fetch and clean one web page. Raises ReadError."""
    from .fetch import fetch
    return raw_to_article(fetch(url, allow_private=allow_private), key=url, given=url, stem=url.rstrip("/").rsplit("/", 1)[-1] or url)


def raw_to_article(raw, key: str, given: str, stem: str) -> ArticleInput:
    if not normalize(raw.text).strip():
        raise ReadError("empty file (whitespace only)")
    c = clean_text(raw.text, title=raw.title)
    if not c.text.strip():
        raise ReadError("no article text left after removing page noise")
    date = raw.date or c.date
    if date:
        date = parse_date(date) or (date if len(date) == 10 and date[4] == "-" else None)
    meta = dict(raw.meta)
    meta["kind"] = raw.kind
    if c.dropped:
        meta["dropped_lines"] = len(c.dropped)
    if c.pages or raw.kind in ("pdf", "image"):
        meta["pages"] = c.pages
    if not re.search(r"[\w\u3400-\u9fff]", c.text):
        raise ReadError("no words in the text (only punctuation or symbols)")
    if len(c.text) > MAX_TEXT_CHARS:
        raise ReadError(f"{len(c.text) / 1e6:.1f} M characters of text, over the {MAX_TEXT_CHARS // 1_000_000} M limit "
                        "for one article (split it into parts)")
    return ArticleInput(key=key, path=given, text=c.text, content_hash=raw.content_hash,
                        title=c.title or raw.title or stem, source=raw.source or c.source,
                        url=_web_link(raw.url) or c.url, author=raw.author or c.author, date=date, meta=meta)


def _web_link(url: str | None) -> str | None:
    """A page's own link, only when it is a web link (never javascript: or data:)."""
    return url if url and re.match(r"^https?://\S+$", url.strip(), re.I) else None


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _safe(s: str) -> str:
    """A path printable on one line: newlines, control and bidi characters shown as escapes."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)


def _failed(s: Summary, bar, echo: bool, given: str, reason: str) -> None:
    reason = " ".join(reason.split())  # one line, whatever the message held
    s.failed.append((given, reason))
    if echo:
        msg = f"ingest: {_safe(given)}: {reason}"
        bar.write(msg, file=sys.stderr) if bar else print(msg, file=sys.stderr)


def begin(paths: Iterable[str], progress: bool | None, echo: bool):
    """(summary, items, progress bar or None): the items to ingest, those that could not be
    listed already reported and counted as failed."""
    s = Summary()
    files, errors = collect(paths, s.skipped)
    for given, reason in errors:
        given = fs_text(given)
        s.failed.append((given, reason))
        if echo:
            print(f"ingest: {_safe(given)}: {reason}", file=sys.stderr)
    show = progress if progress is not None else (bool(files) and sys.stderr.isatty())
    bar = None
    if show:  # (tqdm gives the rate and the time left from the first file on)
        from tqdm import tqdm
        bar = tqdm(total=len(files), unit="file", file=sys.stderr, dynamic_ncols=True)
    return s, files, bar


def add_counted(kb: KnowledgeBase, s: Summary, bar, echo: bool, given: str, add: Callable[[], tuple[str, str | None]]) -> None:
    """Run ``add`` (it stores one item and returns (status, detail)) and count its outcome. A
    reader's failure is that item's one line; a failure of the KB's storage stops the batch
    (every later item would fail the same way)."""
    try:
        status, detail = add()
    except (ReadError, KBError) as e:
        if isinstance(e, StorageError):
            raise
        _failed(s, bar, echo, given, str(e))
    except (sqlite3.Error, OSError) as e:
        raise StorageError.of(e, kb.path, doing=f"storing {_safe(given)}") from None
    except Exception as e:  # noqa: BLE001 - a reader's unexpected failure is that file's, not the batch's
        _failed(s, bar, echo, given, f"could not be read ({type(e).__name__}: {_safe(str(e))[:120]})")
    else:
        if status == "duplicate":
            s.duplicate.append((given, detail or ""))
        elif status == "near-duplicate":
            s.near_duplicate.append((given, detail or ""))
        else:
            getattr(s, status).append(given)


def time_left(done: int, total: int, elapsed: float) -> str:
    """'about 40 s left' from the pace so far (for a progress line), '' before the first item."""
    if done <= 0 or done >= total:
        return ""
    left = elapsed / done * (total - done)
    return f"about {left:.0f} s left" if left < 90 else f"about {left / 60:.0f} min left"


def ingest(kb: KnowledgeBase, paths: Iterable[str], progress: bool | None = None,
           on_file: Callable[[int, int, str], None] | None = None, echo: bool = True) -> Summary:
    """Ingest ``paths`` into ``kb``; returns the summary. ``on_file(done, total, path)`` reports progress."""
    t0 = time.time()
    s, files, bar = begin(paths, progress, echo)
    with kb.writer():
        for n, (path, given) in enumerate(files, 1):
            given = fs_text(given)
            add_counted(kb, s, bar, echo, given,
                  lambda: kb.add(to_article(path, given) if path is not None
                                 else url_to_article(given, bool(kb.settings.fetch_private))))
            if n % FLUSH_EVERY == 0:
                kb.flush()
            if bar:
                bar.update(1)
            if on_file:
                on_file(n, len(files), given)
    if bar:
        bar.close()
    s.passages = kb.store.counts()["passages"]
    s.seconds = time.time() - t0
    return s
