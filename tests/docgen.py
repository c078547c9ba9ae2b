"""Small real documents made by the tests themselves: PDF (text layer, by hand-written PDF
syntax, then pypdf for encryption and blank pages), DOCX (python-docx), EPUB (ebooklib)."""
from __future__ import annotations

import io
import re
from pathlib import Path


def pdf_bytes(pages: list[str], title: str | None = None) -> bytes:
    """A PDF with one text line per page (Helvetica), readable by any PDF text extractor."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1")
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode('latin-1')}\nendstream")
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                    f"/Contents {len(objs)} 0 R >>")
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    info = None
    if title:
        objs.append(f"<< /Title ({title}) /Author (Test Author) /CreationDate (D:20230912000000) >>")
        info = len(objs)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    trailer = f"<< /Size {len(objs) + 1} /Root 1 0 R" + (f" /Info {info} 0 R" if info else "") + " >>"
    out.write(f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypted_pdf_bytes() -> bytes:
    from pypdf import PdfReader, PdfWriter
    w = PdfWriter()
    for p in PdfReader(io.BytesIO(pdf_bytes(["Secret report text on page one."]))).pages:
        w.add_page(p)
    w.encrypt(user_password="secret", owner_password="owner")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def blank_pdf_bytes() -> bytes:
    from pypdf import PdfWriter
    w = PdfWriter()
    w.add_blank_page(612, 792)
    w.add_blank_page(612, 792)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def write_docx(path: Path, title: str, sections: list[tuple[str, list[str]]]) -> Path:
    from docx import Document
    d = Document()
    d.core_properties.title = title
    d.core_properties.author = "李雷"
    import datetime as dt
    d.core_properties.created = dt.datetime(2021, 3, 4, 9, 30)
    d.core_properties.modified = dt.datetime(2022, 5, 6, 18, 0)
    d.add_heading(title, level=0)
    for heading, paras in sections:
        d.add_heading(heading, level=1)
        for p in paras:
            d.add_paragraph(p)
    d.save(str(path))
    return path


def write_epub(path: Path, title: str, chapters: list[tuple[str, str]]) -> Path:
    from ebooklib import epub
    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title(title)
    book.set_language("zh")
    book.add_author("韩梅梅")
    items = []
    for i, (head, body) in enumerate(chapters, 1):
        c = epub.EpubHtml(title=head, file_name=f"c{i}.xhtml", lang="zh")
        c.content = f"<html><body><h1>{head}</h1><p>{body}</p></body></html>"
        book.add_item(c)
        items.append(c)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = items
    epub.write_epub(str(path), book)
    return path


CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"  # Debian's fonts-noto-cjk (make browser-deps)


def _wrap(draw, text: str, font, width: int, indent: int) -> list[str]:
    """Lines of at most ``width`` pixels: Chinese breaks between any two characters, Latin at spaces."""
    tokens = re.findall(r"[A-Za-z0-9%.,;:'’\-()/]+ ?|\s|.", text)
    lines, cur = [], ""
    for t in tokens:
        limit = width - (indent if not lines else 0)
        if cur and draw.textlength(cur + t.rstrip(), font=font) > limit:
            lines.append(cur.rstrip())
            cur = t.lstrip()
        else:
            cur += t
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def page_image(paragraphs: list[str], font_path: str = CJK_FONT, size: int = 30, width: int = 1240,
               height: int = 1754, margin: int = 110, indent_chars: float = 2.0, rotate: float = 0.0,
               noise: float = 0.0, seed: int = 0, index: int = 0):
    """A page as a scanner or camera gives it (PIL image): ``paragraphs`` set in ``font_path`` at
    ``size`` pixels, the first line of each set in by ``indent_chars`` characters, a blank half
    line between paragraphs; then turned by ``rotate`` degrees and speckled with ``noise`` (the
    share of pixels flipped). Returns (image, the paragraphs as set: those that fit)."""
    import random

    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype(font_path, size, index=index)
    img = Image.new("L", (width, height), 255)
    d = ImageDraw.Draw(img)
    y, step, kept = margin, int(size * 1.6), []
    indent = int(size * indent_chars)
    for para in paragraphs:
        lines = _wrap(d, para, font, width - 2 * margin, indent)
        if y + step * len(lines) > height - margin:
            break
        for i, ln in enumerate(lines):
            d.text((margin + (indent if i == 0 else 0), y), ln, font=font, fill=0)
            y += step
        y += step // 2
        kept.append(para)
    if rotate:
        img = img.rotate(rotate, resample=Image.BICUBIC, expand=False, fillcolor=255)
    if noise:
        rnd = random.Random(seed)
        px = img.load()
        for _ in range(int(width * height * noise)):
            x, yy = rnd.randrange(width), rnd.randrange(height)
            px[x, yy] = 255 - px[x, yy]
    return img, kept


def scanned_pdf_bytes(pages) -> bytes:
    """An image-only PDF (no text layer), a page per PIL image, as a scanner writes one (150 dpi)."""
    buf = io.BytesIO()
    first, *rest = [p.convert("L") for p in pages]
    first.save(buf, format="PDF", save_all=True, append_images=rest, resolution=150)
    return buf.getvalue()


def printed_pdf(paragraphs: list[str], title: str = "", columns: int = 1, header: str = "", footer: bool = True,
                font_px: int = 15, lang: str = "zh", hyphens: bool = False, chromium: str = "/usr/bin/chromium") -> bytes:
    """A PDF as a browser prints a web page (Debian's Chromium through Playwright: a real text
    layer, lines broken where the printer broke them; its CJK font maps some characters to
    Kangxi radicals): ``paragraphs`` under ``title`` in ``columns`` columns, a running ``header``
    and, with ``footer``, a page number on every page (A4)."""
    import html as h

    from playwright.sync_api import sync_playwright
    body = (f"<h1>{h.escape(title)}</h1>" if title else "") + "<div class='cols'>" + "".join(
        f"<p>{h.escape(p)}</p>" for p in paragraphs) + "</div>"
    cols = f" .cols{{column-count: {columns}; column-gap: 2.5em}}" if columns > 1 else ""
    page_html = (f"<html lang='{lang}'><head><meta charset='utf-8'><style>body{{font: {font_px}px/1.6 'Noto Sans CJK SC', sans-serif;"
                 f" text-align: justify; hyphens: {'auto' if hyphens else 'manual'}}}{cols}"
                 f" h1{{font-size: 1.6em}}"
                 f" p{{margin: 0 0 0.8em}}</style></head><body>{body}</body></html>")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        pg = b.new_page()
        pg.set_content(page_html)
        small = "font-size: 9px; width: 100%; padding: 0 1.5cm; font-family: 'Noto Sans CJK SC', sans-serif;"
        data = pg.pdf(format="A4", margin={"top": "2cm", "bottom": "2cm", "left": "1.8cm", "right": "1.8cm"},
                      display_header_footer=bool(header or footer),
                      header_template=f"<div style=\"{small}\">{h.escape(header)}</div>" if header else "<span></span>",
                      footer_template=(f"<div style=\"{small} text-align: center\"><span class='pageNumber'></span></div>"
                                       if footer else "<span></span>"))
        b.close()
    return data
