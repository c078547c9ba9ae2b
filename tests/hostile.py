"""A catalogue of hostile and broken inputs, each with the outcome ingest must give.

``build(folder)`` writes them and returns ``[(file name, expected)]`` where expected is "ok"
(ingested, with a phrase its text must contain) or "fail" (with a phrase the one-line reason
must contain). Generated at test time: some are large, some cannot live in git.
"""
from __future__ import annotations

import os
from pathlib import Path

from .docgen import blank_pdf_bytes, encrypted_pdf_bytes, pdf_bytes, write_docx, write_epub

ZH = "跨境电商卖家需要关注海外仓和物流成本。平台正在推出新的全托管服务。"


def build(d: Path) -> list[tuple[str, str, str]]:
    d.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, str, str]] = []

    def put(name: str, data: bytes, expect: str, phrase: str) -> None:
        (d / name).write_bytes(data)
        cases.append((name, expect, phrase))

    put("empty.txt", b"", "fail", "empty")
    put("whitespace.txt", b" \n\t\r\n \xe3\x80\x80\n", "fail", "empty")
    put("random-binary.txt", os.urandom(4096) + b"\x00" * 512, "fail", "binary")
    put("png-named.txt", b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(2000), "fail", "binary")
    put("jpeg-named.html", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(3000), "fail", "binary")
    put("truncated-utf8.txt", ("标题\n\n" + ZH + "截断").encode()[:-1], "ok", "全托管服务")
    put("gbk-named-utf8.utf8.txt", ("标题\n\n" + ZH).encode("gbk"), "ok", "海外仓和物流成本")
    put("mixed-encodings.txt", ("第一部分\n\n" + ZH + "\n").encode() + "第二部分是GBK编码的内容，说明物流成本上升。\n".encode("gbk"),
        "ok", "说明物流成本上升")
    put("nul-bytes.txt", ("标题\n\n跨境电商\x00卖家需要关注海外仓。" + "平台推出新服务。" * 20).encode(), "ok", "跨境电商卖家需要关注海外仓")
    put("control-chars.txt", ("标题\n\n\x01\x02跨境\x1b[31m电商\x07卖家。" + ZH).encode(), "ok", "全托管服务")
    put("only-punctuation.txt", "。。。！！！???...，，，\n\n！！".encode(), "fail", "no words")
    put("only-page-noise.txt", "扫码关注\n\n© 版权声明\n\n暂无评论\n\n立即登录\n".encode(), "fail", "no article text")
    put("bom-utf16.txt", ("标题\n\n" + ZH).encode("utf-16"), "ok", "全托管服务")
    put("big5.txt", "臺灣電商\n\n臺灣的電子商務市場持續成長，消費者越來越習慣網購。".encode("big5"), "ok", "電子商務市場")
    with open(d / "big-50mb.txt", "wb") as f:  # sparse-ish: written in chunks, never held in memory
        chunk = (ZH * 200).encode()
        for _ in range(50 * 2**20 // len(chunk) + 1):
            f.write(chunk)
    cases.append(("big-50mb.txt", "fail", "MB limit"))
    put("one-5mb-line.txt", b"x" * (5 * 2**20), "fail", "M limit")
    put("script-style-only.html", b"<html><head><style>p{color:red}</style><script>var a=1;</script></head>"
                                  b"<body><script>document.write('x')</script></body></html>", "fail", "no article text")
    put("deeply-nested.html", b"<html><body>" + b"<div>" * 20000 + ZH.encode() + b"</div>" * 20000 + b"</body></html>",
        "any", "")
    put("script-in-body.html", ("<html><head><title>脚本测试</title></head><body><article><h1>脚本测试</h1><p>" + ZH +
                                "</p><script>alert('pwned')</script><p>第二段说明跨境电商的物流成本继续上升。</p>"
                                "</article></body></html>").encode(), "ok", "物流成本继续上升")
    put("gbk-page.html", ('<html><head><meta charset="gbk"><title>GBK页面</title></head><body><article><h1>GBK页面</h1><p>'
                          + ZH + "</p><p>这是用GBK编码保存的网页，正文应当正确读出。</p></article></body></html>").encode("gbk"),
        "ok", "正文应当正确读出")
    put("html-as-txt.txt", ("<!doctype html><html><head><title>伪装</title></head><body><article><p>" + ZH +
                            "</p><p>这是一个扩展名为txt的网页。</p></article></body></html>").encode(), "ok", "扩展名为txt的网页")
    put("entity-bomb.html", b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
                            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><html><body><p>&lol3;</p></body></html>', "any", "")
    put("zero-byte.pdf", b"", "fail", "empty")
    put("encrypted.pdf", encrypted_pdf_bytes(), "fail", "encrypted")
    put("no-text-layer.pdf", blank_pdf_bytes(), "fail", "OCR")
    put("truncated.pdf", pdf_bytes(["Quarterly logistics costs rose again."])[:200], "fail", "PDF")
    put("good.pdf", pdf_bytes(["Quarterly logistics costs rose again in the third quarter."]), "ok", "logistics costs")
    put("corrupted.docx", b"PK\x03\x04" + os.urandom(500), "fail", "DOCX")
    write_docx(d / "good.docx", "报告", [("摘要", [ZH])])
    cases.append(("good.docx", "ok", "海外仓和物流成本"))
    put("name with\nnewline.txt", ("换行名\n\n" + ZH + "文件名里有换行。").encode(), "ok", "文件名里有换行")
    put("📰新闻😀.txt", ("表情名\n\n" + ZH + "文件名里有表情。").encode(), "ok", "文件名里有表情")
    put("\u202etxt.exe\u202c.txt", ("从右到左\n\n" + ZH + "文件名里有方向控制符。").encode(), "ok", "方向控制符")
    put("long-" + "名" * 70 + ".txt", ("长名字\n\n" + ZH + "文件名很长。").encode(), "ok", "文件名很长")
    put("unknown.epub", b"not an epub at all", "fail", "EPUB")
    # Round two (issue #20): small files that used to hang or blow up memory, and files with parts
    # that used to be dropped or crash the batch.
    put("heading-spaces.md", ("# 标题" + " " * 3000 + "尾\n\n" + ZH + "标题行很长。").encode(), "ok", "标题行很长")
    put("brackets.md", ("[" * 20000 + "\n\n" + ZH + "方括号很多。").encode(), "ok", "方括号很多")
    put("image-brackets.md", ("![" * 20000 + "\n\n" + ZH + "图片语法很多。").encode(), "ok", "图片语法很多")
    put("hashes.md", ("# " + "#" * 20000 + " x\n\n" + ZH + "井号很多。").encode(), "ok", "井号很多")
    put("meta-tags.html", (("<html><head>" + '<meta name="x" ' * 20000 + "</head><body><article><p>" + ZH +
                            "元标签没有结尾。</p></article></body></html>").encode()), "ok", "元标签没有结尾")
    put("docx-element-bomb.docx", zip_bytes({"[Content_Types].xml": b"<Types/>",
                                             "word/document.xml": b"<w:document>" + b"<w:p/>" * 2_000_000 + b"</w:document>"}),
        "fail", "XML elements")
    put("epub-element-bomb.epub", zip_bytes({"mimetype": b"application/epub+zip",
                                             "OEBPS/c1.xhtml": b"<html><body>" + b"<p/>" * 2_000_000 + b"</body></html>"}),
        "fail", "XML elements")
    put("unpacks-to-120mb.docx", zip_bytes({"[Content_Types].xml": b"<Types/>", "word/media/image1.png": b"\0" * (120 * 2**20)}),
        "fail", "unpacks to")
    put("100k-pages.pdf", many_pages_pdf(100_000), "fail", "pages, over the")
    put("150k-paragraphs.html", b"<html><body><article>" + ("<p>" + ZH + "</p>").encode() * 150_000 + b"</article></body></html>",
        "fail", "elements, over the")
    put("pdf-title-number.pdf", pdf_with_info(["Shipping costs in the fourth quarter fell again."], "/Title 5 /Author [1 (a) 2]"),
        "ok", "fourth quarter")
    put("pdf-info-not-dict.pdf", pdf_with_info(["Port congestion eased in the spring."], None, info_obj="42"), "ok", "Port congestion")
    put("epub-deep-chapter.epub", epub_bytes({"c1.xhtml": f"<html><body><p>{ZH}</p></body></html>".encode(),
                                              "c2.xhtml": ("<html><body>" + "<div>" * 5000 + ZH + "深处的文字。" * 100 +
                                                           "</div>" * 5000 + "</body></html>").encode()}), "fail", "could be read")
    put("epub-text-in-divs.epub", epub_bytes({"c1.xhtml": f"<html><body><p>{ZH}</p></body></html>".encode(),
                                              "c2.xhtml": f"<html><body><div>{ZH}</div><div>不在段落里的文字也要保留。</div>"
                                                          "</body></html>".encode()}), "ok", "不在段落里的文字也要保留")
    put("epub-missing-chapter.epub", epub_bytes({"c1.xhtml": f"<html><body><p>{ZH}</p></body></html>".encode()},
                                                spine_extra=["ghost"]), "fail", "does not hold")
    write_epub(d / "epub-comment-chapter.epub", "注释章", [("第一章", ZH + "只有注释的章节不算丢失。"), ("空章", "")])
    cases.append(("epub-comment-chapter.epub", "ok", "只有注释的章节不算丢失"))
    os.symlink("loop-b.txt", d / "loop-a.txt")
    os.symlink("loop-a.txt", d / "loop-b.txt")
    cases += [("loop-a.txt", "fail", "symlink"), ("loop-b.txt", "fail", "symlink")]
    if os.geteuid() == 0:  # root reads anything: use a file whose read fails in the kernel instead
        os.symlink("/proc/self/mem", d / "unreadable.txt")
        cases.append(("unreadable.txt", "fail", ""))
    else:
        put("unreadable.txt", ZH.encode(), "fail", "permission denied")
        os.chmod(d / "unreadable.txt", 0)
    os.mkfifo(d / "fifo.txt")
    cases.append(("fifo.txt", "fail", "not a regular file"))
    return cases


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A deflated zip archive of ``entries`` (repetitive data compresses ~1000:1)."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def many_pages_pdf(n: int) -> bytes:
    """A valid PDF of ``n`` pages that share one content stream (~60 bytes a page)."""
    import io
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []

    def obj(body: str) -> None:
        offsets.append(out.tell())
        out.write(f"{len(offsets)} 0 obj\n{body}\nendobj\n".encode())
    stream = "BT /F1 12 Tf 72 720 Td (Page text.) Tj ET"
    obj("<< /Type /Catalog /Pages 2 0 R >>")
    obj(f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in range(5, 5 + n))}] /Count {n} >>")
    obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    obj(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    for _ in range(n):
        obj("<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>")
    xref = out.tell()
    out.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{o:010d} 00000 n \n" for o in offsets).encode())
    out.write(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def pdf_with_info(pages: list[str], info: str | None, info_obj: str | None = None) -> bytes:
    """``pdf_bytes(pages)`` with a document-information entry of odd types: ``info`` is the body of
    its dictionary (e.g. "/Title 5"), or ``info_obj`` the whole object (e.g. a number)."""
    import re
    data = pdf_bytes(pages)
    body = info_obj if info_obj is not None else f"<< {info} >>"
    head, _, tail = data.rpartition(b"\nxref\n")
    head += b"\n"
    n = int(re.search(rb"/Size (\d+)", tail).group(1))
    obj = f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref_at = len(head) + len(obj)
    count_line = re.search(rb"0 (\d+)\n", tail)
    rows = tail[count_line.end():tail.index(b"trailer")]
    new_tail = (f"0 {n + 1}\n".encode() + rows + f"{len(head):010d} 00000 n \n".encode() +
                f"trailer\n<< /Size {n + 1} /Root 1 0 R /Info {n} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode())
    return head + obj + b"xref\n" + new_tail


def epub_bytes(chapters: dict[str, bytes], spine_extra: list[str] = ()) -> bytes:
    """A minimal EPUB written by hand (ebooklib's writer re-parses chapters, which would hide the
    damage under test); ``spine_extra``: reading-order entries naming items the book lacks."""
    manifest = "".join(f'<item id="c{i}" href="{n}" media-type="application/xhtml+xml"/>' for i, n in enumerate(chapters))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters))) + "".join(
        f'<itemref idref="{x}"/>' for x in spine_extra)
    opf = ('<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
           '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier>'
           '<dc:title>手写的书</dc:title><dc:language>zh</dc:language></metadata>'
           f'<manifest>{manifest}</manifest><spine>{spine}</spine></package>')
    container = ('<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                 '<rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
                 '</container>')
    return zip_bytes({"mimetype": b"application/epub+zip", "META-INF/container.xml": container.encode(),
                      "content.opf": opf.encode(), **chapters})
