"""Errors the library raises; each message says what went wrong and how to fix it."""


class KBError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero. ``cli_hint`` is what
    to type at the command line about it: the CLI adds it (``for_cli``); the API and the app,
    whose users type no commands, show the message alone."""

    def __init__(self, message: str = "", cli_hint: str | None = None):
        super().__init__(message)
        self.cli_hint = cli_hint

    def for_cli(self) -> str:
        return f"{self}; {self.cli_hint}" if self.cli_hint else str(self)


class ConfigError(KBError):
    pass


class KBNotFound(KBError):
    pass


class NotFound(KBError):
    """What a request names (an article, a collection, an item) is not in the KB: the API's 404,
    by type (callers never match the message)."""


class ArticleNotFound(NotFound):
    pass


class CollectionNotFound(NotFound):
    pass


class ItemNotFound(NotFound):
    pass


class PassageNotFound(NotFound):
    """A permalink's article is there, but no passage of it holds the span any more."""


class EmbedderMismatch(KBError):
    pass


class ReadError(KBError):
    """A file could not be turned into an article (unreadable, empty, binary, ...)."""


class KBLocked(KBError):
    pass


class IndexUnavailable(KBError):
    """The derived index files cannot be read just now (damaged, or being replaced): the KB is
    fine (SQLite is the truth), the indexes need reloading or rebuilding (the API's 503)."""


class StorageError(KBError):
    """The KB's files could not be read or written: a full disk, read-only media, a damaged database."""

    @classmethod
    def read_only(cls, path) -> "StorageError":
        return cls(f"{path} is read-only (read-only media, or a folder this user may not write): it can be searched, "
                   "but adding, editing or removing articles (or collections) needs a writable copy")

    @classmethod
    def of(cls, e: BaseException, path, doing: str = "") -> "StorageError":
        """The one-line message for storage failure ``e`` in the KB at ``path``, naming the fix."""
        import errno
        msg = str(e).strip() or type(e).__name__
        low = msg.lower()
        code = getattr(e, "errno", None)
        where = f"{path}: " + (f"{doing}: " if doing else "")
        if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "disk is full" in low or "disk i/o error" in low:
            return cls(f"{where}no space left to write ({msg}); free space and run it again "
                       "(the knowledge base is as it was before this write)")
        if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in low or "read-only" in low:
            return cls(f"{where}the knowledge base is read-only ({msg}); it can be searched, but adding, "
                       "editing or removing needs a writable copy")
        if "not a database" in low or "malformed" in low or "corrupt" in low:
            return cls(f"{where}the database kb.sqlite is damaged ({msg}); restore it from a backup or build the "
                       "knowledge base again with python -m ingest (`kb rebuild` rebuilds only the indexes)")
        return cls(f"{where}storage error ({type(e).__name__}: {msg})")
