"""The HTTP API against a real server: `python -m kb serve` (uvicorn) on a free 127.0.0.1 port,
driven with httpx; the fake embedder keeps it fast. JSON is compared with the CLI's."""
from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, SAMPLE, run_cli, open_kb
from .docgen import pdf_bytes
from .fakes import HASH

pytestmark = pytest.mark.process  # a real server process
HASH_ENV = {"KB_MODEL": HASH}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kb: Path, host: str = "127.0.0.1", env: dict | None = None):
        self.port = _free_port()
        self.url = f"http://{host}:{self.port}"
        self.log = kb.parent / f"serve-{self.port}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "kb", "--kb", str(kb), "serve", "--host", host,
                                      "--port", str(self.port)], cwd=ROOT, env=dict(os.environ, **HASH_ENV, **(env or {})),
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def wait(self) -> "Server":
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited: " + self.log.read_text()[-2000:])
            try:
                httpx.get(self.url + "/openapi.json", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("server did not start: " + self.log.read_text()[-2000:])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory) -> Path:
    kb = tmp_path_factory.mktemp("api") / "kb"
    assert run_cli("-m", "ingest", "--kb", str(kb), str(SAMPLE), env_extra=HASH_ENV).returncode == 0
    return kb


@pytest.fixture(scope="module")
def api(kb_path):
    s = Server(kb_path).wait()
    with httpx.Client(base_url=s.url, timeout=60) as c:
        yield c
    s.stop()


def cli_json(kb: Path, *args) -> object:
    r = run_cli("-m", "kb", "--kb", str(kb), *args, env_extra=HASH_ENV)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_reads_return_what_the_cli_prints(api, kb_path):
    q = "How many merchants joined TikTok Shop in the US?"
    r = api.get("/search", params={"q": q, "k": 3})
    assert r.status_code == 200
    got = r.json()
    assert got == cli_json(kb_path, "search", "--json", "-k", "3", q)
    assert {"confidence", "no_answer", "hits"} <= set(got) and got["hits"][0]["permalink"]
    filt = api.get("/search", params={"q": "planet", "k": 10, "lang": "en"}).json()
    assert filt["hits"] and {h["lang"] for h in filt["hits"]} == {"en"}
    assert filt == cli_json(kb_path, "search", "--json", "-k", "10", "--lang", "en", "planet")
    assert api.get("/articles").json() == cli_json(kb_path, "list", "--json")
    aid = got["hits"][0]["article_id"]
    assert api.get(f"/articles/{aid}").json() == cli_json(kb_path, "show", aid, "--json")
    assert api.get(f"/articles/{aid[:6]}").json()["id"] == aid  # an id prefix, as on the command line
    link = got["hits"][0]["permalink"]
    passage = api.get(f"/passages/{link}").json()
    assert passage == cli_json(kb_path, "passage", link, "--json")
    assert passage["text"] == got["hits"][0]["text"] and passage["article"]["id"] == aid
    stats = api.get("/stats").json()
    assert stats["articles"] == len(api.get("/articles").json()) and stats["embedder"] == "hash-256"
    docs = api.get("/docs")
    assert docs.status_code == 200 and "GET /search" in docs.text and "cdn" not in docs.text.lower()  # works offline
    assert "/search/batch" in api.get("/openapi.json").json()["paths"]


def test_citations_in_every_format_as_the_cli_writes_them(api, kb_path):
    import rispy
    q = "全托管模式对卖家有什么风险?"
    r = api.get("/search", params={"q": q, "k": 2, "format": "ris"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-research-info-systems")
    assert r.text == run_cli("-m", "kb", "--kb", str(kb_path), "search", "--format", "ris", "-k", "2", q,
                             env_extra=HASH_ENV).stdout
    assert len(rispy.loads(r.text)) == 2
    links = [h["permalink"] for h in api.get("/search", params={"q": q, "k": 2}).json()["hits"]]
    for fmt in ("bibtex", "ris", "csl-json", "md"):
        got = api.get("/cite", params={"link": links, "format": fmt})
        assert got.status_code == 200
        assert got.text == run_cli("-m", "kb", "--kb", str(kb_path), "cite", "--format", fmt, *links,
                                   env_extra=HASH_ENV).stdout
    assert api.get("/cite", params={"link": links, "format": "docx"}).status_code == 422
    assert api.get("/search", params={"q": q, "format": "docx"}).status_code == 422
    assert api.get("/cite", params={"link": "nonsense"}).status_code == 400


def test_collections_keep_export_and_remove(api, kb_path):
    import bibtexparser
    hit = api.get("/search", params={"q": "全托管模式对卖家有什么风险?", "k": 1}).json()["hits"][0]
    r = api.post("/collections/第三章", json={"permalink": hit["permalink"], "note": "风险", "quote": hit["highlight"]})
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["quote"] == hit["highlight"]
    item = r.json()["id"]
    assert api.get("/collections").json()[0]["name"] == "第三章"
    got = api.get("/collections/第三章").json()
    assert got == cli_json(kb_path, "collection", "show", "第三章", "--json")
    bib = bibtexparser.parse_string(api.get("/collections/第三章", params={"format": "bibtex"}).text)
    assert not bib.failed_blocks and bib.entries[0].fields_dict["title"].value == hit["title"]
    assert api.post("/collections/第三章", json={"permalink": "garbage"}).status_code == 400
    # managed: a note changed, the collection renamed, the item moved and back
    r = api.patch(f"/collections/第三章/{item}", json={"note": "风险（改）"})
    assert r.status_code == 200 and r.json()["note"] == "风险（改）" and r.json()["status"] == "ok"
    assert api.patch("/collections/第三章", json={"name": "第三章 定稿"}).json() == {"renamed": "第三章", "name": "第三章 定稿"}
    assert api.get("/collections/第三章").status_code == 404
    r = api.patch(f"/collections/第三章 定稿/{item}", json={"collection": "附录"})
    assert r.status_code == 200 and r.json()["collection"] == "附录"
    assert api.patch(f"/collections/附录/{item}", json={}).status_code == 422
    assert api.patch("/collections/附录/99999", json={"note": "x"}).status_code == 404
    assert api.patch(f"/collections/附录/{item}", json={"collection": "第三章"}).json()["collection"] == "第三章"
    assert api.delete("/collections/第三章 定稿").status_code == 200  # (left empty by the move)
    assert api.delete(f"/collections/第三章/{item}").status_code == 200
    assert api.delete("/collections/第三章/99999").status_code == 404
    assert api.delete("/collections/第三章").status_code == 200
    assert api.get("/collections/第三章").status_code == 404


def test_batch_search_equals_one_by_one(api):
    qs = ["全托管模式对卖家有什么风险?", "What is a prime number?", "黄石公园"]
    r = api.post("/search/batch", json={"queries": qs, "k": 4})
    assert r.status_code == 200
    assert r.json()["results"] == [api.get("/search", params={"q": q, "k": 4}).json() for q in qs]


@pytest.mark.parametrize("params,field", [
    ({"q": "x", "k": 0}, "k"), ({"q": "x", "k": "many"}, "k"), ({"q": "x", "since": "2023-13-45"}, "since"),
    ({"q": "x", "until": "yesterday"}, "until"), ({"q": "x" * 5000}, "q"), ({"q": "   "}, "q"), ({}, "q"),
    ({"q": "x", "lang": "fr"}, "lang"),
])
def test_bad_search_parameters_are_422_json_naming_the_field(api, params, field):
    r = api.get("/search", params=params)
    assert r.status_code == 422 and r.json()["error"].startswith(field)


def test_not_found_is_chosen_by_the_error_type_not_its_words(kb_path, monkeypatch):
    """404 for the library's NotFound types, 400 for any other KBError, whatever the message says
    (the API matched "No article with id…" in the text)."""
    from starlette.testclient import TestClient

    from kb import ArticleNotFound, CollectionNotFound, ItemNotFound, KBError, NotFound, collection
    from kb.api import create_app
    monkeypatch.setenv("KB_MODEL", HASH)
    kb = open_kb(kb_path)
    try:
        with pytest.raises(ArticleNotFound):
            kb.resolve("abcdef123456")
        with pytest.raises(ArticleNotFound):
            collection.save(kb, "第三章", "abcdef123456:1-5~00000000")
        with pytest.raises(CollectionNotFound):
            collection.items(kb, "没有这个集合")
        with pytest.raises(CollectionNotFound):
            collection.delete(kb, "没有这个集合")
        with pytest.raises(ItemNotFound):
            collection.remove(kb, "没有这个集合", 1)
        assert all(issubclass(t, NotFound) and issubclass(t, KBError) for t in (ArticleNotFound, CollectionNotFound,
                                                                               ItemNotFound))
        client = TestClient(create_app(kb, port=8000), base_url="http://127.0.0.1:8000")
        for error, status in ((ArticleNotFound("that article was removed a moment ago"), 404),
                              (KBError("No article with id is how this one starts, but it is a bad request"), 400)):
            def resolve(article_id, error=error):
                raise error
            monkeypatch.setattr(kb, "resolve", resolve)
            r = client.get("/articles/abcdef")
            assert (r.status_code, r.json()) == (status, {"error": str(error)})
    finally:
        kb.close()


def test_unknown_ids_and_bad_permalinks(api):
    for path, status, words in (("/articles/zzzz", 404, "No article with id 'zzzz'"),
                                ("/passages/abcdef123456:1-5~00000000", 404, "No article with id"),
                                ("/passages/not-a-link", 400, "not a permalink"),
                                ("/passages/" + api.get("/articles").json()[0]["id"] + ":9-3", 400, "is empty"),
                                ("/nowhere", 404, "no such endpoint: GET /nowhere")):
        r = api.get(path)
        assert r.status_code == status and words in json.dumps(r.json(), ensure_ascii=False)
    gone = api.get("/passages/" + api.get("/articles").json()[0]["id"] + ":0-99999999~00000000")
    assert gone.status_code == 200 and gone.json()["changed"]  # a link into text that is no longer there
    assert api.delete("/articles/zzzz").status_code == 404
    bad = api.post("/search/batch", json={"queries": []})
    assert bad.status_code == 422 and "queries" in bad.json()["error"]


def test_upload_gbk_text_and_pdf_then_find_and_remove_them(api, kb_path):
    before = len(api.get("/articles").json())
    gbk = "胡佛水坝的发电能力\n\n胡佛水坝位于美国内华达州，水电站装有十七台发电机组，总装机容量约为两千兆瓦。".encode("gbk")
    pdf = pdf_bytes(["Geothermal plants in Iceland supply a quarter of its electricity."], title="Iceland energy")
    files = [("files", ("胡佛水坝.txt", gbk, "text/plain")), ("files", ("iceland.pdf", pdf, "application/pdf")),
             ("files", ("empty.txt", b"", "text/plain"))]
    r = api.post("/articles", files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    status = {i["item"]: i["status"] for i in body["items"]}
    assert status == {"胡佛水坝.txt": "added", "iceland.pdf": "added", "empty.txt": "failed"}
    assert "added 2" in body["summary"] and "failed 1" in body["summary"]
    hit = api.get("/search", params={"q": "胡佛水坝 发电机组", "k": 1}).json()["hits"][0]
    assert hit["title"] == "胡佛水坝的发电能力" and "十七台" in hit["text"]
    pdf_hit = api.get("/search", params={"q": "Iceland geothermal electricity", "k": 1}).json()["hits"][0]
    assert pdf_hit["title"] == "Iceland energy" and pdf_hit["page"] == 1
    assert len(api.get("/articles").json()) == before + 2
    fixed = api.patch(f"/articles/{hit['article_id']}", json={"author": "水利部", "date": "2024-03-05"})
    assert fixed.status_code == 200 and fixed.json()["author"] == "水利部" and fixed.json()["date"] == "2024-03-05"
    bad = api.patch(f"/articles/{hit['article_id']}", json={"date": "March"})
    assert bad.status_code == 400 and "not a date" in bad.json()["error"]
    assert api.patch(f"/articles/{hit['article_id']}", json={}).status_code == 422
    gone = api.delete(f"/articles/{hit['article_id']}")
    assert gone.status_code == 200 and gone.json()["removed"] == hit["article_id"]
    assert api.get(f"/articles/{hit['article_id']}").status_code == 404
    assert len(api.get("/articles").json()) == before + 1
    # in the trash until emptied: restored, removed again, dropped
    assert [t["id"] for t in api.get("/trash").json()] == [hit["article_id"]]
    back = api.post(f"/trash/{hit['article_id']}/restore")
    assert back.status_code == 200 and back.json()["restored"] == hit["article_id"]
    assert api.get(f"/articles/{hit['article_id']}").json()["author"] == "水利部"  # as it was, edits included
    assert api.post(f"/trash/{hit['article_id']}/restore").status_code == 404
    assert api.delete(f"/articles/{hit['article_id']}").status_code == 200
    assert api.delete("/trash", params={"article_id": "abcdef123456"}).status_code == 404
    assert api.delete("/trash").json() == {"dropped": [hit["article_id"]]} and api.get("/trash").json() == []
    # a removed collection item, and a deleted collection's items, wait in the trash too
    pl = api.get("/search", params={"q": "Iceland geothermal electricity", "k": 1}).json()["hits"][0]["permalink"]
    item = api.post("/collections/draft", json={"permalink": pl, "note": "geothermal"}).json()["id"]
    tid = api.delete(f"/collections/draft/{item}").json()["trash_id"]
    assert [(t["id"], t["note"]) for t in api.get("/trash/items").json()] == [(tid, "geothermal")]
    back = api.post(f"/trash/items/{tid}/restore").json()
    assert back["collection"] == "draft" and api.get("/collections/draft").json()[0]["note"] == "geothermal"
    assert api.post(f"/trash/items/{tid}/restore").status_code == 404
    ids = api.delete("/collections/draft").json()["trash_ids"]
    assert len(ids) == 1 and api.get("/collections/draft").status_code == 404
    assert api.post(f"/trash/items/{ids[0]}/restore").status_code == 200 and len(api.get("/collections/draft").json()) == 1


def test_an_upload_name_in_gbk_or_with_a_path_is_kept_inside_the_uploads_folder(api, kb_path):
    boundary = "kbtestboundary"

    def upload(raw_name: bytes, text: str):
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"".encode() + raw_name +
                b"\"\r\nContent-Type: text/plain\r\n\r\n" + text.encode() + f"\r\n--{boundary}--\r\n".encode())
        return api.post("/articles", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})

    r = upload("季度报告.txt".encode("gbk"), "季度报告\n\n本季度跨境物流的成本下降了百分之五。")  # GBK bytes, not UTF-8
    assert r.status_code == 200 and r.json()["items"] == [{"item": "季度报告.txt", "status": "added", "detail": ""}]
    assert len(list((kb_path / "uploads").glob("*/季度报告.txt"))) == 1  # uploads/<content hash>/<name>
    r = upload(b"../../escape.txt", "Escape attempt\n\nThis upload names a path outside the uploads folder.")
    assert r.status_code == 200 and [i["item"] for i in r.json()["items"]] == ["escape.txt"]
    assert len(list((kb_path / "uploads").glob("*/escape.txt"))) == 1 and not (kb_path.parent / "escape.txt").exists()
    assert all(p.parent.parent == kb_path / "uploads" and p.is_file() for p in (kb_path / "uploads").glob("*/*"))


def test_bad_uploads_are_refused_and_nothing_is_lost(api, kb_path, tmp_path):
    before = api.get("/articles").json()
    r = api.post("/articles", data={"urls": "ftp://example.com/a"})
    assert r.status_code == 422 and "urls" in r.json()["error"]
    assert api.post("/articles").status_code == 422
    big = Server(kb_path, env={"KB_API_MAX_UPLOAD_MB": "1"}).wait()
    try:
        r = httpx.post(big.url + "/articles", files=[("files", ("big.txt", b"a" * (2 * 2 ** 20), "text/plain"))], timeout=60)
        assert r.status_code == 413 and "upload limit of 1 MB" in r.json()["error"]
    finally:
        big.stop()
    assert api.get("/articles").json() == before


def test_searches_are_served_during_an_ingest_and_a_second_write_is_409(api, kb_path, tmp_path):
    import random
    rng = random.Random(5)
    words = ["风力", "发电", "储能", "电池", "成本", "电网", "光伏", "政策", "市场", "企业", "技术", "投资", "价格", "需求",
             "海上", "风机", "材料", "运输", "城市", "农村", "工厂", "效率", "研究", "数据", "模型", "气候", "排放"]
    docs = [("files", (f"doc{i}.txt", (f"第{i}号文件\n\n" + "".join(
        "".join(rng.choice(words) for _ in range(12)) + "。" for _ in range(40))).encode(), "text/plain"))
        for i in range(40)]
    def timed(fn, *a, **kw):
        r = fn(*a, **kw)
        return r, time.time()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        ingest = pool.submit(timed, api.post, "/articles", files=docs)
        time.sleep(0.3)
        searches = [pool.submit(timed, api.get, "/search", params={"q": "风力发电 储能", "k": 3}) for _ in range(20)]
        second = pool.submit(api.post, "/articles", files=[("files", ("late.txt", "迟到的文章内容。".encode(), "text/plain"))])
        results = [s.result() for s in searches]
        late = second.result()
        done, done_at = ingest.result()
    assert all(r.status_code == 200 for r, _ in results)
    assert sum(at < done_at for _, at in results) >= 5  # answered while the batch was being written
    assert done.status_code == 200 and "added 40" in done.json()["summary"]
    if late.status_code == 409:  # it arrived while the batch was being written
        assert "another write" in late.json()["error"]
    else:
        assert late.status_code == 200
    # A writer in another process: the API answers 409 at once instead of waiting.
    from filelock import FileLock
    with FileLock(str(kb_path / "write.lock")):
        t = time.time()
        r = api.post("/articles", files=[("files", ("x.txt", "内容。".encode(), "text/plain"))])
        assert r.status_code == 409 and "another process is writing" in r.json()["error"] and time.time() - t < 10
        assert api.get("/search", params={"q": "风力发电", "k": 1}).status_code == 200


def test_a_key_guards_writes_and_any_other_bind_needs_one(kb_path):
    keyed = Server(kb_path, env={"KB_API_KEY": "s3cret"}).wait()
    try:
        c = httpx.Client(base_url=keyed.url, timeout=30)
        assert c.get("/search", params={"q": "质数"}).status_code == 200  # reads stay open on 127.0.0.1
        r = c.delete("/articles/zzzz")
        assert r.status_code == 401 and "KB_API_KEY" in r.json()["error"]
        assert c.delete("/articles/zzzz", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.delete("/articles/zzzz", headers={"Authorization": "Bearer s3cret"}).status_code == 404
        assert c.delete("/articles/zzzz", headers={"X-API-Key": "s3cret"}).status_code == 404
    finally:
        keyed.stop()
    r = run_cli("-m", "kb", "--kb", str(kb_path), "serve", "--host", "0.0.0.0", "--port", str(_free_port()),
                env_extra=HASH_ENV | {"KB_API_KEY": ""})
    assert r.returncode == 2 and "needs an API key: set KB_API_KEY" in r.stderr
    everywhere = Server(kb_path, host="0.0.0.0", env={"KB_API_KEY": "s3cret"})
    everywhere.url = f"http://127.0.0.1:{everywhere.port}"
    everywhere.wait()
    try:
        assert httpx.get(everywhere.url + "/search", params={"q": "质数"}).status_code == 401  # every request
        assert httpx.get(everywhere.url + "/search", params={"q": "质数"},
                         headers={"Authorization": "Bearer s3cret"}).status_code == 200
    finally:
        everywhere.stop()



def test_errors_name_commands_only_on_the_command_line(api, kb_path):
    """An API user types no commands: the 404 says what is missing; the CLI adds what to type."""
    r = api.get("/articles/abcdef123456")
    assert r.status_code == 404 and "No article with id 'abcdef123456'" in r.json()["error"]
    assert "python -m" not in r.json()["error"]
    r = api.get("/collections/没有这个集合")
    assert r.status_code == 404 and "No collection named" in r.json()["error"] and "python -m" not in r.json()["error"]
    cli = run_cli("-m", "kb", "--kb", str(kb_path), "show", "abcdef123456", env_extra=HASH_ENV)
    assert cli.returncode == 2 and "No article with id 'abcdef123456'" in cli.stderr and "`python -m kb list` shows the ids" in cli.stderr
