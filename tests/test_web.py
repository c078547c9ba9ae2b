"""Links and saved pages: pages served from a local HTTP server on 127.0.0.1 only."""
from __future__ import annotations

import http.server
import json
import threading

import pytest

from .fakes import HASH
from .conftest import run_cli

ARTICLE = """<!doctype html><html><head><meta charset="utf-8"><title>美国站全托管开放 - 跨境观察</title>
<meta name="author" content="张三"><meta property="og:site_name" content="跨境观察">
<meta property="article:published_time" content="2023-08-30"><link rel="canonical" href="http://127.0.0.1/news/1">
</head><body><nav>首页 | 资讯 | 登录</nav><article><h1>美国站全托管开放</h1>
<p>TikTok电商在美区的全托管业务已于8月底开放了跨境商家的入驻。</p>
<p>所谓全托管模式，即跨境商家将商品供货至配套的广州仓，再由官方负责上架、营销、发货、售后。</p>
</article><footer>© 跨境观察 版权所有</footer></body></html>"""

WECHAT = """<!DOCTYPE html><html><head><meta charset="utf-8"><meta property="og:title" content="小黄车模式正式关闭">
<title>小黄车模式正式关闭</title></head><body><div id="js_article"><h1 class="rich_media_title" id="activity-name">
小黄车模式正式关闭 </h1><div id="meta_content"><a id="js_name">TK运营笔记</a><em id="publish_time">2023年9月13日 08:00</em></div>
<div class="rich_media_content" id="js_content"><section><p>TikTok正式关闭与Shopify合作推出的小黄车模式。</p>
<p>半闭环时代正式结束，全闭环时代正式开始。</p></section><p><img src="qr.png"></p><p>扫码关注公众号</p></div>
</div><script>var ct = "1694563200"; var nickname = htmlDecode("TK运营笔记");</script></body></html>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {"/news/1": ("text/html; charset=utf-8", ARTICLE), "/wx": ("text/html; charset=utf-8", WECHAT),
              "/data.json": ("application/json", "{}")}

    def do_GET(self):  # noqa: N802
        if self.path == "/slow":
            import time
            time.sleep(3)
        if self.path not in self.routes:
            self.send_error(404, "Not Found")
            return
        ctype, body = self.routes[self.path]
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def site(monkeypatch):
    monkeypatch.setenv("KB_FETCH_PRIVATE", "1")  # the pages are on this machine (refused by default)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_ingest_urls_reports_each_failure(tmp_path, site):
    kb = str(tmp_path / "kb")
    env = {"KB_MODEL": HASH}
    r = run_cli("-m", "ingest", "--kb", kb, f"{site}/news/1", f"{site}/wx", f"{site}/missing", f"{site}/data.json",
                "http://127.0.0.1:9/refused", env_extra=env)
    assert r.returncode == 1
    assert "added 2" in r.stdout and "failed 3" in r.stdout
    assert f"{site}/missing: HTTP 404" in r.stderr
    assert f"{site}/data.json: not an HTML page (Content-Type: application/json)" in r.stderr
    assert "127.0.0.1:9/refused: could not fetch" in r.stderr
    arts = {a["title"]: a for a in json.loads(run_cli("-m", "kb", "--kb", kb, "list", "--json", env_extra=env).stdout)}
    news = arts["美国站全托管开放"]
    assert news["source"] == "跨境观察" and news["date"] == "2023-08-30" and news["url"] == "http://127.0.0.1/news/1"
    wx = arts["小黄车模式正式关闭"]
    assert wx["source"] == "TK运营笔记" and wx["date"] == "2023-09-13"
    shown = json.loads(run_cli("-m", "kb", "--kb", kb, "show", wx["id"], "--json", env_extra=env).stdout)
    assert shown["text"] == "TikTok正式关闭与Shopify合作推出的小黄车模式。\n半闭环时代正式结束，全闭环时代正式开始。"
    hit = json.loads(run_cli("-m", "kb", "--kb", kb, "search", "--json", "--source", "跨境观察", "广州仓",
                             env_extra=env).stdout)["hits"][0]
    assert hit["title"] == "美国站全托管开放" and hit["date"] == "2023-08-30"


def test_fetch_timeout(site, monkeypatch):
    from ingest.fetch import fetch
    from kb.errors import ReadError
    _Handler.routes["/slow"] = ("text/html", ARTICLE)
    with pytest.raises(ReadError, match="timed out"):
        fetch(f"{site}/slow", timeout=0.5, allow_private=True)


def test_mixed_folder_and_two_links_all_searchable_with_citations(tmp_path, site):
    from .docgen import pdf_bytes, write_docx, write_epub
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "a.txt").write_bytes("仓储报告\n\n来源:物流周刊\n发布时间:2023年7月1日\n海外仓租金今年上涨了两成。".encode("gbk"))
    (d / "b.md").write_text("# Shipping notes\n\nSource: Freight Weekly\n\nContainer rates fell in June.\n", encoding="utf-8")
    (d / "c.pdf").write_bytes(pdf_bytes(["Cover page of the annual review.", "Air cargo volumes doubled in Q3."],
                                        title="Annual review"))
    write_docx(d / "d.docx", "退货政策", [("要点", ["跨境退货的平均处理时间为十四天。"])])
    write_epub(d / "e.epub", "电商史话", [("第一章", "直播带货在二零二零年兴起。")])
    (d / "f.html").write_text(WECHAT, encoding="utf-8")
    kb = str(tmp_path / "kb")
    env = {"KB_MODEL": HASH}
    r = run_cli("-m", "ingest", "--kb", kb, str(d), f"{site}/news/1", f"{site}/wx", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "added 7" in r.stdout and "duplicate 1," in r.stdout  # the saved WeChat page is the link's exact bytes
    checks = [("海外仓租金", "仓储报告", "物流周刊", "2023-07-01"), ("Container rates", "Shipping notes", "Freight Weekly", None),
              ("Air cargo volumes", "Annual review", None, None), ("退货 处理时间", "退货政策", None, None),
              ("直播带货", "电商史话", None, None), ("广州仓 全托管", "美国站全托管开放", "跨境观察", "2023-08-30"),
              ("Shopify 小黄车", "小黄车模式正式关闭", "TK运营笔记", "2023-09-13")]
    for q, title, source, date in checks:
        hit = json.loads(run_cli("-m", "kb", "--kb", kb, "search", "--json", "-k", "1", q, env_extra=env).stdout)["hits"][0]
        assert hit["title"] == title, (q, hit["title"])
        assert hit["source"] == source and hit["date"] == date, (q, hit["source"], hit["date"])
        if title == "Annual review":
            assert hit["page"] == 2


def test_a_host_that_is_not_found_is_said_in_plain_words(monkeypatch):
    import socket

    from ingest import fetch as fetch_mod
    from kb.errors import ReadError

    def no_such_host(*a, **k):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(fetch_mod.socket, "getaddrinfo", no_such_host)  # (these machines resolve no public names)
    with pytest.raises(ReadError) as e:
        fetch_mod.fetch("https://no-such-host.example/some-article")
    assert "host was not found" in str(e.value) and "Name or service" not in str(e.value)
