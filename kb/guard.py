"""The API's gate: each request's Host, Origin, key, content type and size, checked before the
application reads a byte of its body (a pure ASGI middleware, ``kb.api`` installs it).

Why each check:

- **Host** must name this server (localhost, a loopback address, the address it binds, or a name
  in ``KB_API_HOSTS``): a page on ``evil.example`` whose name is made to resolve to 127.0.0.1
  (DNS rebinding) sends ``Host: evil.example``, and is refused.
- **Origin** (or, without one, the Referer) must be the server's own: a page on another site, or
  on another port of this machine, can post a form (multipart needs no CORS preflight) or read
  with a simple GET. Writes are taken only from the server's own origin or from clients that are
  not browsers (they send neither header); reads also from the origins in ``KB_API_ORIGINS``,
  which alone get CORS headers. ``Sec-Fetch-Site`` refuses a cross-site request that carries
  neither header.
- **The key, the content type and the length** come before the body: an unauthenticated or
  oversized upload is answered at once, and a body without Content-Length (chunked) is counted
  as it streams in and cut off at the limit.
"""
from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

# Paths anyone may read without the key: the API's description, and whether it is up.
OPEN_PATHS = frozenset({"/docs", "/openapi.json", "/health"})
UPLOAD_PATH = "/articles"
READ_POSTS = frozenset({"/search/batch"})  # POSTs that only read
MAX_JSON_BYTES = 2 * 2 ** 20  # 100 questions of 2,000 characters, escaped (\uXXXX), fit with room
MULTIPART_SLACK = 64 * 2 ** 10  # part headers and boundaries around the files themselves
KEY_HINT = "missing or wrong API key: send the header 'Authorization: Bearer <KB_API_KEY>'"


class Refusal(Exception):
    """A request the gate answers itself, with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _BodyTooLarge(Exception):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """``Host`` header → (lower-case name without brackets, port or None). ``[::1]:8000`` →
    ('::1', 8000). A port that is not a number raises ValueError."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, port = value.split(":")
    else:
        name, port = value, ""
    if port and not port.isdigit():
        raise ValueError(port)
    return name, int(port) if port else None


def _names(setting: str) -> frozenset[str]:
    return frozenset(x.strip().lower().rstrip("/") for x in setting.split(",") if x.strip())


def _mb(n: int) -> str:
    return f"{n / 2 ** 20:.1f} MB" if n < 10 * 2 ** 20 else f"{n / 2 ** 20:.0f} MB"


class Gate:
    """ASGI middleware over ``app``. ``bound``: the address the server binds; ``port``: its
    port (None: any); ``api_key``: the key writes need (reads too when ``keyed_reads``);
    ``hosts``, ``origins``: the KB_API_HOSTS and KB_API_ORIGINS values; ``max_upload``: bytes
    of one upload request."""

    def __init__(self, app, *, bound: str = "127.0.0.1", port: int | None = None, api_key: str | None = None,
                 keyed_reads: bool = False, hosts: str = "", origins: str = "", max_upload: int = 50 * 2 ** 20):
        self.app = app
        self.bound = bound.strip("[]").lower()
        self.wildcard = self.bound in ("0.0.0.0", "::", "")
        self.port = port
        self.api_key = api_key or None
        self.keyed_reads = keyed_reads
        self.hosts = _names(hosts)
        self.origins = _names(origins)
        self.max_upload = max_upload

    # --- the checks, each a Refusal ---------------------------------------------------------
    def check_host(self, value: str | None) -> None:
        if value is None:
            return  # (HTTP/1.0 without Host: not a browser)
        try:
            name, port = split_host(value)
        except ValueError:
            raise Refusal(400, f"Host header '{value[:100]}' is not a host name and port") from None
        if name in self.hosts:
            return
        try:
            literal = ipaddress.ip_address(name)
        except ValueError:
            literal = None
        known = name == "localhost" or name == self.bound or (literal is not None and (literal.is_loopback or self.wildcard))
        if not known:
            raise Refusal(400, f"Host '{value[:100]}' is not this server's name (a web page reaching it through DNS "
                               f"rebinding?); to serve under that name, add it to KB_API_HOSTS")
        if port is not None and self.port is not None and port != self.port:
            raise Refusal(400, f"Host '{value[:100]}' names port {port}, but this server listens on {self.port}")

    def check_origin(self, read: bool, host: str | None, headers: dict) -> str | None:
        """The request's origin when it is a listed foreign one allowed to read (it then gets
        CORS headers), else None; raises Refusal for a foreign origin."""
        origin = headers.get("origin")
        via = "Origin"
        if origin is None and headers.get("referer"):
            parts = urlsplit(headers["referer"])
            origin, via = f"{parts.scheme}://{parts.netloc}", "Referer"
        if origin is None:
            site = headers.get("sec-fetch-site", "")
            if site in ("cross-site", "same-site") and (not read or headers.get("sec-fetch-mode") != "navigate"):
                raise Refusal(403, f"a request from another site ({site}) without an Origin is refused")
            return None  # not a browser, or a navigation the page cannot read
        origin = origin.strip().lower().rstrip("/")
        parts = urlsplit(origin) if origin != "null" else None
        if parts and parts.scheme in ("http", "https") and host is not None and parts.netloc == host.strip().lower():
            return None  # the server's own pages (or a TLS proxy in front of it)
        if read and origin in self.origins:
            return origin
        what = "write to" if not read else "read from"
        extra = "" if not read else "; to let its pages read, add it to KB_API_ORIGINS"
        raise Refusal(403, f"pages of {origin[:100]} ({via}) may not {what} this API{extra}")

    def key_ok(self, headers: dict) -> bool:
        import hmac
        given = headers.get("x-api-key") or ""
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            given = given or auth[7:].strip()
        return bool(given) and hmac.compare_digest(given.encode(), self.api_key.encode())

    def check_body(self, method: str, path: str, headers: dict) -> int | None:
        """The body's byte limit (None: no body), after its declared length and type."""
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if length is not None and not length.strip().isdigit():
            raise Refusal(400, f"Content-Length '{length[:40]}' is not a number of bytes")
        declared = int(length) if length is not None else None
        if not chunked and not declared:
            return None
        upload = method == "POST" and path == UPLOAD_PATH
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        wanted = ("multipart/form-data", "application/x-www-form-urlencoded") if upload else ("application/json",)
        if ctype not in wanted:
            raise Refusal(415, f"Content-Type '{ctype[:80] or 'none'}' is not taken here; send {' or '.join(wanted)}")
        limit = self.max_upload + MULTIPART_SLACK if upload else MAX_JSON_BYTES
        if declared is not None and declared > limit:
            raise Refusal(413, self.too_large(upload, declared))
        return limit

    def too_large(self, upload: bool, size: int | None) -> str:
        of = f" of {_mb(size)}" if size else ""
        if upload:
            return f"the upload{of} is over the upload limit of {self.max_upload // 2 ** 20} MB (KB_API_MAX_UPLOAD_MB)"
        return f"the JSON body{of} is over the {MAX_JSON_BYTES // 2 ** 20} MB limit"

    # --- ASGI -------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        read = method in ("GET", "HEAD", "OPTIONS") or (method == "POST" and path in READ_POSTS)
        try:
            self.check_host(headers.get("host"))
            cors = self.check_origin(read, headers.get("host"), headers)
            if cors and method == "OPTIONS":
                return await _answer(send, 204, None, _cors_headers(cors, preflight=True))
            if self.api_key and (not read or self.keyed_reads) and path not in OPEN_PATHS and not self.key_ok(headers):
                raise Refusal(401, KEY_HINT)
            limit = self.check_body(method, path, headers)
        except Refusal as r:
            body_pending = method in ("POST", "PUT", "PATCH", "DELETE")
            return await _answer(send, r.status, str(r), close=body_pending)
        if limit is None and cors is None:
            return await self.app(scope, receive, send)
        await self._guarded(scope, receive, send, limit, cors, upload=method == "POST" and path == UPLOAD_PATH)

    async def _guarded(self, scope, receive, send, limit, cors, upload):
        state = {"seen": 0, "over": False, "started": False}

        async def counted_receive():
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > limit:
                    state["over"] = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message):
            if state["over"]:
                return  # the app's answer to a body cut off: ours (below) is sent instead
            if message["type"] == "http.response.start":
                state["started"] = True
                if cors:
                    message = dict(message, headers=list(message.get("headers", [])) + _cors_headers(cors))
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _answer(send, 413, self.too_large(upload, None), close=True)


def _cors_headers(origin: str, preflight: bool = False) -> list[tuple[bytes, bytes]]:
    h = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
    if preflight:
        h += [(b"access-control-allow-methods", b"GET, HEAD, POST"),
              (b"access-control-allow-headers", b"authorization, x-api-key, content-type"),
              (b"access-control-max-age", b"600")]
    return h


async def _answer(send, status: int, message: str | None, headers: list | None = None, close: bool = False) -> None:
    body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8") if message else b""
    h = list(headers or [])
    if message:
        h += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    else:
        h += [(b"content-length", b"0")]
    if close:
        h.append((b"connection", b"close"))  # the body was not read: the connection cannot carry another request
    await send({"type": "http.response.start", "status": status, "headers": h})
    await send({"type": "http.response.body", "body": body})
