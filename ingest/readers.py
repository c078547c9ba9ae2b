"""Turn a file into text plus whatever metadata the format carries.

Text files are decoded by trying UTF-8 first (a clean UTF-8 decode is unambiguous), then
charset-normalizer limited to the encodings Chinese and English articles come in; HTML goes
through trafilatura's main-content extraction. Every failure is a ReadError naming the reason.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import ReadError

MAX_BYTES = 64 * 1024 * 1024
TEXT_EXT = {".txt", ".md", ".markdown", ".text"}
HTML_EXT = {".html", ".htm", ".xhtml"}
SUPPORTED = TEXT_EXT | HTML_EXT

# Chinese first: GB18030 is a superset of GBK/GB2312; Big5 for Traditional text.
_CANDIDATE_ENCODINGS = ["utf_8", "gb18030", "big5", "utf_16", "cp1252", "latin_1", "shift_jis", "euc_kr"]


@dataclass
class RawDoc:
    text: str
    content_hash: str
    kind: str                      # 'text', 'markdown', 'html'
    title: str | None = None
    author: str | None = None
    date: str | None = None
    url: str | None = None
    source: str | None = None
    meta: dict = field(default_factory=dict)


def read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ReadError(f"file is {size / 2**20:.0f} MB, over the {MAX_BYTES // 2**20} MB limit for one article")
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1)
    except PermissionError:
        raise ReadError("permission denied") from None
    except IsADirectoryError:
        raise ReadError("is a directory") from None
    except OSError as e:
        raise ReadError(e.strerror or str(e)) from None


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name). Raises ReadError for empty or binary data."""
    if not data.strip():
        raise ReadError("empty file")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    if b"\x00" in data[:8192] and data[:8192].count(b"\x00") > len(data[:8192]) // 100:
        raise ReadError("binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes
    best = from_bytes(data, cp_isolation=_CANDIDATE_ENCODINGS).best()
    if best is None:
        raise ReadError("binary file or unknown text encoding")
    text = str(best)
    bad = sum(1 for ch in text[:20000] if (ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\ufffd")
    if bad > max(5, len(text[:20000]) // 50):
        raise ReadError(f"binary file, not text (decodes as {best.encoding} only with many control characters)")
    return text, best.encoding


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_MD_LINK = re.compile(r"!\[[^\]]*\]\([^)]*\)|\[([^\]]+)\]\([^)]*\)")
_MD_MARK = re.compile(r"(\*\*|__|`{1,3})")


def _markdown_to_text(md: str) -> tuple[str, str | None]:
    """Markdown to plain lines: headings stay as their own lines (paragraph boundaries), link
    text kept, images and emphasis markers dropped. Returns (text, first H1 as title)."""
    title = None
    lines = []
    for line in md.split("\n"):
        m = re.match(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            if title is None and len(m.group(1)) == 1:
                title = m.group(2)
                continue
            line = m.group(2)
        line = re.sub(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+", "", line)
        line = re.sub(r"^\s*>\s?", "", line)
        if re.match(r"^\s*([-*_=])\1{2,}\s*$", line):
            continue
        line = _MD_LINK.sub(lambda mm: mm.group(1) or "", line)
        lines.append(_MD_MARK.sub("", line))
    return "\n".join(lines), title


def _html(data: bytes, text: str) -> RawDoc:
    try:
        import trafilatura
    except ImportError as e:  # pragma: no cover
        raise ReadError(f"HTML needs trafilatura ({e})") from None
    doc = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False, include_tables=True,
                                      favor_precision=False, deduplicate=True,
                                      # only dates the page states in its markup, not guesses from body text
                                      date_extraction_params={"extensive_search": False, "original_date": True})
    if doc is None:
        raise ReadError("no article text found in this HTML page")
    d = doc if isinstance(doc, dict) else doc.as_dict()
    body = (d.get("text") or "").strip()
    if not body:
        raise ReadError("no article text found in this HTML page")
    return RawDoc(text=body, content_hash=_hash(data), kind="html", title=d.get("title") or None,
                  author=d.get("author") or _meta_author(text), date=d.get("date") or None, url=d.get("url") or None,
                  source=d.get("sitename") or None,
                  meta={k: d[k] for k in ("description", "hostname", "categories", "tags") if d.get(k)})


def _meta_author(page: str) -> str | None:
    """<meta name="author">, which trafilatura drops when the name is in Chinese characters."""
    m = re.search(r"<meta\s+[^>]*(?:name|property)=[\"'](?:author|article:author)[\"'][^>]*>", page[:200000], re.I)
    if m:
        c = re.search(r"content=[\"']([^\"']{1,80})[\"']", m.group(0), re.I)
        if c and c.group(1).strip() and not c.group(1).startswith("http"):
            import html
            return html.unescape(c.group(1).strip())
    return None


def read_file(path: Path) -> RawDoc:
    """Read one article file. Raises ReadError with the reason when it cannot."""
    ext = path.suffix.lower()
    data = read_bytes(path)
    text, enc = decode(data)
    if ext in HTML_EXT or (ext not in TEXT_EXT and re.match(r"\s*(<!doctype html|<html)", text[:512], re.I)):
        doc = _html(data, text)
    elif ext in (".md", ".markdown"):
        body, title = _markdown_to_text(text)
        doc = RawDoc(text=body, content_hash=_hash(data), kind="markdown", title=title)
    else:
        doc = RawDoc(text=text, content_hash=_hash(data), kind="text")
    doc.meta["encoding"] = enc
    return doc
