"""Errors the library raises; each message says what went wrong and how to fix it."""


class KBError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class ConfigError(KBError):
    pass


class KBNotFound(KBError):
    pass


class EmbedderMismatch(KBError):
    pass


class ReadError(KBError):
    """A file could not be turned into an article (unreadable, empty, binary, ...)."""


class KBLocked(KBError):
    pass
