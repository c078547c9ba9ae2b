"""Fetch a web page by URL and read it like a saved HTML file (trafilatura extraction).

Errors — no answer, an HTTP error status, a timeout, something that is not HTML, a page too
large — are ReadErrors naming what went wrong, so a batch of URLs reports each one.

Only what was asked is fetched: http and https, on every redirect hop too (no ftp:, file:,
data:); no address of this machine or its network (loopback, private, link-local) unless
KB_FETCH_PRIVATE=1, since a fetch the API makes for a web client is the classic SSRF; every
socket, redirects' included, under the one watchdog.
"""
from __future__ import annotations

import codecs
import http.client
import ipaddress
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request

from kb.errors import ReadError

from .readers import MAX_BYTES, RawDoc, _hash, decode, read_html

TIMEOUT_S = 20      # no answer for this long (a connect, or any one read): give up
DEADLINE_S = 60     # the whole page, headers and body, must have arrived by then (a server may trickle)
USER_AGENT = "Mozilla/5.0 (compatible; article-kb/1.0; +https://example.invalid/kb)"


def is_url(s: str) -> bool:
    return bool(re.match(r"^https?://", s, re.I))


def _refused_address(ip: str) -> str | None:
    """What kind of address ``ip`` is when a link to it needs KB_FETCH_PRIVATE=1, else None."""
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    for kind, yes in (("loopback", addr.is_loopback), ("link-local", addr.is_link_local),
                      ("unspecified", addr.is_unspecified), ("private", addr.is_private),
                      ("multicast", addr.is_multicast), ("reserved", addr.is_reserved)):
        if yes:
            return kind
    return None


class _Watch:
    """Every connection a fetch opens (redirects open more), so that a watchdog can cut them all
    when the deadline passes, whatever read they are blocked in; and the rules every hop obeys:
    http or https only, and, unless ``allow_private``, no loopback, private or link-local
    address (checked on the address actually connected to, so a name that resolves elsewhere on
    a second look cannot slip past)."""

    def __init__(self, allow_private: bool = False):
        self.socks: list = []
        self.expired = False
        self.allow_private = allow_private

    def connect(self, address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            refused = None if self.allow_private else _refused_address(sockaddr[0])
            if refused:
                raise ReadError(f"{host} is a {refused} address ({sockaddr[0]}): links to this machine or its network "
                                "are fetched only with KB_FETCH_PRIVATE=1")
            sock = socket.socket(family, kind, proto)
            self.socks.append(sock)  # (before connecting: a connect or TLS handshake that hangs is cut too)
            if self.expired:
                sock.close()
                raise TimeoutError("deadline")
            try:
                if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as e:
                last = e
                sock.close()
        raise last or OSError(f"could not resolve {host}")

    def opener(self) -> urllib.request.OpenerDirector:
        """An opener with http and https only (no ftp:, file:, data:), redirects checked hop by hop."""
        watch = self

        def conn(base):
            class Conn(base):
                def __init__(self, *a, **kw):
                    super().__init__(*a, **kw)
                    self._create_connection = watch.connect
            return Conn

        class H(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(conn(http.client.HTTPConnection), req)

        class TLSConn(conn(http.client.HTTPSConnection)):
            def connect(self):
                http.client.HTTPConnection.connect(self)
                # The handshake after the socket is watched: ssl's wrap_socket detaches the raw
                # socket (shutting that down then does nothing) and would handshake before returning.
                tls = self._context.wrap_socket(self.sock, server_hostname=self._tunnel_host or self.host,
                                                do_handshake_on_connect=False)
                watch.socks.append(tls)
                if watch.expired:
                    raise TimeoutError("deadline")
                tls.do_handshake()
                self.sock = tls

        class HS(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(TLSConn, req, context=self._context)

        class Redirects(urllib.request.HTTPRedirectHandler):
            def http_error_302(self, req, fp, code, msg, headers):
                to = urllib.parse.urljoin(req.full_url, headers.get("location") or headers.get("uri") or "")
                if urllib.parse.urlsplit(to).scheme.lower() not in ("http", "https"):
                    raise ReadError(f"redirected to {to[:100]}: only http and https links are followed")
                return super().http_error_302(req, fp, code, msg, headers)

            http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

        opener = urllib.request.OpenerDirector()
        for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), H(), HS(), Redirects(),
                        urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
            opener.add_handler(handler)
        return opener

    def expire(self) -> None:
        self.expired = True
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def fetch(url: str, timeout: float = TIMEOUT_S, deadline: float | None = None,
          allow_private: bool = False) -> RawDoc:
    """The page at ``url``, read like a saved HTML file (all of it within ``deadline`` seconds,
    default DEADLINE_S). Links, and redirects, to loopback, private and link-local addresses
    are refused unless ``allow_private`` (setting KB_FETCH_PRIVATE, handed down). Raises
    ReadError with the reason."""
    deadline = DEADLINE_S if deadline is None else deadline
    if not is_url(url):
        raise ReadError("not a web link: only http:// and https:// links are fetched")
    watch = _Watch(allow_private)
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
    with watch.opener().open(req, timeout=timeout) as r:
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
    if isinstance(reason, socket.gaierror):  # ("Name or service not known", "Temporary failure in name resolution")
        return "could not fetch: the web address's host was not found (check the link, or this machine's network)"
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
