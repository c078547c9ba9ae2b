"""Collections of kept passages with notes: in SQLite with the KB, outliving re-ingest and rebuild,
saying when their passage changed or went away; exported like search results."""
from __future__ import annotations

import json

import pytest

from kb import ArticleInput
from kb import collection as col
from kb.cite import export
from kb.errors import KBError

from .conftest import run_cli, open_kb
from .fakes import HASH

TEXT = "全托管模式由平台负责运营。\n卖家只需把商品送到广州仓。\n首月已有两万名卖家加入。"
OTHER = "The planet Jupiter has dozens of moons.\nSaturn's rings are made of ice."


def _doc(key, text, title):
    return ArticleInput(key=key, path=key, text=text, content_hash=str(hash(text)), title=title, source="测试来源",
                        date="2023-09-12")


@pytest.fixture
def kb(kb_dir, hash_model):
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc("/a.txt", TEXT, "全托管"))
        k.add(_doc("/b.txt", OTHER, "Planets"))
    yield k
    k.close()


def test_keep_list_show_export_and_remove(kb):
    h = kb.search("两万名卖家", k=1)[0]
    it = col.save(kb, "论文 第三章", h.permalink, note="首月数据，需要核对", quote=h.highlight)
    assert it["status"] == "ok" and it["quote"] == h.highlight and it["note"] == "首月数据，需要核对"
    again = col.save(kb, "论文 第三章", h.permalink, note="已核对")  # the same span: its note replaced
    assert again["id"] == it["id"] and again["note"] == "已核对"
    p = kb.search("Jupiter moons", k=1)[0]
    col.save(kb, "论文 第三章", p.permalink)
    assert col.listing(kb) == [{"name": "论文 第三章", "items": 2, "created_at": col.listing(kb)[0]["created_at"]}]
    refs = col.references(kb, "论文 第三章")
    assert [r.title for r in refs] == ["全托管", "Planets"] and refs[0].quote == h.highlight
    import rispy
    assert [e["title"] for e in rispy.loads(export(refs, "ris"))] == ["全托管", "Planets"]
    ris = rispy.loads(export(refs, "ris"))
    assert ris[0]["research_notes"] == "已核对" and "Note: 已核对" in export(refs, "md")
    col.remove(kb, "论文 第三章", it["id"])
    assert [i["title"] for i in col.items(kb, "论文 第三章")] == ["Planets"]
    col.delete(kb, "论文 第三章")
    assert col.listing(kb) == []
    for call, words in ((lambda: col.items(kb, "nope"), "No collection"), (lambda: col.remove(kb, "x", 99), "No item"),
                        (lambda: col.save(kb, "", h.permalink), "1-80 characters"),
                        (lambda: col.save(kb, "a/b", h.permalink), "without '/'"),
                        (lambda: col.save(kb, "x", h.permalink, quote="不在这里的句子"), "not part of"),
                        (lambda: col.save(kb, "x", "garbage"), "not a permalink")):
        with pytest.raises(KBError, match=words):
            call()


def test_items_outlive_reingest_and_rebuild_and_report_changes(kb):
    h = kb.search("两万名卖家", k=1)[0]
    col.save(kb, "keep", h.permalink, note="n1")
    p = kb.search("Jupiter moons", k=1)[0]
    col.save(kb, "keep", p.permalink, note="n2")
    with kb.writer():
        assert kb.add(_doc("/a.txt", TEXT, "全托管"))[0] == "unchanged"
    kb.rebuild()
    assert [i["status"] for i in col.items(kb, "keep")] == ["ok", "ok"]
    with kb.writer():
        assert kb.add(_doc("/a.txt", TEXT.replace("两万名", "三万多名"), "全托管"))[0] == "updated"
        kb.remove(p.article_id)
    got = col.items(kb, "keep")
    assert [i["status"] for i in got] == ["changed", "missing"] and [i["note"] for i in got] == ["n1", "n2"]
    assert got[0]["current"]["text"] and got[1]["current"] is None
    refs = col.references(kb, "keep")  # still exportable: the removed article from the copies kept
    assert refs[1].title == "Planets" and "Jupiter" in refs[1].quote


def test_cli_and_reopen(kb, kb_dir):
    link = kb.search("广州仓", k=1)[0].permalink
    kb.close()
    env = {"KB_MODEL": HASH}
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "add", "chapter 3", link, "--note", "仓库", env_extra=env)
    assert r.returncode == 0 and "kept in 'chapter 3'" in r.stdout
    shown = json.loads(run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "show", "chapter 3", "--json", env_extra=env).stdout)
    assert shown[0]["note"] == "仓库" and shown[0]["status"] == "ok" and shown[0]["permalink"] == link
    md = run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "show", "chapter 3", "--format", "md", env_extra=env).stdout
    assert "广州仓" in md and link in md
    listed = json.loads(run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "list", "--json", env_extra=env).stdout)
    assert listed[0]["name"] == "chapter 3" and listed[0]["items"] == 1
    bad = run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "show", "nope", env_extra=env)
    assert bad.returncode == 2 and "No collection named 'nope'" in bad.stderr
    assert run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "delete", "chapter 3", env_extra=env).returncode == 0


def test_a_collection_is_renamed_its_items_get_notes_and_move(kb_dir, hash_model):
    from kb.errors import CollectionNotFound, ItemNotFound
    kb = open_kb(kb_dir, create=True)
    try:
        with kb.writer():
            kb.add(ArticleInput(key="/a.txt", path="/a.txt", text=TEXT, content_hash="a", title="电商"))
        hits = kb.search("全托管模式", k=2)
        a = col.save(kb, "第三章", hits[0].permalink, "初稿", quote=hits[0].highlight)
        col.rename(kb, "第三章", " 第三章 定稿 ")
        assert [r["name"] for r in col.listing(kb)] == ["第三章 定稿"]
        assert [i["note"] for i in col.items(kb, "第三章 定稿")] == ["初稿"]
        with pytest.raises(CollectionNotFound):
            col.items(kb, "第三章")
        col.save(kb, "第四章", hits[0].permalink, "")
        with pytest.raises(KBError, match="exists already"):
            col.rename(kb, "第三章 定稿", "第四章")
        with pytest.raises(KBError, match="keeps this passage already"):
            col.update(kb, "第三章 定稿", a["id"], to="第四章")
        assert col.update(kb, "第三章 定稿", a["id"], note="  改过的注释 ")["note"] == "改过的注释"
        moved = col.update(kb, "第三章 定稿", a["id"], to="附录")  # a new collection, made by the move
        assert moved["collection"] == "附录" and col.items(kb, "第三章 定稿") == []
        assert [(i["note"], i["status"]) for i in col.items(kb, "附录")] == [("改过的注释", "ok")]
        with pytest.raises(ItemNotFound):
            col.update(kb, "附录", 999, note="x")
        with pytest.raises(KBError, match="note: 4001 characters"):
            col.update(kb, "附录", a["id"], note="长" * 4001)
    finally:
        kb.close()
    # the same on the command line
    for args, out in ((("rename", "附录", "Appendix"), "renamed collection '附录' to 'Appendix'"),
                      (("note", "Appendix", str(a["id"]), ""), "note cleared"),
                      (("move", "Appendix", str(a["id"]), "第三章 定稿"), "to '第三章 定稿'")):
        r = run_cli("-m", "kb", "--kb", str(kb_dir), "collection", *args, env_extra={"KB_MODEL": HASH})
        assert r.returncode == 0 and out in r.stdout, r.stderr
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "move", "第三章 定稿", "999", "x", env_extra={"KB_MODEL": HASH})
    assert r.returncode == 2 and "No item 999 in collection '第三章 定稿'" in r.stderr


def test_removed_items_and_deleted_collections_wait_in_the_trash_until_emptied(kb, kb_dir):
    from kb.errors import ItemNotFound
    h = kb.search("两万名卖家", k=1)[0]
    p = kb.search("Jupiter moons", k=1)[0]
    a = col.save(kb, "第三章", h.permalink, note="核对", quote=h.highlight)
    b = col.save(kb, "第三章", p.permalink, note="行星")
    tid = col.remove(kb, "第三章", a["id"])
    assert [i["id"] for i in col.items(kb, "第三章")] == [b["id"]]
    assert [(r["id"], r["collection"], r["note"]) for r in col.removed(kb)] == [(tid, "第三章", "核对")]
    back = col.restore(kb, tid)  # its note, quote and place back
    assert (back["collection"], back["note"], back["quote"]) == ("第三章", "核对", h.highlight) and col.removed(kb) == []
    assert sorted(i["title"] for i in col.items(kb, "第三章")) == ["Planets", "全托管"]
    created = col.listing(kb)[0]["created_at"]
    ids = col.delete(kb, "第三章")  # the collection gone, both items in the trash
    assert len(ids) == 2 and col.listing(kb) == [] and len(col.removed(kb)) == 2
    for t in ids:
        col.restore(kb, t)
    assert col.listing(kb) == [{"name": "第三章", "items": 2, "created_at": created}]  # made again as it was
    with pytest.raises(ItemNotFound):
        col.restore(kb, tid)  # restored already: no longer in the trash
    # a span kept again since its removal: the kept one stays, the removed one is refused
    t2 = col.remove(kb, "第三章", next(i["id"] for i in col.items(kb, "第三章") if i["title"] == "Planets"))
    col.save(kb, "第三章", p.permalink, note="又存了一次")
    with pytest.raises(KBError, match="again since it was removed"):
        col.restore(kb, t2)
    assert [i["note"] for i in col.items(kb, "第三章") if i["title"] == "Planets"] == ["又存了一次"]
    cur = next(i["id"] for i in col.items(kb, "第三章") if i["title"] == "全托管")
    kb.close()
    env = {"KB_MODEL": HASH}
    shown = json.loads(run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "removed", "--json", env_extra=env).stdout)
    assert [r["id"] for r in shown] == [t2]
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "remove", "第三章", str(cur), env_extra=env)
    assert r.returncode == 0 and "collection restore" in r.stdout
    t3 = int(r.stdout.split("collection restore ")[1].split("`")[0])
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "restore", str(t3), env_extra=env)
    assert r.returncode == 0 and "restored “全托管” to '第三章'" in r.stdout, r.stderr
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "trash", env_extra=env)
    assert "1 removed collection item(s)" in r.stdout
    assert run_cli("-m", "kb", "--kb", str(kb_dir), "trash", "--empty", env_extra=env).returncode == 0
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "collection", "restore", str(t2), env_extra=env)
    assert r.returncode == 2 and f"No removed item {t2} in the trash" in r.stderr
