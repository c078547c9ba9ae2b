"""Fetch a web page by URL and read it like a saved HTML file (trafilatura extraction).

Errors — no answer, an HTTP error status, a timeout, something that is not HTML, a page too
large — are ReadErrors naming what went wrong, so a batch of URLs reports each one.
"""
from __future__ import annotations

import re
import urllib.error
import urllib.request

from kb.errors import ReadError

from .readers import MAX_BYTES, RawDoc, _hash, decode, read_html

TIMEOUT_S = 20
USER_AGENT = "Mozilla/5.0 (compatible; article-kb/1.0; +https://example.invalid/kb)"


def is_url(s: str) -> bool:
    return bool(re.match(r"^https?://", s, re.I))


def fetch(url: str, timeout: float = TIMEOUT_S) -> RawDoc:
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            ctype = r.headers.get("Content-Type", "")
            if ctype and not re.search(r"html|xml", ctype, re.I):
                raise ReadError(f"not an HTML page (Content-Type: {ctype.split(';')[0]})")
            data = r.read(MAX_BYTES + 1)
            final = r.geturl()
    except ReadError:
        raise
    except urllib.error.HTTPError as e:
        raise ReadError(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise ReadError(f"timed out after {timeout:g} s") from None
        raise ReadError(f"could not fetch ({reason})") from None
    except (TimeoutError, OSError) as e:
        raise ReadError(f"timed out after {timeout:g} s" if isinstance(e, TimeoutError) else f"could not fetch ({e})") from None
    if len(data) > MAX_BYTES:
        raise ReadError(f"page is over the {MAX_BYTES // 2**20} MB limit")
    charset = re.search(r"charset=([\w-]+)", ctype or "")
    text = None
    if charset:
        try:
            text = data.decode(charset.group(1))
        except (LookupError, UnicodeDecodeError):
            text = None
    if text is None:
        text, _ = decode(data)
    doc = read_html(data, text)
    doc.url = doc.url or final
    doc.meta["fetched_from"] = url
    return doc


__all__ = ["fetch", "is_url", "RawDoc", "_hash"]
