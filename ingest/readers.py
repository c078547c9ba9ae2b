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

MAX_BYTES = 20 * 1024 * 1024      # an article, or a long book; beyond this is not one article
TEXT_EXT = {".txt", ".md", ".markdown", ".text"}
HTML_EXT = {".html", ".htm", ".xhtml"}
DOC_EXT = {".pdf", ".docx", ".epub"}
SUPPORTED = TEXT_EXT | HTML_EXT | DOC_EXT
PAGE_MARK = "\ue000"  # a line of its own between PDF pages; clean_text turns it into page offsets

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
        if not path.is_file():
            raise ReadError("not a regular file")
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
    except UnicodeDecodeError as e:
        if e.start >= len(data) - 3 and e.end == len(data):  # cut off inside the last character
            return data[:e.start].decode("utf-8", errors="replace"), "utf-8 (truncated)"
    mixed = _decode_mixed(data)
    if mixed is not None:
        return mixed
    from charset_normalizer import from_bytes
    best = from_bytes(data, cp_isolation=_CANDIDATE_ENCODINGS).best()
    if best is None:
        raise ReadError("binary file or unknown text encoding")
    text = str(best)
    bad = sum(1 for ch in text[:20000] if (ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\ufffd")
    if bad > max(5, len(text[:20000]) // 50):
        raise ReadError(f"binary file, not text (decodes as {best.encoding} only with many control characters)")
    return text, best.encoding


def _decode_mixed(data: bytes) -> tuple[str, str] | None:
    """A file pasted together from UTF-8 and a legacy encoding: decode line by line when a good
    share of its non-ASCII lines are valid UTF-8 and the rest are not."""
    lines = data.split(b"\n")
    non_ascii = [ln for ln in lines if any(b > 127 for b in ln)]
    good = sum(1 for ln in non_ascii if _utf8_ok(ln))
    if not non_ascii or good == len(non_ascii) or good / len(non_ascii) < 0.3:
        return None
    from charset_normalizer import from_bytes
    rest = b"\n".join(ln for ln in non_ascii if not _utf8_ok(ln))
    best = from_bytes(rest, cp_isolation=_CANDIDATE_ENCODINGS[1:]).best()
    other = best.encoding if best is not None else "gb18030"
    out = [ln.decode("utf-8") if _utf8_ok(ln) else ln.decode(other, errors="replace") for ln in lines]
    return "\n".join(out), f"utf-8 + {other}"


def _utf8_ok(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


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


def read_html(data: bytes, text: str) -> RawDoc:
    """An HTML page's main content and metadata (WeChat public-account pages by their own layout)."""
    wx = _wechat(data, text)
    if wx is not None:
        return wx
    return _html(data, text)


def _html(data: bytes, text: str) -> RawDoc:
    try:
        import trafilatura
    except ImportError as e:  # pragma: no cover
        raise ReadError(f"HTML needs trafilatura ({e})") from None
    try:
        doc = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False, include_tables=True,
                                          favor_precision=False, deduplicate=True,
                                          # only dates the page states in its markup, not guesses from body text
                                          date_extraction_params={"extensive_search": False, "original_date": True})
    except RecursionError:
        raise ReadError("HTML nested too deeply to parse") from None
    except Exception as e:  # noqa: BLE001 - a parser failure on hostile markup is a bad file, not a crash
        raise ReadError(f"HTML could not be parsed ({type(e).__name__})") from None
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


def _wechat(data: bytes, page: str) -> RawDoc | None:
    """WeChat public-account article (saved page or mp.weixin.qq.com): body in #js_content,
    title in #activity-name / og:title, account name in #js_name, time in #publish_time or `var ct`."""
    if 'id="js_content"' not in page and "mp.weixin.qq.com" not in page[:5000]:
        return None
    from lxml import html as lhtml
    try:
        tree = lhtml.fromstring(page)
    except Exception:  # noqa: BLE001 - fall back to the generic extractor
        return None
    body = tree.xpath('//*[@id="js_content"]')
    if not body:
        return None
    for bad in body[0].xpath(".//script|.//style"):
        bad.drop_tree()
    blocks = []
    for el in body[0].iter("p", "section", "h1", "h2", "h3", "h4", "li", "blockquote"):
        if el.tag == "section" and el.xpath(".//p|.//section"):
            continue  # a wrapper: its children are read on their own
        t = " ".join(el.text_content().split())
        if t and (not blocks or blocks[-1] != t):
            blocks.append(t)
    if not blocks:
        return None

    def first(xp: str) -> str | None:
        v = tree.xpath(xp)
        v = (v[0] if isinstance(v[0], str) else v[0].text_content()).strip() if v else ""
        return v or None

    title = first('//*[@id="activity-name"]') or first('//meta[@property="og:title"]/@content') or first("//title")
    account = first('//*[@id="js_name"]') or first('//meta[@property="og:site_name"]/@content')
    m = re.search(r'var\s+nickname\s*=\s*(?:htmlDecode\()?"([^"]+)"', page)
    account = account or (m.group(1) if m else None)
    date = first('//*[@id="publish_time"]')
    if not date:
        m = re.search(r'var\s+ct\s*=\s*"(\d{9,10})"', page)
        if m:
            import datetime as dt
            date = dt.datetime.fromtimestamp(int(m.group(1)), dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d")
    url = first('//meta[@property="og:url"]/@content')
    author = first('//meta[@name="author"]/@content')
    return RawDoc(text="\n".join(blocks), content_hash=_hash(data), kind="wechat", title=title, author=author,
                  date=date, url=url, source=account, meta={"platform": "wechat"})


def _meta_author(page: str) -> str | None:
    """<meta name="author">, which trafilatura drops when the name is in Chinese characters."""
    m = re.search(r"<meta\s+[^>]*(?:name|property)=[\"'](?:author|article:author)[\"'][^>]*>", page[:200000], re.I)
    if m:
        c = re.search(r"content=[\"']([^\"']{1,80})[\"']", m.group(0), re.I)
        if c and c.group(1).strip() and not c.group(1).startswith("http"):
            import html
            return html.unescape(c.group(1).strip())
    return None


def _pdf(data: bytes) -> RawDoc:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError
    import io
    try:
        r = PdfReader(io.BytesIO(data))
        if r.is_encrypted and not r.decrypt(""):
            raise ReadError("encrypted PDF: it needs a password")
        pages = [(p.extract_text() or "").strip() for p in r.pages]
        info = r.metadata or {}
    except ReadError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as e:
        raise ReadError(f"not a readable PDF ({type(e).__name__}: {str(e)[:80]})") from None
    except Exception as e:  # noqa: BLE001 - pypdf raises many kinds on broken files
        raise ReadError(f"not a readable PDF ({type(e).__name__})") from None
    if not any(pages):
        raise ReadError("PDF has no text layer (scanned pages?); it needs OCR first")
    text = f"\n{PAGE_MARK}\n".join(pages)
    # The file's creation time is when someone saved it, not when the text was published: kept
    # in the metadata, never taken as the article's date.
    meta = {"page_count": len(pages)}
    raw_date = info.get("/CreationDate") if hasattr(info, "get") else None
    if isinstance(raw_date, str) and re.match(r"D:\d{8}", raw_date):
        meta["file_created"] = f"{raw_date[2:6]}-{raw_date[6:8]}-{raw_date[8:10]}"
    title = _pdf_str(info, "/Title")
    if title and _PLACEHOLDER_TITLE.match(title):
        title = None
    if not title:  # its first line, when it reads like a heading
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        title = first if 0 < len(first) <= 80 and not re.search(r"[。.!?！？]$", first) else None
    return RawDoc(text=text, content_hash=_hash(data), kind="pdf", title=title, author=_pdf_str(info, "/Author"),
                  date=None, meta=meta)


# Titles that PDF producers fill in when the author gave none.
_PLACEHOLDER_TITLE = re.compile(r"^\s*(untitled|无标题|document\d*|microsoft (word|powerpoint) - .*|.*\.(docx?|pptx?|xlsx?|pdf))\s*$",
                                re.I)


def _pdf_str(info, key: str) -> str | None:
    """A PDF metadata entry as text (None when missing or not a string: ``/Title 5`` happens)."""
    v = info.get(key) if hasattr(info, "get") else None
    return v.strip() or None if isinstance(v, str) else None


def _docx(data: bytes) -> RawDoc:
    import io
    import zipfile
    try:
        from docx import Document
        d = Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ReadError(f"not a valid DOCX file ({type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001
        raise ReadError(f"not a valid DOCX file ({type(e).__name__})") from None
    lines, title = [], None
    for p in d.paragraphs:
        t = p.text.strip()
        if not t:
            continue
        style = (p.style.name or "").lower() if p.style is not None else ""
        if title is None and (style == "title" or style == "heading 1") and not lines:
            title = t
            continue
        lines.append(t)  # every paragraph, heading or not, is its own line: headings end paragraphs
    cp = d.core_properties
    return RawDoc(text="\n".join(lines), content_hash=_hash(data), kind="docx", title=cp.title or title or None,
                  author=cp.author or None)


def _epub(path: Path, data: bytes) -> RawDoc:
    try:
        import ebooklib
        from ebooklib import epub
        from lxml import html as lhtml
        book = epub.read_epub(str(path), options={"ignore_ncx": True})
    except Exception as e:  # noqa: BLE001
        raise ReadError(f"not a valid EPUB file ({type(e).__name__})") from None
    chapters = []
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        try:
            tree = lhtml.fromstring(item.get_content())
        except Exception:  # noqa: BLE001 - skip an unreadable chapter, keep the rest
            continue
        for bad in tree.xpath("//script|//style"):
            bad.drop_tree()
        blocks = [" ".join(el.text_content().split()) for el in tree.xpath("//h1|//h2|//h3|//h4|//p|//li|//blockquote")]
        chapters.append("\n".join(b for b in blocks if b))
    meta = lambda k: (book.get_metadata("DC", k) or [[None]])[0][0]  # noqa: E731
    return RawDoc(text="\n\n".join(c for c in chapters if c), content_hash=_hash(data), kind="epub",
                  title=meta("title"), author=meta("creator"), date=meta("date"))


def read_file(path: Path) -> RawDoc:
    """Read one article file. Raises ReadError with the reason when it cannot."""
    ext = path.suffix.lower()
    data = read_bytes(path)
    if not data.strip():
        raise ReadError("empty file")
    if ext == ".pdf":
        return _pdf(data)
    if ext == ".docx":
        return _docx(data)
    if ext == ".epub":
        return _epub(path, data)
    text, enc = decode(data)
    if ext in HTML_EXT or (ext not in TEXT_EXT and re.match(r"\s*(<!doctype html|<html)", text[:512], re.I)):
        doc = read_html(data, text)
    elif ext in (".md", ".markdown"):
        body, title = _markdown_to_text(text)
        doc = RawDoc(text=body, content_hash=_hash(data), kind="markdown", title=title)
    else:
        doc = RawDoc(text=text, content_hash=_hash(data), kind="text")
    doc.meta["encoding"] = enc
    return doc
