"""Turn a file into text plus whatever metadata the format carries.

Text files are decoded by trying UTF-8 first (a clean UTF-8 decode is unambiguous), then
charset-normalizer limited to the encodings Chinese and English articles come in; HTML goes
through trafilatura's main-content extraction. Every failure is a ReadError naming the reason.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from kb.errors import ReadError
from kb.writing import ArticleFields

from .layout import Line, ends_full, join_lines, layout, running_lines, starts_flush

MAX_BYTES = 20 * 1024 * 1024      # an article, or a long book; beyond this is not one article
MAX_TEXT_CHARS = 2_000_000  # about a 1,000-page book; embedding more as one article takes hours
# Limits checked before the expensive work, so a small hostile file costs seconds, not minutes
# (docs/reliability.md: "Limits"). Each is well above what a real article or book needs.
MAX_UNPACKED_BYTES = 100 * 2**20  # DOCX/EPUB: all entries together, uncompressed (zip bombs)
MAX_ARCHIVE_ENTRIES = 10_000      # DOCX/EPUB: files in the archive
MAX_XML_ELEMENTS = 500_000        # DOCX/EPUB: elements in its XML and XHTML (about 1 s of parsing, ~200 MB)
MAX_HTML_ELEMENTS = 30_000        # HTML page: elements (trafilatura: ~0.2 ms each; a long article has a few thousand)
MAX_PDF_PAGES = 3_000             # PDF: pages (text extraction: ~10-50 ms each)
MAX_REGEX_LINE = 10_000           # Markdown: longer lines are kept as they are, not parsed for syntax
TEXT_EXT = {".txt", ".md", ".markdown", ".text"}
HTML_EXT = {".html", ".htm", ".xhtml"}
DOC_EXT = {".pdf", ".docx", ".epub"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}  # pages as images: read by OCR (ingest.ocr)
SUPPORTED = TEXT_EXT | HTML_EXT | DOC_EXT | IMAGE_EXT
PAGE_MARK = "\ue000"  # where a page begins (a line of its own, or inside a paragraph that runs on); clean_text
                       # turns it into page offsets

# Chinese first: GB18030 is a superset of GBK/GB2312; Big5 for Traditional text.
_CANDIDATE_ENCODINGS = ["utf_8", "gb18030", "big5", "utf_16", "cp1252", "latin_1", "shift_jis", "euc_kr"]


@dataclass(kw_only=True)
class RawDoc(ArticleFields):
    """What a reader makes of a file or page: its text as read and the fields it found."""
    text: str
    content_hash: str
    kind: str                      # 'text', 'markdown', 'html', 'pdf', …


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
        found = _utf16_without_bom(data)  # (English UTF-16: every other byte a NUL)
        if found is not None:
            return found
        raise ReadError("binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        if e.start >= len(data) - 3 and e.end == len(data):  # cut off inside the last character
            return data[:e.start].decode("utf-8", errors="replace"), "utf-8 (truncated)"
    found = _utf16_without_bom(data)  # (Chinese UTF-16 has NULs only where ASCII is: few or none)
    if found is not None:
        return found
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


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text without a byte-order mark, recognised by its byte pattern: decoded in one of
    the two byte orders, nearly all of it (95%) is characters an article holds — Chinese,
    Latin, punctuation, whitespace. (English UTF-16 has a NUL in every other byte — the odd ones
    little-endian, the even ones big-endian; Chinese has NULs only where ASCII or a character
    like 需 U+9700 is, so the NULs alone cannot tell.) None when it is not that."""
    n = len(data) - len(data) % 2
    if n < 4:
        return None
    best = None
    for enc in ("utf-16-le", "utf-16-be"):
        try:
            sample = data[:min(n, 16384)].decode(enc)
        except UnicodeDecodeError:  # (a lone surrogate: not this order, or a pair cut at 16 KB)
            sample = data[:min(n, 16384)].decode(enc, errors="replace")
        share = _text_share(sample)
        if share >= 0.95 and (best is None or share > best[0]):
            best = (share, enc)
    if best is None:
        return None
    name = best[1].upper().replace("-LE", " LE").replace("-BE", " BE")
    return data[:n].decode(best[1], errors="replace"), f"{name} (no BOM)"


# Where an article's characters lie: ASCII text, Latin letters, general and CJK punctuation,
# CJK ideographs (extension A and the unified block) and full-width forms.
_TEXT_RANGES = ((0x20, 0x7F), (0xA0, 0x250), (0x2000, 0x2070), (0x3000, 0x3040), (0x3400, 0x4DC0), (0x4E00, 0xA000),
                (0xFF00, 0xFFF0))


def _text_share(text: str) -> float:
    if not text:
        return 0.0
    ok = sum(1 for ch in text if ch in "\t\n\r" or any(lo <= ord(ch) < hi for lo, hi in _TEXT_RANGES))
    return ok / len(text)


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


# Each of these scans a line in linear time: no nested or overlapping quantifiers (a link text
# cannot hold a bracket, a heading is split by string operations, not a regular expression).
_MD_LINK = re.compile(r"!\[[^\[\]\n]*\]\([^()\n]*\)|\[([^\[\]\n]+)\]\([^()\n]*\)")
_MD_MARK = re.compile(r"(\*\*|__|`{1,3})")
_MD_ITEM = re.compile(r"(?:[-*+]|\d{1,9}[.)])[ \t]+")
_MD_RULE = re.compile(r"([-*_=])\1{2,}")


def _heading(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading line (``## Text ##``), else None."""
    body = line.lstrip(" ")
    if len(line) - len(body) > 3 or not body.startswith("#"):
        return None
    level = len(body) - len(body.lstrip("#"))
    rest = body[level:]
    if level > 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip()
    closing = text.rstrip("#")
    if closing != text and (not closing or closing[-1] in " \t"):  # a closing run of #s
        text = closing.rstrip()
    return level, text


def _markdown_to_text(md: str) -> tuple[str, str | None]:
    """Markdown to plain lines: headings stay as their own lines (paragraph boundaries), link
    text kept, images and emphasis markers dropped. Returns (text, first H1 as title). Lines
    over MAX_REGEX_LINE characters are kept as they are."""
    title = None
    lines = []
    for line in md.split("\n"):
        if len(line) > MAX_REGEX_LINE:
            lines.append(line)
            continue
        h = _heading(line)
        if h:
            if title is None and h[0] == 1:
                title = h[1]
                continue
            line = h[1]
        body = line.lstrip()
        if len(line) - len(body) <= 3 and (m := _MD_ITEM.match(body)):
            line = body[m.end():]
        body = line.lstrip()
        if body.startswith(">"):
            line = body[2:] if body[1:2] == " " else body[1:]
        if _MD_RULE.fullmatch(line.strip()):
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


def _count_tags(text: str) -> int:
    """Start tags in markup (a fast over-count: every '<' followed by a letter)."""
    return len(_TAG_START.findall(text))


_TAG_START = re.compile(r"<[A-Za-z]")


def _check_html_size(text: str) -> None:
    n = _count_tags(text)
    if n > MAX_HTML_ELEMENTS:
        raise ReadError(f"HTML page has {n:,} elements, over the {MAX_HTML_ELEMENTS:,} limit (not one article page)")


def _html(data: bytes, text: str) -> RawDoc:
    _check_html_size(text)
    try:
        import trafilatura
    except ImportError as e:  # pragma: no cover
        raise ReadError(f"HTML needs trafilatura ({e})") from None
    # trafilatura's deduplication counts the text it has seen across every page of the process, and
    # drops a paragraph seen a few times: the fourth ingest of a page in one process (the app, the
    # API, a test session) lost its body. Repeats within this page are all it should judge.
    from trafilatura.deduplication import LRU_TEST
    LRU_TEST.clear()
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
    _check_html_size(page)
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
    # (bounded: an unclosed <meta repeated thousands of times must not make this quadratic)
    m = re.search(r"<meta\s[^<>]{0,500}?(?:name|property)=[\"'](?:author|article:author)[\"'][^<>]{0,500}>",
                  page[:200000], re.I)
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
    if (n := len(_PDF_PAGE.findall(data))) > MAX_PDF_PAGES:  # (before the reader parses every object)
        raise ReadError(f"PDF has {n:,} pages, over the {MAX_PDF_PAGES:,} limit for one article (split it into parts)")
    try:
        r = PdfReader(io.BytesIO(data))
        if r.is_encrypted and not r.decrypt(""):
            raise ReadError("encrypted PDF: it needs a password")
        count = _pdf_page_count(r, data)
        if count > MAX_PDF_PAGES:
            raise ReadError(f"PDF has {count:,} pages, over the {MAX_PDF_PAGES:,} limit for one article (split it into parts)")
        laid = _pdf_laid_out(data, count)  # paragraphs as printed (PDFium's lines and boxes)
        pages, runs_on = laid if laid is not None else (None, None)
        if pages is None:  # (a file PDFium will not open: pypdf's text, a line as it comes)
            pages, chars = [], 0
            for p in r.pages:
                pages.append((p.extract_text() or "").strip())
                chars += len(pages[-1])
                _check_chars(chars, len(pages), count)
        try:
            info = r.metadata or {}
        except Exception:  # noqa: BLE001 - unreadable metadata: the text is still the article
            info = {}
    except ReadError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as e:
        raise ReadError(f"not a readable PDF ({type(e).__name__}: {str(e)[:80]})") from None
    except Exception as e:  # noqa: BLE001 - pypdf raises many kinds on broken files
        raise ReadError(f"not a readable PDF ({type(e).__name__})") from None
    meta = {"page_count": len(pages)}
    scanned = [i for i, t in enumerate(pages) if not _usable(t)]
    if scanned:  # pages without a text layer (scans), or with one that holds no words: read by OCR
        read = _ocr_pdf_pages(data, scanned, len(pages))
        for i, page in read.items():
            pages[i] = page.text()
            if runs_on is not None:
                runs_on[i] = i + 1 < len(pages) and ends_full(page.lines) and (i + 1 not in read or starts_flush(read[i + 1].lines))
                if i > 0:
                    runs_on[i - 1] = runs_on[i - 1] and starts_flush(page.lines)
        if read:
            meta["ocr"] = _ocr_meta(read.values(), [i + 1 for i in read])
    if not any(pages):
        raise ReadError(f"PDF has no text layer, and OCR found no text on its {_n(len(pages), 'page')}")
    text = join_pages(pages, runs_on)
    # The file's creation time is when someone saved it, not when the text was published: kept
    # in the metadata, never taken as the article's date.
    raw_date = _pdf_str(info, "/CreationDate")
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


def _check_chars(chars: int, page: int, count: int) -> None:
    if chars > MAX_TEXT_CHARS:
        raise ReadError(f"PDF has over {MAX_TEXT_CHARS // 1_000_000} M characters of text by page {page} of "
                        f"{count}, over the limit for one article (split it into parts)")


def _pdf_laid_out(data: bytes, count: int) -> tuple[list[str], list[bool]] | None:
    """Each page's text with its paragraphs as printed (``ingest.layout``): PDFium's lines and
    their character boxes, running heads, footers and page numbers dropped. None when PDFium
    cannot open the file or counts its pages differently (the caller falls back to pypdf)."""
    try:
        import pypdfium2 as pdfium
        doc = pdfium.PdfDocument(data)
    except Exception:  # noqa: BLE001 - PDFium refuses what pypdf read: pypdf's text then
        return None
    try:
        if len(doc) != count:
            return None
        lines, heights, chars = [], [], 0
        for i in range(count):
            page_lines, h, n = _pdfium_lines(doc, i)
            lines.append(page_lines)
            heights.append(h)
            chars += n
            _check_chars(chars, i + 1, count)
    except ReadError:
        raise
    except Exception:  # noqa: BLE001 - a page PDFium cannot read: pypdf's text for the file
        return None
    finally:
        doc.close()
    drop = running_lines(lines, heights)
    out, kept_lines = [], []
    for page_lines, gone in zip(lines, drop):
        kept = [ln for k, ln in enumerate(page_lines) if k not in gone]
        kept_lines.append(kept)
        out.append("\n".join(join_lines([ln.text for ln in p]) for p in layout(kept)))
    return out, [ends_full(a) and starts_flush(b) for a, b in zip(kept_lines, kept_lines[1:])] + [False]


_GENERATED_SPACE = re.compile("\x01+")
_CJK_EDGE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")  # (a made-up space beside a Chinese character is dropped)


def _pdfium_lines(doc, i: int):
    """(lines of page ``i`` with their boxes, the page's height, characters read) from PDFium's
    text page: its line breaks (the characters it generates) split lines, and a line's box is the
    union of its printed characters' boxes (top-down coordinates, points)."""
    import pypdfium2.raw as raw

    page = doc[i]
    tp = page.get_textpage()
    try:
        _, height = page.get_size()
        n = tp.count_chars()
        out, text, box = [], [], None

        def flush():
            t = _GENERATED_SPACE.sub(lambda m: "" if _CJK_EDGE.match(m.string[m.start() - 1:m.start()] or "a")
                                     or _CJK_EDGE.match(m.string[m.end():m.end() + 1] or "a") else " ", "".join(text)).strip()
            if t and box is not None:
                out.append(Line(t, (box[0], height - box[3], box[2], height - box[1])))
        for k in range(n):
            ch = chr(raw.FPDFText_GetUnicode(tp.raw, k) or 0xFFFD)
            if ch in "\r\n":
                flush()
                text, box = [], None
                continue
            if ch == "\x00" or ch == "\ufffe":
                continue
            text.append(ch)
            if ch.isspace():
                if raw.FPDFText_IsGenerated(tp.raw, k) == 1:
                    text[-1] = "\x01"  # (a space PDFium made up from a gap: kept only between Latin words, below)
                continue
            l, b, r, t = tp.get_charbox(k, loose=True)  # (loose: the font's full height, the same on every line)
            if box is not None and r > l and t > b and not box[1] <= (b + t) / 2 <= box[3]:
                # a character below (or above) the line so far: a new printed line PDFium gave no break for
                # (it joined "…on 20 December" and "1990. The first…" into one)
                last = text.pop()
                flush()
                text, box = [last], None
            if r > l and t > b:
                box = (l, b, r, t) if box is None else (min(box[0], l), min(box[1], b), max(box[2], r), max(box[3], t))
        flush()
        return out, height, n
    finally:
        tp.close()
        page.close()


_RUNS_ON = re.compile(r"[^\s。！？!?…”’」』)）.:：;；]$")


def join_pages(pages: list[str], runs_on: list[bool] | None = None) -> str:
    """Pages' texts (a line per paragraph) as one text with PAGE_MARK where each page begins: on a
    line of its own, or — when a page's last paragraph stops without a sentence's end at the
    right margin and the next page starts flush left (``runs_on[i]``: page i runs on to i + 1,
    from the layout) — inside that paragraph, which stays one paragraph."""
    out = ""
    for i, page in enumerate(pages):
        page = page.strip("\n")
        if i == 0:
            out = page
        elif out and page and runs_on and runs_on[i - 1] and _RUNS_ON.search(out):
            last_nl = out.rfind("\n") + 1
            first, _, rest = page.partition("\n")
            joined = join_lines([out[last_nl:], first])  # (ends with the next page's first line, whatever the join)
            at = len(joined) - len(first.strip())
            out = out[:last_nl] + joined[:at] + PAGE_MARK + joined[at:] + ("\n" + rest if rest else "")
        else:
            out += f"\n{PAGE_MARK}\n" + page
    return out


def _n(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")


_WORD_CHAR = re.compile(r"[A-Za-z0-9\u3400-\u9fff\uf900-\ufaff\u2f00-\u2fdf\u00c0-\u024f]")


def _usable(page_text: str) -> bool:
    """Whether a page's text layer holds words: at least a few letters or ideographs, and not
    mostly private-use or replacement characters (fonts without a character map)."""
    words = len(_WORD_CHAR.findall(page_text))
    junk = sum(1 for ch in page_text if ch == "\ufffd" or "\ue000" <= ch <= "\uf8ff")
    return words >= 3 and junk < words


def _ocr_pdf_pages(data: bytes, which: list[int], count: int) -> dict:
    """{page index: ingest.ocr.Page} for the pages ``which`` (indexes), rendered by PDFium at
    the OCR size; a page that renders blank is left out (nothing to read)."""
    from . import ocr
    if len(which) > ocr.MAX_OCR_PAGES:
        raise ReadError(f"PDF has {_n(len(which), 'page')} without a text layer, over the {ocr.MAX_OCR_PAGES} "
                        "pages OCR reads in one article (split it into parts)")
    try:
        import pypdfium2 as pdfium
        doc = pdfium.PdfDocument(data)
    except Exception as e:  # noqa: BLE001 - PDFium refuses what pypdf read: the scan cannot be rendered
        raise ReadError(f"PDF pages without text cannot be rendered for OCR ({type(e).__name__}: {str(e)[:80]})") from None
    out = {}
    try:
        if len(doc) != count:
            raise ReadError(f"PDF page count differs between readers ({len(doc)} and {count}): a damaged file")
        for i in which:
            img = render_page(doc, i)
            if img.convert("L").getextrema()[0] > 200:  # (nothing dark on it: a blank page)
                continue
            page = ocr.read_image(img, i + 1)
            if page.paragraphs:
                out[i] = page
    finally:
        doc.close()
    return out


def render_page(doc, i: int, side: int | None = None):
    """Page ``i`` (0-based) of a pypdfium2 document as a PIL image, its long side ``side`` pixels
    (default: the OCR size); the page's size in points bounds the work, whatever the file claims."""
    from . import ocr
    page = doc[i]
    try:
        w, h = page.get_size()
        if not (1 <= w <= 20_000 and 1 <= h <= 20_000):
            raise ReadError(f"PDF page {i + 1} has an impossible size ({w:.0f} × {h:.0f} points)")
        scale = (side or ocr.OCR_SIDE) / max(w, h)
        return page.render(scale=scale, grayscale=True).to_pil()
    finally:
        page.close()


def _ocr_meta(pages, numbers: list[int]) -> dict:
    """What an article read by OCR records: which pages, how sure the recognizer was, how long it took."""
    from . import ocr
    pages = list(pages)
    c = ocr.confidence(pages)
    return {"pages": numbers, "confidence": round(c, 4) if c is not None else None,
            "seconds": round(sum(p.seconds for p in pages), 1), "engine": "RapidOCR PP-OCRv6"}


def _image(data: bytes) -> RawDoc:
    """A photo or scan of a page (PNG, JPEG, WebP, TIFF — each frame of a TIFF a page), read by OCR."""
    import io

    from PIL import Image, ImageSequence, UnidentifiedImageError

    from . import ocr
    try:
        im = Image.open(io.BytesIO(data))
        w, h = im.size
        if w * h > ocr.MAX_PIXELS:
            raise ReadError(f"image is {w:,} × {h:,} pixels, over the {ocr.MAX_PIXELS / 1e6:.0f} M pixel limit")
        frames = getattr(im, "n_frames", 1)
        if frames > ocr.MAX_OCR_PAGES:
            raise ReadError(f"image holds {frames:,} pages, over the {ocr.MAX_OCR_PAGES} pages OCR reads in one article")
        pages = []
        for n, frame in enumerate(ImageSequence.Iterator(im), 1):
            if frame.size[0] * frame.size[1] > ocr.MAX_PIXELS:
                raise ReadError(f"image page {n} is over the {ocr.MAX_PIXELS / 1e6:.0f} M pixel limit")
            frame.load()
            pages.append(ocr.read_image(frame.copy(), n))
    except ReadError:
        raise
    except Image.DecompressionBombError as e:  # (Pillow refuses such a header itself, before our check)
        m = re.search(r"\((\d+) pixels\)", str(e))
        claims = f"{int(m.group(1)) / 1e6:,.0f} M" if m else "too many"
        raise ReadError(f"image claims {claims} pixels, over the {ocr.MAX_PIXELS / 1e6:.0f} M pixel limit") from None
    except UnidentifiedImageError as e:
        raise ReadError(f"not a readable image ({type(e).__name__})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # (Pillow's errors on truncated or damaged files)
        raise ReadError(f"not a readable image ({type(e).__name__}: {str(e)[:80]})") from None
    texts = [p.text() for p in pages]
    if not any(t.strip() for t in texts):
        raise ReadError(f"OCR found no text in this image ({_n(len(pages), 'page')})")
    text = join_pages(texts, [ends_full(a.lines) and starts_flush(b.lines) for a, b in zip(pages, pages[1:])])
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    title = first if 0 < len(first) <= 40 and not re.search(r"[。.!?！？，,；;：:]$", first) else None
    return RawDoc(text=text, content_hash=_hash(data), kind="image", title=title,
                  meta={"page_count": len(pages), "image": {"format": im.format, "size": [w, h]},
                        "ocr": _ocr_meta(pages, list(range(1, len(pages) + 1)))})


def _pdf_page_count(r, data: bytes) -> int:
    """The number of pages, cheaply and not to be lied to: the larger of what the page tree's root
    says (/Count) and the page objects in the file's plain bytes. (pypdf's own count builds the
    list of every page: 14 s for 100,000 pages.)"""
    try:
        declared = int(r.trailer["/Root"]["/Pages"]["/Count"])
    except Exception:  # noqa: BLE001 - no usable /Count: the bytes tell
        declared = 0
    return max(declared, len(_PDF_PAGE.findall(data)))


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")

# Titles that PDF producers fill in when the author gave none.
_PLACEHOLDER_TITLE = re.compile(r"^\s*(untitled|无标题|document\d*|microsoft (word|powerpoint) - .*|.*\.(docx?|pptx?|xlsx?|pdf)"
                                r"|about:blank|(?:https?|file)://\S*)\s*$", re.I)  # (a browser names a printed page by its URL)


def _pdf_str(info, key: str) -> str | None:
    """A PDF metadata entry as text (None when missing, unreadable or not a string: ``/Title 5``,
    ``/Author [..]`` and references to nothing happen)."""
    try:
        v = info.get(key) if hasattr(info, "get") else None
        return (v.strip()[:500] or None) if isinstance(v, str) else None
    except Exception:  # noqa: BLE001 - a broken metadata entry is no metadata
        return None


def check_archive(data: bytes, kind: str) -> None:
    """Refuse a DOCX or EPUB (a zip archive) whose unpacked size, number of files or number of
    XML elements is over the limits — measured by streaming its entries, before any parser
    builds a tree of them (a 100 KB file can unpack to millions of elements)."""
    import io
    import zipfile
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
        if len(infos) > MAX_ARCHIVE_ENTRIES:
            raise ReadError(f"{kind} holds {len(infos):,} files, over the {MAX_ARCHIVE_ENTRIES:,} limit")
        total = sum(i.file_size for i in infos)
        if total > MAX_UNPACKED_BYTES:
            raise ReadError(f"{kind} unpacks to {total / 2**20:,.0f} MB, over the {MAX_UNPACKED_BYTES // 2**20} MB limit")
        elements, unpacked = 0, 0
        for i in infos:
            markup = i.filename.lower().endswith((".xml", ".xhtml", ".html", ".htm", ".opf", ".ncx", ".rels"))
            with z.open(i) as f:
                while chunk := f.read(1 << 20):  # (the sizes in the directory can lie: count what comes out)
                    unpacked += len(chunk)
                    if unpacked > MAX_UNPACKED_BYTES:
                        raise ReadError(f"{kind} unpacks to over {MAX_UNPACKED_BYTES // 2**20} MB, over the limit")
                    if markup:
                        elements += chunk.count(b"<") - chunk.count(b"</") - chunk.count(b"<?") - chunk.count(b"<!")
                        if elements > MAX_XML_ELEMENTS:
                            raise ReadError(f"{kind} has over {MAX_XML_ELEMENTS:,} XML elements, over the limit "
                                            f"(an archive bomb, or far more than one article)")
    except ReadError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as e:
        raise ReadError(f"not a valid {kind} file ({type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - zlib and zipfile raise many kinds on damaged archives
        raise ReadError(f"not a valid {kind} file ({type(e).__name__})") from None


def _docx(data: bytes) -> RawDoc:
    import io
    import zipfile
    check_archive(data, "DOCX")
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
    # Core properties: title and author; created / modified are when someone saved the file, not
    # when the text was published, so they are kept in the metadata, never as the article's date.
    meta, cp_title, cp_author = {}, None, None
    try:
        cp = d.core_properties
        cp_title, cp_author = cp.title, cp.author
        for key, when in (("file_created", cp.created), ("file_modified", cp.modified)):
            if hasattr(when, "strftime") and 1900 < when.year < 2200:
                meta[key] = when.strftime("%Y-%m-%d")
    except Exception:  # noqa: BLE001 - damaged document properties: the text is still the article
        pass
    cp_title = cp_title.strip()[:500] if isinstance(cp_title, str) and not _PLACEHOLDER_TITLE.match(cp_title) else None
    return RawDoc(text="\n".join(lines), content_hash=_hash(data), kind="docx", title=cp_title or title or None,
                  author=(cp_author.strip()[:500] if isinstance(cp_author, str) else None) or None, meta=meta)


def _epub(path: Path, data: bytes) -> RawDoc:
    check_archive(data, "EPUB")
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
        if item is None:
            raise ReadError(f"EPUB reading order names a chapter {str(item_id)[:80]!r} the book does not hold; "
                            "nothing of this book was stored")
        if item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        try:
            # The bytes as stored (ebooklib's get_content() re-parses a chapter, losing what its parser drops)
            content = _xhtml_text(item.content if isinstance(getattr(item, "content", None), bytes) else item.get_content())
            if not content.strip():
                continue  # an empty chapter file: nothing to lose
            tree = lhtml.fromstring(content)
        except Exception as e:  # noqa: BLE001 - a book is not stored with a chapter silently missing
            if not _markup_chars(content):
                continue  # (nothing but markup and comments: "Document is empty")
            raise ReadError(f"EPUB chapter {item.get_name()!r} cannot be read ({type(e).__name__}); "
                            "nothing of this book was stored") from None
        raw, got = _markup_chars(content), len("".join(tree.text_content().split()))
        if raw > 200 and got < 0.9 * raw:  # the parser gave up part-way (libxml2 stops at 256 levels of nesting)
            raise ReadError(f"EPUB chapter {item.get_name()!r}: only {got:,} of its {raw:,} characters of text could be "
                            "read (nested too deeply?); nothing of this book was stored")
        for bad in tree.xpath("//script|//style"):
            bad.drop_tree()
        blocks = [" ".join(el.text_content().split()) for el in tree.xpath("//h1|//h2|//h3|//h4|//p|//li|//blockquote")]
        body = tree.find("body") if tree.find("body") is not None else tree
        if sum(len(b.replace(" ", "")) for b in blocks) < 0.9 * len("".join(body.text_content().split())):
            blocks = _lines(body)  # text outside paragraphs (in <div>s, or loose in <body>): kept, a line per block
        chapters.append("\n".join(b for b in blocks if b))
    def meta(k: str) -> str | None:
        v = (book.get_metadata("DC", k) or [[None]])[0][0]
        return v.strip()[:500] or None if isinstance(v, str) else None

    return RawDoc(text="\n\n".join(c for c in chapters if c), content_hash=_hash(data), kind="epub",
                  title=meta("title"), author=meta("creator"), date=meta("date"))


def _lines(el) -> list[str]:
    """An element's text, a line per block-level element."""
    for b in el.iter("p", "div", "section", "article", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr",
                     "blockquote", "pre", "dd", "dt"):
        b.tail = "\n" + (b.tail or "")
    return [" ".join(ln.split()) for ln in el.text_content().split("\n")]


def _xhtml_text(content: bytes) -> str:
    """An EPUB chapter's text: XHTML is UTF-8 unless its XML declaration names another encoding
    (the declaration is dropped: lxml takes no declaration in a str)."""
    m = _XML_DECL.match(content)
    e = re.search(rb"encoding=[\"']([\w.:-]+)", m.group(0)) if m else None
    enc = e.group(1).decode("ascii") if e else "utf-8"
    try:
        text = content.decode(enc, errors="replace")
    except LookupError:
        text = content.decode("utf-8", errors="replace")
    return _XML_DECL_STR.sub("", text, count=1)


_XML_DECL = re.compile(rb"\s*<\?xml[^<>]{0,400}\?>")
_XML_DECL_STR = re.compile(r"^\s*<\?xml[^<>]{0,400}\?>")


def _markup_chars(content: str) -> int:
    """Characters of text in markup, tags and whitespace left out (a linear scan: a tag cannot
    hold '<'), to check a parser's result against."""
    import html
    return len("".join(html.unescape(_TAG.sub(" ", content)).split()))


_TAG = re.compile(r"<[^<>]*>")


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
    if ext in IMAGE_EXT:
        return _image(data)
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
