"""Reading files in their encodings and formats, and cleaning page noise."""
from __future__ import annotations

import pytest

from ingest.clean import clean_text, parse_date
from ingest.readers import read_file
from kb.errors import ReadError
from kb.segment import split_sentences
from kb.text import normalize

from .conftest import ROOT, SEED, SEED_NOISE

ZH = "跨境电商平台在美国市场的扩张速度很快。卖家们需要关注合规与物流问题。"


@pytest.mark.parametrize("enc", ["utf-8", "utf-8-sig", "gb18030", "gbk", "big5", "utf-16"])
def test_text_in_every_encoding(tmp_path, enc):
    text = "標題\n\n" + ("跨境電商平台在美國市場的擴張速度很快。" if enc == "big5" else ZH)
    f = tmp_path / f"a-{enc}.txt"
    f.write_bytes(text.encode(enc))
    assert read_file(f).text.strip("\ufeff") == text


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("lang", ["zh", "zh-no-ascii", "en"])
def test_utf16_without_a_bom_is_recognised_by_its_byte_pattern(tmp_path, enc, lang):
    """Was refused as "binary file (NUL bytes)" (English; Chinese with ASCII in it) or misread."""
    text = {"zh": "标题\n\n" + ZH + "卖家需要 TikTok Shop 的数据。\n" * 3,
            "zh-no-ascii": "跨境电商平台的扩张速度很快卖家们需要关注合规与物流问题" * 4,
            "en": "A title\n\nCross-border sellers watch their warehouses and their logistics costs.\n" * 3}[lang]
    f = tmp_path / f"a-{lang}-{enc}.txt"
    f.write_bytes(text.encode(enc))
    assert read_file(f).text.strip() == text.strip()


def test_empty_binary_and_missing_files_raise_read_error(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"  \n\t")
    (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 40)
    for name, reason in (("empty.txt", "empty"), ("bin.txt", "binary")):
        with pytest.raises(ReadError, match=reason):
            read_file(tmp_path / name)
    with pytest.raises(ReadError):
        read_file(tmp_path / "nope.txt")


def test_html_main_content_and_metadata(tmp_path):
    page = """<!doctype html><html><head><meta charset="utf-8"><title>TikTok 电商上线 - 跨境头条</title>
    <meta name="author" content="王小明"><meta property="article:published_time" content="2023-09-12">
    <link rel="canonical" href="https://example.com/a/1"></head><body>
    <nav>首页 新闻 登录</nav><article><h1>TikTok 电商上线</h1>
    <p>北京时间9月12日下午,TikTok官网的信息显示,其在美国正式上线电商服务TikTok Shop。</p>
    <p>TikTok方面透露,在测试阶段,美国已经有20万商家入驻TikTok电商。</p></article>
    <footer>版权所有 © 2023</footer><script>alert(1)</script></body></html>"""
    f = tmp_path / "a.html"
    f.write_text(page, encoding="utf-8")
    d = read_file(f)
    assert "20万商家入驻" in d.text and "首页 新闻" not in d.text and "alert" not in d.text
    assert d.author == "王小明" and d.date == "2023-09-12" and d.url == "https://example.com/a/1"
    assert "TikTok 电商上线" in d.title


def test_markdown_headings_become_lines_and_title(tmp_path):
    f = tmp_path / "a.md"
    f.write_text("# Title here\n\n## Section\n\nSome **bold** text with [a link](http://x).\n", encoding="utf-8")
    d = read_file(f)
    assert d.title == "Title here"
    assert "Section\n" in d.text and "Some bold text with a link." in d.text


def test_seed_cleaning_drops_noise_keeps_every_body_sentence():
    raw = SEED.read_text(encoding="utf-8")
    c = clean_text(raw)
    assert c.title == "20万卖家已入驻!TikTok在美正式推出电商服务"
    assert c.source == "跨境电商头条"
    assert c.date is None  # "8个月前" is relative: unknown, not guessed
    for noise in SEED_NOISE:
        assert noise not in c.text, noise
    assert c.title not in c.text
    # Every sentence of the body (between the byline and the source line) is kept.
    body = raw[raw.index("千呼万唤"):raw.index("文章来源")]
    body = normalize(body.replace("20万卖家已入驻!TikTok在美正式推出电商服务\n", ""))
    for s in split_sentences(body):
        assert body[s.start:s.end] in c.text


def test_dates():
    assert parse_date("2023年9月12日") == "2023-09-12"
    assert parse_date("发布时间: 2023/09/02 10:00") == "2023-09-02"
    assert parse_date("8个月前") is None and parse_date("9月12日") is None
    c = clean_text("标题行\n发布时间:2023年9月12日\n作者:李雷\n正文第一句。正文第二句。")
    assert (c.date, c.author, c.text) == ("2023-09-12", "李雷", "正文第一句。正文第二句。")


def test_a_page_read_again_and_again_in_one_process_keeps_its_body():
    """trafilatura's deduplication remembers text across pages: without a reset per page, the
    fourth read of the same page in one process (an app re-ingesting an updated page, a test
    session) came back without its body."""
    from ingest.readers import read_file
    page = ROOT / "data" / "articles" / "zh" / "wiki-zh-04.html"
    texts = [read_file(page).text for _ in range(6)]
    assert len(texts[0]) > 500 and all(t == texts[0] for t in texts)
