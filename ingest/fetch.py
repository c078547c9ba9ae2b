"""Fetch a web page by URL and read it like a saved HTML file (trafilatura extraction).

Errors — no answer, an HTTP error status, a timeout, something that is not HTML, a page too
large — are ReadErrors naming what went wrong, so a batch of URLs reports each one.
"""
from __future__ import annotations

import codecs
import http.client
import re
import socket
import threading
import urllib.error
import urllib.request

from kb.errors import ReadError

from .readers import MAX_BYTES, RawDoc, _hash, decode, read_html

TIMEOUT_S = 20      # no answer for this long (a connect, or any one read): give up
DEADLINE_S = 60     # the whole page, headers and body, must have arrived by then (a server may trickle)
USER_AGENT = "Mozilla/5.0 (compatible; article-kb/1.0; +https://example.invalid/kb)"


def is_url(s: str) -> bool:
    return bool(re.match(r"^https?://", s, re.I))


class _Watch:
    """Every connection a fetch opens (redirects open more), so that a watchdog can cut them all
    when the deadline passes, whatever read they are blocked in."""

    def __init__(self):
        self.socks: list = []
        self.expired = False

    def handlers(self) -> list:
        watch = self

        def conn(base):
            class Conn(base):
                def connect(self):
                    super().connect()
                    watch.socks.append(self.sock)
            return Conn

        class H(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(conn(http.client.HTTPConnection), req)

        class HS(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(conn(http.client.HTTPSConnection), req, context=self._context)

        return [H(), HS()]

    def expire(self) -> None:
        self.expired = True
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def fetch(url: str, timeout: float = TIMEOUT_S, deadline: float | None = None) -> RawDoc:
    """The page at ``url``, read like a saved HTML file (all of it within ``deadline`` seconds,
    default DEADLINE_S). Raises ReadError with the reason."""
    deadline = DEADLINE_S if deadline is None else deadline
    watch = _Watch()
    timer = threading.Timer(deadline, watch.expire)
    timer.daemon = True
    timer.start()
    try:
        data, ctype, final = _get(url, timeout, watch)
    except ReadError:
        raise
    except Exception as e:  # noqa: BLE001 - every failure to fetch is this link's, in one line
        if watch.expired:
            raise ReadError(f"the page did not arrive within {deadline:g} s (too slow)") from None
        raise ReadError(_why(e, timeout)) from None
    finally:
        timer.cancel()
    text = _decode_page(data, ctype)
    doc = read_html(data, text)
    doc.url = doc.url or final
    doc.meta["fetched_from"] = url
    return doc


def _get(url: str, timeout: float, watch: _Watch) -> tuple[bytes, str, str]:
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml",
                                               "Accept-Encoding": "identity"})
    opener = urllib.request.build_opener(*watch.handlers())
    with opener.open(req, timeout=timeout) as r:
        ctype = r.headers.get("Content-Type", "") or ""
        if ctype and not re.search(r"html|xml", ctype, re.I):
            raise ReadError(f"not an HTML page (Content-Type: {ctype.split(';')[0][:80]})")
        declared = r.headers.get("Content-Length")
        declared = int(declared) if declared and declared.strip().isdigit() else None
        if declared is not None and declared > MAX_BYTES:
            raise ReadError(f"page is {declared / 2**20:.0f} MB, over the {MAX_BYTES // 2**20} MB limit")
        parts, size = [], 0
        while chunk := r.read1(65536):
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_BYTES:
                raise ReadError(f"page is over the {MAX_BYTES // 2**20} MB limit")
        if watch.expired:
            raise TimeoutError("deadline")
        if declared is not None and size < declared:
            raise ReadError(f"the page was cut short: {size:,} of {declared:,} bytes arrived (Content-Length); "
                            "nothing stored, try again")
        return b"".join(parts), ctype, r.geturl()


def _why(e: BaseException, timeout: float) -> str:
    """One line for a failed fetch."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {str(e.reason)[:80]}"
    reason = e.reason if isinstance(e, urllib.error.URLError) else e
    if isinstance(reason, (TimeoutError, socket.timeout)) or "timed out" in str(reason):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, http.client.InvalidURL) or isinstance(e, (ValueError, UnicodeError)):
        return f"not a valid web link ({str(reason)[:100]})"
    if isinstance(reason, http.client.BadStatusLine):
        return "the server did not answer with HTTP (is this the right port?)"
    if isinstance(reason, http.client.IncompleteRead):
        return "the page was cut short (connection closed early); nothing stored, try again"
    if isinstance(reason, http.client.HTTPException):
        return f"the server's answer is malformed ({type(reason).__name__}: {str(reason)[:100]})"
    if isinstance(reason, OSError) and reason.strerror:
        return f"could not fetch ({reason.strerror})"
    return f"could not fetch ({type(reason).__name__}: {str(reason)[:100]})"


def _decode_page(data: bytes, ctype: str) -> str:
    """The page's text. A clean UTF-8 decode wins over what the header says (a header that claims
    ISO-8859-1 for a UTF-8 page would store mojibake); then the header's charset if the bytes are
    valid in it; then the same detection as a saved file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    charset = re.search(r"charset=[\"']?([\w.:-]+)", ctype)
    if charset:
        try:
            if codecs.lookup(charset.group(1)).name not in ("latin-1", "iso8859-1", "cp1252"):
                return data.decode(charset.group(1))  # (Latin-1 decodes anything: leave it to detection)
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
    return decode(data)[0]


__all__ = ["fetch", "is_url", "RawDoc", "_hash"]
