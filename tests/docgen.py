"""Small real documents made by the tests themselves: PDF (text layer, by hand-written PDF
syntax, then pypdf for encryption and blank pages), DOCX (python-docx), EPUB (ebooklib)."""
from __future__ import annotations

import io
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
