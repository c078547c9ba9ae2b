"""A catalogue of hostile and broken inputs, each with the outcome ingest must give.

``build(folder)`` writes them and returns ``[(file name, expected)]`` where expected is "ok"
(ingested, with a phrase its text must contain) or "fail" (with a phrase the one-line reason
must contain). Generated at test time: some are large, some cannot live in git.
"""
from __future__ import annotations

import os
from pathlib import Path

from .docgen import blank_pdf_bytes, encrypted_pdf_bytes, pdf_bytes, write_docx

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
