"""Citations a researcher takes away: exact places, permalinks that last, and exports that real
reference-manager parsers read back (bibtexparser, rispy, citeproc-py)."""
from __future__ import annotations

import json

import pytest

from kb import ArticleInput
from kb.cite import Reference, export, tex_unescape
from kb.errors import KBError

from .conftest import run_cli, open_kb
from .fakes import HASH

# Six paragraphs: a passage of ~120 tokens holds several, so the answer sits below its first line.
ARTICLE = "\n".join([
    "跨境电商的全托管模式{试点}：50%的卖家 & 平台_合作。",
    "平台在广州设立了新的仓库，负责商品的入库和质检。",
    "物流部分由平台统一安排，卖家无需自己寻找货代。",
    "售后服务也由平台承担，退货在美国本地处理。",
    "据统计，首月已有两万名卖家加入全托管计划，覆盖服装和家居类目。",
    "业内人士认为，这种模式会压缩卖家的利润空间。",
])


def _doc(text=ARTICLE, key="/report.txt"):
    return ArticleInput(key=key, path="report.txt", text=text, content_hash=str(hash(text)),
                        title="全托管模式{调研} 50% & more_", author="张三、李四", source="跨境电商头条",
                        date="2023-09-12", url="https://example.com/a?x=1&y=2")


@pytest.fixture
def kb(kb_dir, hash_model):
    k = open_kb(kb_dir, create=True)
    with k.writer():
        k.add(_doc())
    yield k
    k.close()


def test_a_citation_names_the_paragraph_of_the_answer_and_quotes_that_sentence(kb):
    h = kb.search("两万名卖家加入全托管计划", k=1)[0]
    assert h.highlight.startswith("据统计，首月已有两万名卖家")
    assert h.paragraph == 1 and h.highlight_paragraph == 5  # the passage starts in paragraph 1; the answer is in 5
    c = h.citation()
    assert "para. 5" in c and c.endswith(f"“{h.highlight}”") and "平台在广州" not in c
    assert "para. 1" in h.citation(full=True) and h.citation(full=True).endswith(f"“{h.text}”")


def test_permalinks_survive_a_reingest_and_a_rebuild_and_say_when_the_article_changed(kb):
    from kb.cite import passage_json
    h = kb.search("两万名卖家", k=1)[0]
    link = h.permalink
    first = passage_json(kb, link)
    assert not first["changed"] and first["text"] == h.text and first["permalink"] == link
    with kb.writer():
        assert kb.add(_doc())[0] == "unchanged"
    kb.rebuild()
    assert passage_json(kb, link) == first
    edited = ARTICLE.replace("广州", "深圳和广州两地").replace("两万名", "三万名")
    with kb.writer():
        assert kb.add(_doc(edited))[0] == "updated"
    moved = passage_json(kb, link)
    assert moved["changed"] and moved["permalink"] != link and moved["text"] in edited
    for bad in ("nonsense", "zzzz:1-2", f"{h.article_id}:5-1"):
        with pytest.raises(KBError):
            passage_json(kb, bad)


def _refs(kb):
    return [Reference.from_hit(h) for h in kb.search("两万名卖家加入全托管", k=2)]


def test_bibtex_reads_back_with_bibtexparser(kb):
    import bibtexparser
    refs = _refs(kb)
    lib = bibtexparser.parse_string(export(refs, "bibtex"))
    assert not lib.failed_blocks and len(lib.entries) == len(refs)
    e = lib.entries[0].fields_dict
    assert tex_unescape(e["title"].value) == "全托管模式{调研} 50% & more_"
    assert e["author"].value == "{张三} and {李四}" and e["year"].value == "2023" and e["month"].value == "9"
    note = tex_unescape(e["note"].value)
    assert refs[0].quote in note and refs[0].permalink in note and "para. 5" in note
    assert e["url"].value == "https://example.com/a?x=1&y=2" and e["howpublished"].value == "跨境电商头条"


def test_ris_reads_back_with_rispy(kb):
    import rispy
    refs = _refs(kb)
    entries = rispy.loads(export(refs, "ris"))
    assert len(entries) == len(refs)
    e = entries[0]
    assert e["title"] == "全托管模式{调研} 50% & more_" and e["authors"] == ["张三", "李四"]
    assert e["year"] == "2023" and e["date"] == "2023/09/12/" and e["urls"] == ["https://example.com/a?x=1&y=2"]
    assert f"“{refs[0].quote}”" in e["notes"] and f"kb {refs[0].permalink}" in e["notes"]
    assert export(refs, "ris").startswith("TY  - ")  # TY opens each record, no counter line before it


def test_csl_json_renders_with_citeproc(kb):
    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
    from citeproc.source.json import CiteProcJSON
    refs = _refs(kb)
    items = json.loads(export(refs, "csl-json"))
    assert items[0]["title"] == "全托管模式{调研} 50% & more_" and items[0]["issued"] == {"date-parts": [[2023, 9, 12]]}
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)  # (shipped with citeproc-py)
    bib = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    bib.register(Citation([CitationItem(items[0]["id"])]))
    text = str(bib.bibliography()[0])
    assert "全托管模式{调研}" in text and "张三" in text and "2023" in text


def test_markdown_quotes_and_links_back(kb):
    refs = _refs(kb)
    md = export(refs, "md")
    assert f"> {refs[0].quote}" in md and f"`{refs[0].permalink}`" in md and "para. 5" in md
    with pytest.raises(KBError, match="not one of"):
        export(refs, "docx")


def test_cli_search_format_and_cite(kb, kb_dir):
    import rispy
    kb.close()
    env = {"KB_MODEL": HASH}
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "search", "--format", "ris", "-k", "1", "两万名卖家", env_extra=env)
    assert r.returncode == 0 and rispy.loads(r.stdout)[0]["title"] == "全托管模式{调研} 50% & more_"
    link = json.loads(run_cli("-m", "kb", "--kb", str(kb_dir), "search", "--json", "-k", "1", "两万名卖家",
                              env_extra=env).stdout)["hits"][0]["permalink"]
    out = run_cli("-m", "kb", "--kb", str(kb_dir), "cite", "--format", "csl-json", link, env_extra=env)
    assert out.returncode == 0 and json.loads(out.stdout)[0]["id"] == link
    hit = json.loads(run_cli("-m", "kb", "--kb", str(kb_dir), "search", "--json", "-k", "1", "两万名卖家", env_extra=env).stdout)["hits"][0]
    one = json.loads(run_cli("-m", "kb", "--kb", str(kb_dir), "cite", "--format", "csl-json", hit["quote_permalink"],
                             env_extra=env).stdout)[0]
    assert one["note"].startswith(f"“{hit['highlight']}”") and "(para. 5)" in one["note"]  # just the answering sentence
    stale = run_cli("-m", "kb", "--kb", str(kb_dir), "cite", link.split("~")[0] + "~00000000", env_extra=env)
    assert stale.returncode == 0 and "has changed since this link was made" in stale.stderr
    bad = run_cli("-m", "kb", "--kb", str(kb_dir), "cite", "not-a-link", env_extra=env)
    assert bad.returncode == 2 and "not a permalink" in bad.stderr


def test_cli_glosses_text_passages_and_articles(kb, kb_dir):
    kb.close()
    env = {"KB_MODEL": HASH}
    r = run_cli("-m", "kb", "--kb", str(kb_dir), "gloss", "跨境电商的全托管模式", env_extra=env)
    assert r.returncode == 0 and "跨境电商\tkuà jìng diàn shāng\tcross-border e-commerce" in r.stdout
    assert "全托管\tquán tuō guǎn\tfully managed model" in r.stdout  # a glossary term: pinyin from its parts
    link = json.loads(run_cli("-m", "kb", "--kb", str(kb_dir), "search", "--json", "-k", "1", "广州 仓库",
                              env_extra=env).stdout)["hits"][0]["permalink"]
    rows = json.loads(run_cli("-m", "kb", "--kb", str(kb_dir), "gloss", "--passage", link, "--json", env_extra=env).stdout)
    assert {"word", "pinyin", "meaning", "start", "end"} <= set(rows[0]) and any(r["word"] == "广州" for r in rows)
    bad = run_cli("-m", "kb", "--kb", str(kb_dir), "gloss", env_extra=env)
    assert bad.returncode == 2 and "gloss needs TEXT" in bad.stderr
