"""Streamlit app: ask in Chinese or English, read cited passages, add and manage articles.

    streamlit run app.py            (KB folder: KB_DIR, default data/kb)

A thin layer over the `kb` library: retrieval, citations and rendering helpers live in kb/.
"""
from __future__ import annotations

import hashlib
import html
import time
from pathlib import Path

import streamlit as st

from kb import Filters, KnowledgeBase, config
from kb.errors import KBError
from kb.params import Settings
from kb.results import is_iso_date, ocr_confidence
from kb.view import context_span, explain, export_name, keywords, md_escape, render, upload_path

PAGES = ["Ask", "Read", "Collections", "Add articles", "Library"]
LANGS = {"any": None, "Chinese (zh)": "zh", "English (en)": "en", "mixed": "mixed"}
CSS = """<style>
mark.kb-answer {background: #ffe58f; color: #1f1f1f; padding: 0;}
.kb-passage {background: rgba(64, 150, 255, 0.18);}
.kb-text {line-height: 1.7; font-size: 1rem;}
.kb-text b {color: color-mix(in srgb, #c41d7f 60%, currentColor);}  /* magenta, toward the theme's text colour */
.kb-why {font-size: 0.85rem; opacity: 0.8; margin: 0.2rem 0 0.4rem 0;}
.kb-gloss {position: relative; cursor: pointer; outline: none; border-radius: 2px;
  text-decoration: underline dotted color-mix(in srgb, currentColor 28%, transparent); text-underline-offset: 0.25em;}
.kb-gloss:hover, .kb-gloss:focus {background: color-mix(in srgb, currentColor 10%, transparent);}
/* The gloss as a popover on hover, click or touch (the span takes focus): drawn from its data
   attribute, so it is never selected or copied with the article's text. */
.kb-gloss:hover::after, .kb-gloss:focus::after {content: attr(data-gloss); position: absolute; left: 0; top: 1.7em;
  z-index: 20; width: max-content; max-width: min(24em, 80vw); white-space: pre-line; pointer-events: none;
  padding: 0.35em 0.6em; border-radius: 0.4em; font-size: 0.85rem; line-height: 1.4; font-weight: normal;
  color: #1f1f1f; background: #fffbe6; border: 1px solid #d9c27a; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.25);}
@media (prefers-color-scheme: dark) {.kb-gloss:hover::after, .kb-gloss:focus::after {color: #f0f0f0; background: #262730; border-color: #5a5c70;}}
</style>"""
DICT_CREDIT = ("Dictionary translations: CC-CEDICT (MDBG, https://cc-cedict.org/wiki/, CC BY-SA 4.0) "
               "and this project's glossary (data/glossary.tsv).")

st.set_page_config(page_title="Article knowledge base", page_icon="📚", layout="wide")
st.markdown(CSS, unsafe_allow_html=True)  # static CSS only; article content is escaped in kb.view


@st.cache_resource(show_spinner="Opening the knowledge base…")
def open_kb(path: str) -> KnowledgeBase:
    """One KnowledgeBase per process and folder, its indexes loaded. The rest of what the first
    search needs (model, jieba, the bilingual dictionary) loads in the background while the first
    page is drawn; a question asked before it is ready waits for it (each part loads once, under
    its own lock)."""
    import threading
    kb = KnowledgeBase.open(path, create=True, settings=Settings.from_env())  # the settings, read once here
    # The indexes load here, not in the background: numpy reads each .npy header with ast.parse,
    # and on CPython 3.11.7 two threads building AST objects at once can fail ("AST constructor
    # recursion depth mismatch") — Streamlit parses the page scripts on its own thread.
    kb.ensure_indexes()
    threading.Thread(target=_warm_up, args=(kb,), name="kb-warm-up", daemon=True).start()
    return kb


def _warm_up(kb: KnowledgeBase) -> None:
    try:
        kb.warm_up()
    except Exception:  # noqa: BLE001 - the first search meets the same failure and shows it
        pass


def kb_dir() -> str:
    return config.get("KB_DIR")


def qp(name: str, default: str = "") -> str:
    return st.query_params.get(name, default)


def set_qp(_clear: bool = False, **kw) -> None:
    """Change the URL's parameters (all others dropped with ``_clear``) in one step, and only when
    they change: each change is one entry in the browser's history, which Back walks through."""
    new = {} if _clear else st.query_params.to_dict()
    for k, v in kw.items():
        if v in (None, "", "any"):
            new.pop(k, None)
        else:
            new[k] = str(v)
    if new != st.query_params.to_dict():
        st.query_params.from_dict(new)


def _h(s) -> str:
    """Text inside one of our HTML snippets: escaped, and on one line (a blank line would end the
    HTML block and let Markdown syntax after it render)."""
    return html.escape(" ".join(str(s or "").split()))


def _follow_url(key: str, from_url) -> None:
    """Give widget ``key`` the URL's value when the URL changed since the last run (a link, the
    browser's Back, Open article), and leave it alone otherwise. The widget keeps one identity
    (its key) whatever its value: a widget drawn with its value as an argument becomes a new
    widget when the value changes, and the user's next change to it is lost."""
    seen = f"{key}__url"
    if key not in st.session_state or st.session_state.get(seen) != from_url:
        st.session_state[key] = from_url
        st.session_state[seen] = from_url


def _wrote_url(*keys: str) -> None:
    """The widgets' values are in the URL now (``set_qp``): what ``_follow_url`` sees next run."""
    for key in keys:
        st.session_state[f"{key}__url"] = st.session_state[key]


def _url_count(raw: str) -> int:
    """The URL's ``k`` as the slider takes it: 1-20, else the default 5 (``?k=²`` or ``?k=99``)."""
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 20 else 5


def empty_state(kb: KnowledgeBase) -> bool:
    if kb.store.counts()["articles"]:
        return False
    st.info("This knowledge base is empty. Add articles on the **Add articles** page, or from a terminal:\n\n"
            f"`python -m ingest --kb {kb.path} data/articles`")
    return True


# --- Ask ------------------------------------------------------------------------------------
def page_ask(kb: KnowledgeBase) -> None:
    st.header("Ask")
    if empty_state(kb):
        return
    arts = kb.articles()
    with st.sidebar:
        st.subheader("Filters")
        lang_names = list(LANGS)
        lang_val = qp("lang")
        _follow_url("f_lang", next((n for n in lang_names if LANGS[n] == lang_val), lang_names[0]))
        lang = st.selectbox("Language", lang_names, key="f_lang")
        sources = ["any"] + kb.sources()
        _follow_url("f_source", qp("source") if qp("source") in sources else "any")
        source = st.selectbox("Source", sources, key="f_source")
        _follow_url("f_since", qp("since"))
        since = st.text_input("From date (YYYY-MM-DD)", key="f_since")
        _follow_url("f_until", qp("until"))
        until = st.text_input("To date (YYYY-MM-DD)", key="f_until")
        art_ids = ["any"] + [a.id for a in arts]
        titles = {a.id: f"{a.title} ({a.id[:6]})" for a in arts}
        _follow_url("f_article", qp("article") if qp("article") in art_ids else "any")
        article = st.selectbox("Article", art_ids, format_func=lambda i: titles.get(i, i), key="f_article")
        _follow_url("f_k", _url_count(qp("k", "5")))
        k = st.slider("Results", 1, 20, key="f_k")
        recent = st.container()  # filled once this run's question is known
    # the URL's question is the box's first value only: once the session holds one (typed, or set by a
    # recent question's button), passing both made Streamlit warn about a default and a Session State value
    first_q = {} if "query" in st.session_state else {"value": qp("q")}
    query = st.text_input("Question (Chinese or English)", key="query", **first_q,
                          placeholder="e.g. How many merchants joined TikTok Shop in the US? / 全托管模式有什么风险")
    for label, v in (("From date", since), ("To date", until)):
        if v and not is_iso_date(v):
            st.error(md_escape(f"{label} must look like 2023-09-12, 2023-09 or 2023 (got {v!r})."))
            return
    set_qp(page="Ask", q=query.strip(), lang=LANGS[lang], source=source, since=since, until=until, article=article,
           k=k if k != 5 else None)
    _wrote_url("f_lang", "f_source", "f_since", "f_until", "f_article", "f_k")
    # Kept for coming back from another page (the page switcher clears the URL's parameters).
    st.session_state["last_ask"] = {k: v for k, v in st.query_params.to_dict().items() if k != "page"}
    history = st.session_state.setdefault("history", [])
    if query.strip() and query.strip() not in history:
        history.insert(0, query.strip())
        del history[20:]
    if history:
        with recent:
            st.subheader("Recent questions")
            for i, past in enumerate(history):
                st.button(md_escape(past if len(past) <= 60 else past[:57] + "…"), key=f"hist-{i}", help=md_escape(past),
                          on_click=_recall,
                          args=(past,))
    if not query.strip():
        st.caption(f"{len(arts)} articles, {kb.store.counts()['passages']} passages. Type a question and press Enter.")
        _run_script("const el = window.parent.document.querySelector('input[aria-label=\"Question (Chinese or English)\"]');"
                    " if (el && !window.parent.document.activeElement.matches('input, textarea')) el.focus();")
        return
    filters = Filters(lang=LANGS[lang], source=None if source == "any" else source, since=since or None,
                      until=until or None, article=None if article == "any" else article)
    try:
        hits = kb.search(query, k=k, filters=filters)
    except KBError as e:
        st.error(md_escape(e))
        return
    if not hits:
        st.warning("No passage matches this question with these filters.")
        return
    top = hits[0]
    conf = getattr(hits, "confidence", None)
    related = bool(getattr(hits, "no_answer", False))
    # this question's widgets (selection, open boxes) start afresh when the question or filters change
    qkey = hashlib.sha1(repr((query.strip(), filters)).encode()).hexdigest()[:10]
    if related:
        why = getattr(hits, "reason", None)
        st.warning("No passage in your library seems to answer this — closest passages:\n\n"
                   + md_escape(f"Confidence {conf:.2f}" + (f": {why}." if why and why != "low confidence" else ".")))
    else:
        st.markdown(f'<div class="kb-text"><strong>Answer</strong> [{top.rank}]: {render(top.highlight)}</div>',
                    unsafe_allow_html=True)
        st.markdown(f'<div class="kb-why">from “{_h(top.title)}”, paragraph {top.answer_paragraph}'
                    + (f" · confidence {conf:.2f}" if conf is not None else "") + "</div>", unsafe_allow_html=True)
    export_results(hits, query, qkey, related)
    st.divider()
    for h in hits:
        show_hit(kb, h, qkey, related=related)


CITE_FORMATS = {"BibTeX": ("bibtex", "bib"), "RIS": ("ris", "ris"), "CSL-JSON": ("csl-json", "json"),
                "Markdown": ("md", "md")}


def _selected_key(qkey: str, h) -> str:
    return f"sel-{qkey}-{h.rank}-{h.passage_id}"


def export_results(hits, query: str, qkey: str, related: bool) -> None:
    """The results' citations (each answering sentence quoted) in a reference manager's format:
    all of them, or those ticked "Select for export" (every hit when the library answers, none
    when nothing seems to answer: the cards are then only possibly related)."""
    from kb.cite import MEDIA, Reference, export
    picked = [h for h in hits if st.session_state.get(_selected_key(qkey, h), not related)]
    c = st.columns([1, 1, 1, 2])
    label = c[0].selectbox("Citation format", list(CITE_FORMATS), key="cite_fmt", label_visibility="collapsed")
    fmt, ext = CITE_FORMATS[label]
    name = f"{export_name(query, time.strftime('%Y-%m-%d'))}.{ext}"
    c[1].download_button(f"Export {len(picked)} selected", export([Reference.from_hit(h) for h in picked], fmt),
                         file_name=name, mime=MEDIA[fmt], key="cite_selected", disabled=not picked, type="primary",
                         help="the citations of the results ticked “Select for export”", width="stretch",
                         on_click="ignore")
    c[2].download_button(f"Export all {len(hits)}", export([Reference.from_hit(h) for h in hits], fmt),
                         file_name=name, mime=MEDIA[fmt], key="cite_all", help="the citations of every result", width="stretch",
                         on_click="ignore")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _recall(question: str) -> None:
    """A recent question's button: ask it again (a callback: it runs before the question box is drawn)."""
    st.session_state["query"] = question



def ocr_label(confidence: float | None) -> str:
    """How a card or list says its text was read from an image ('' when it was not)."""
    return "" if confidence is None else f"read by OCR ({confidence:.1%} confidence)"


def show_hit(kb: KnowledgeBase, h, qkey: str, related: bool = False) -> None:
    """One result card; ``related``: the search found no answer, so the card is a possibly related
    passage. ``qkey`` names this question's widgets (a new question opens with its boxes closed)."""
    with st.container(border=True):
        st.markdown(f"**[{h.rank}] {md_escape(h.title)}**" + (" · *possibly related*" if related else ""))
        page, para = h.answer_page, h.answer_paragraph
        meta = " · ".join(x for x in (h.source, h.date, f"page {page}" if page else "", f"paragraph {para}",
                                      h.lang, ocr_label(h.ocr), f"score {h.score:.3f}") if x)
        st.caption(md_escape(meta))
        st.markdown(f'<div class="kb-why">Why here: {_h(explain(h))}</div>', unsafe_allow_html=True)
        st.markdown(f'<div class="kb-text">{render(h.text, h.start, (h.highlight_start, h.highlight_end), h.marks, glosses=_glosses(h.text))}</div>',
                    unsafe_allow_html=True)
        cols = iter(st.columns([1, 1, 1, 2], vertical_alignment="center"))
        if h.url and h.url.lower().startswith(("http://", "https://")):  # (never javascript: or data:)
            next(cols).link_button("Original", h.url)
        opened = next(cols).button("Open article", key=f"open-{h.rank}-{h.passage_id}")
        next(cols).checkbox("Select for export", value=not related, key=_selected_key(qkey, h))
        if opened:
            # (the question stays in the URL, for coming back after a reload)
            set_qp(_clear=True, page="Read", article=h.article_id, passage=h.passage_id, span=f"{h.start}-{h.end}",
                   hl=f"{h.highlight_start}-{h.highlight_end}", q=st.session_state.get("last_ask", {}).get("q"))
            st.session_state["goto_page"] = "Read"  # the page switcher is already drawn: moved on the next run
            st.rerun()
        with st.expander("Context: surrounding paragraphs", key=f"ctx-{qkey}-{h.rank}"):
            art = kb.store.article(h.article_id)
            s, e = context_span(art.text, h.start, h.end)
            st.markdown(f'<div class="kb-text">{render(art.text[s:e], s, (h.highlight_start, h.highlight_end), passage=(h.start, h.end))}</div>',
                        unsafe_allow_html=True)
        with st.expander("Copy citation", key=f"cite-{qkey}-{h.rank}"):
            from kb.cite import MEDIA, Reference, export
            st.code(h.citation(), language=None, wrap_lines=True)
            st.caption(f"Permalink: `{h.permalink}` (python -m kb passage …, or the API's /passages/…)")
            label = st.session_state.get("cite_fmt", "BibTeX")
            fmt, ext = CITE_FORMATS[label]
            st.download_button(f"Download this citation ({label})", export([Reference.from_hit(h)], fmt),
                               file_name=f"{h.article_id}-{h.start}.{ext}", mime=MEDIA[fmt], key=f"cite-{h.rank}-{h.passage_id}",
                               on_click="ignore")
        with st.expander("Keep in a collection", key=f"keep-{qkey}-{h.rank}"):
            save_form(kb, h)


def save_form(kb: KnowledgeBase, h) -> None:
    """Keep this hit (its answering sentence quoted) in a named collection, with a note."""
    from kb import collection as col
    names = [c["name"] for c in col.listing(kb)]
    key = f"{h.rank}-{h.passage_id}"
    with st.form(f"keep-{key}", clear_on_submit=False, border=False):
        name = st.text_input("Collection", value=st.session_state.get("last_collection", names[0] if names else ""),
                             key=f"keep-name-{key}", placeholder="e.g. Chapter 3")
        note = st.text_area("Note", key=f"keep-note-{key}", height=68)
        if st.form_submit_button("Save to collection"):
            try:
                col.save(kb, name, h.permalink, note, quote=h.highlight)
            except KBError as e:
                st.error(md_escape(e))
            else:
                st.session_state["last_collection"] = name.strip()
                st.success(md_escape(f"Kept in “{name.strip()}”."))


def _glosses(text: str) -> list[tuple[int, int, str]] | None:
    """Pinyin and English of each Chinese word (CC-CEDICT and the glossary), the reading and
    senses its sentence suggests first and up to two other readings after, as popover text, when
    the sidebar's switch is on."""
    from kb.text import has_han
    if not st.session_state.get("glosses") or not has_han(text):
        return None
    return _glosses_of(text)


@st.cache_data(max_entries=256, show_spinner=False)
def _glosses_of(text: str) -> list[tuple[int, int, str]]:
    """(Cached: every rerun redraws the same article and hits; cutting a long article takes a while.)"""
    from kb import dictionary
    out = []
    for s, e, g in dictionary.get().gloss_entries(text):
        lines = [f"{g.pinyin} — {'; '.join(g.senses[:3])}" if g.pinyin else "; ".join(g.senses[:3])]
        lines += [f"also {py}: {'; '.join(senses[:3])}" for py, senses in g.others[:2]]
        out.append((s, e, "\n".join(lines)))
    return out


def _span(raw: str, within: tuple[int, int] | None) -> tuple[int, int] | None:
    """A START-END span from the URL, if it lies inside ``within`` (the cited passage)."""
    a, _, b = (raw or "").partition("-")
    if not (within and a.isdigit() and b.isdigit()):
        return None
    s, e = int(a), int(b)
    return (s, e) if within[0] <= s < e <= within[1] else None


def _scroll_to(selector: str) -> None:
    """Scroll the page to the first element matching ``selector`` once it is drawn."""
    import json
    _run_script(f"""let tries = 0;
      const go = () => {{
        const el = window.parent.document.querySelector({json.dumps(selector)});
        if (el) {{ el.scrollIntoView({{block: "center"}}); }} else if (tries++ < 50) {{ setTimeout(go, 100); }}
      }};
      go();""")


def _run_script(js: str) -> None:
    """Run our own JavaScript on the page: a script in a tiny frame, which shares the page's origin
    (never pass it text from articles or users)."""
    script = f"<script>{js}</script>"
    if hasattr(st, "iframe"):  # (Streamlit >= 1.5x; components.html is deprecated there)
        st.iframe(script, height=1)
    else:
        import streamlit.components.v1 as components
        components.html(script, height=0)


# --- Read -----------------------------------------------------------------------------------
def page_read(kb: KnowledgeBase) -> None:
    st.header("Read")
    if empty_state(kb):
        return
    arts = kb.articles()
    ids = [a.id for a in arts]
    titles = {a.id: f"{a.title} ({a.id[:6]})" for a in arts}
    want = qp("article")
    last = st.session_state.get("last_read")
    _follow_url("read_article", want if want in ids else last if last in ids else ids[0])
    aid = st.selectbox("Article", ids, format_func=lambda i: titles[i], key="read_article")
    st.session_state["last_read"] = aid  # (the page switcher brings this one back)
    if aid != want:
        set_qp(article=aid, passage=None, span=None, hl=None)
    _wrote_url("read_article")
    art = kb.store.article(aid)
    passages = kb.store.passages_of(aid)
    cited = next((p for p in passages if str(p["id"]) == qp("passage")), None)
    st.subheader(md_escape(art.title), anchor=False)  # (no anchor link made from the title)
    meta = {"Source": art.source, "Author": art.author, "Date": art.date, "Language": art.lang, "URL": art.url,
            "File": art.path, "Ingested": art.ingested_at, "Passages": len(passages), "Id": art.id,
            "Read by OCR": ocr_pages(art.meta)}
    st.table({"field": [k for k, v in meta.items() if v], "value": [md_escape(v) for v in meta.values() if v]})
    st.markdown("**Keywords:** " + md_escape(" · ".join(keywords(art.text))))
    span = (cited["start"], cited["end"]) if cited else None
    # The span the result card showed: the cited passage, with the overlapping passages merged into it.
    shown = _span(qp("span"), (0, len(art.text)))
    if span and shown and shown[0] <= span[0] < shown[1]:
        span = shown
    hl = _span(qp("hl"), span)
    if cited and hl:
        from kb.results import paragraph_at
        para = paragraph_at(art.text, 1, hl[0])
        st.caption(f"The cited passage is shaded; the answering sentence (paragraph {para}) is marked.")
    elif cited:
        st.caption(f"The cited passage (paragraph {cited['paragraph']}) is shaded.")
    body = st
    if (art.meta or {}).get("kind") in ("pdf", "image") and st.toggle(
            "Show the page beside the text", value=bool(cited), key=f"pageview-{aid}",
            help="the page as printed (or scanned), with the marked sentence outlined"):
        left, body = st.columns([1, 1], gap="medium")
        with left:
            show_page(art, hl or span)
    body.markdown(f'<div class="kb-text">{render(art.text, 0, hl, passage=span, glosses=_glosses(art.text))}</div>',
                  unsafe_allow_html=True)
    if cited:
        _scroll_to("mark.kb-answer, .kb-passage")
    with st.expander(f"All {len(passages)} passages"):
        for p in passages:
            st.markdown(f"**#{p['seq'] + 1}** · paragraph {p['paragraph']} · chars {p['start']}–{p['end']} · {p['lang']}")
            st.text(p["text"])


def show_page(art, mark: tuple[int, int] | None) -> None:
    """Page n of a PDF or scanned article as printed, the marked sentence outlined on it
    (``ingest.pages``); it opens at the marked sentence's page."""
    import bisect

    from ingest import pages
    from kb.errors import ReadError
    count = pages.page_count(art)
    starts = (art.meta or {}).get("pages") or []
    at = 1 + bisect.bisect_right(starts, mark[0]) if mark else 1
    n = st.session_state.get(f"pv-page-{art.id}-{at}", min(at, count))
    try:
        img = pages.page_image(art, n)
        found = []
        if mark and n == at:
            ocr_page = n in (((art.meta or {}).get("ocr") or {}).get("pages") or [])
            with st.spinner("Reading the page again to place the sentence (a few seconds)…" if ocr_page else "Placing the sentence…"):
                found = pages.boxes(art, n, *mark)
    except ReadError as e:
        st.info(md_escape(f"The page cannot be shown: {e}"))
        return
    if mark and n == at:  # (above the page: a tall page would push it out of sight)
        st.caption("The marked sentence is outlined on the page." if found else
                   "The marked sentence could not be placed on this page (its text there differs from the stored text).")
    else:
        st.caption(f"Page {n} of {count}" + (f"; the marked sentence is on page {at}" if mark else ""))
    st.image(pages.outlined(img, found) if found else img, width="stretch")
    # (below the page: the image's fullscreen button sits at its top right, over a box drawn above it)
    st.number_input(f"Page (of {count})", 1, count, min(at, count), key=f"pv-page-{art.id}-{at}")


# --- Collections ----------------------------------------------------------------------------
def page_collections(kb: KnowledgeBase) -> None:
    from kb import collection as col
    from kb.cite import MEDIA, export
    st.header("Collections")
    if st.session_state.get("col_done"):
        st.success(md_escape(st.session_state.pop("col_done")))
    undo = st.session_state.get("col_undo")  # the last removal or deletion, undoable this session
    if undo and st.button(f"Undo: {undo['label']}", key="col-undo"):
        try:
            back = [col.restore(kb, tid) for tid in undo["ids"]]
        except KBError as e:
            st.error(md_escape(e))
        else:
            st.session_state.pop("col_undo")
            if back:
                set_qp(c=back[0]["collection"])
                st.session_state["last_collection"] = back[0]["collection"]
            st.session_state["col_done"] = f"Undone: {undo['label']} ({_count(len(back), 'item')} back)."
            st.rerun()
    rows = col.listing(kb)
    if not rows:
        st.info("No collections yet. On the Ask page, open **Keep in a collection** under a result to save it with a note.")
        return
    names = [r["name"] for r in rows]
    want = qp("c") or st.session_state.get("last_collection")
    name = st.selectbox("Collection", names, index=names.index(want) if want in names else 0,
                        format_func=lambda n: f"{n} ({_count(next(r['items'] for r in rows if r['name'] == n), 'item')})")
    set_qp(c=name)
    st.session_state["last_collection"] = name
    items = col.items(kb, name)
    c = st.columns([1, 1, 1, 2])
    label = c[0].selectbox("Format", list(CITE_FORMATS), key="col_fmt", label_visibility="collapsed")
    fmt, ext = CITE_FORMATS[label]
    picked = [it for it in items if st.session_state.get(f"col-sel-{it['id']}", True)]
    file_name = f"{export_name(name, time.strftime('%Y-%m-%d'))}.{ext}"
    c[1].download_button(f"Export {len(picked)} selected", export(col.references(kb, name, picked), fmt),
                         file_name=file_name, mime=MEDIA[fmt], key="col_export_selected", disabled=not picked, type="primary",
                         help="the citations of the items ticked “Select for export”", width="stretch", on_click="ignore")
    c[2].download_button(f"Export all {len(items)}", export(col.references(kb, name, items), fmt),
                         file_name=file_name, mime=MEDIA[fmt], key="col_export", help="the citations of every item",
                         width="stretch", on_click="ignore")
    manage_collection(kb, name, names)
    for it in items:
        with st.container(border=True):
            st.markdown(f"**{md_escape(it['title'])}**")
            if it["status"] != "ok":
                st.warning("The article has changed since this was kept; the quote is as it was."
                           if it["status"] == "changed" else "The article has been removed; the quote is as it was.")
            st.markdown(f'<div class="kb-text">“{render(it["quote"])}”</div>', unsafe_allow_html=True)
            if it["note"]:
                st.markdown(f'<div class="kb-why">Note: {_h(it["note"])}</div>', unsafe_allow_html=True)
            b = iter(st.columns([1, 1, 1, 2], vertical_alignment="center"))
            cur = it["current"]
            if cur and next(b).button("Open article", key=f"col-open-{it['id']}"):
                start = cur["start"] + max(0, cur["text"].find(it["quote"]))
                pid = next((p["id"] for p in cur["passages"] if p["start"] <= start and start + len(it["quote"]) <= p["end"]),
                           cur["passages"][0]["id"] if cur["passages"] else None)
                set_qp(_clear=True, page="Read", article=cur["article"]["id"], passage=pid,
                       hl=f"{start}-{start + len(it['quote'])}" if it["status"] == "ok" else None)
                st.session_state["goto_page"] = "Read"
                st.rerun()
            if next(b).button("Remove…", key=f"col-rm-{it['id']}"):
                st.session_state["col_rm_confirm"] = it["id"]
            next(b).checkbox("Select for export", value=True, key=f"col-sel-{it['id']}")
            if st.session_state.get("col_rm_confirm") == it["id"] and confirmed(
                    "col_rm_confirm", f"Remove this item (“{it['title']}”) from “{name}”?", "Yes, remove",
                    f"col-rm-yes-{it['id']}", f"col-rm-no-{it['id']}"):
                tid = col.remove(kb, name, it["id"])
                st.session_state["col_done"] = f"Removed the item “{it['title']}” from “{name}”."
                st.session_state["col_undo"] = {"ids": [tid], "label": f"remove “{it['title']}” from “{name}”"}
                st.rerun()
            with st.expander("Edit note or move", key=f"col-edit-{it['id']}"):
                with st.form(f"col-edit-form-{it['id']}", border=False):
                    note = st.text_area("Note", value=it["note"], key=f"col-note-{it['id']}", height=68)
                    to = st.selectbox("Move to collection", names + ["New collection…"], index=names.index(name),
                                      key=f"col-to-{it['id']}")
                    new = st.text_input("New collection's name", key=f"col-new-{it['id']}",
                                        help="used when the collection above is “New collection…”")
                    if st.form_submit_button("Save item"):
                        target = (new if to == "New collection…" else to).strip()
                        try:
                            col.update(kb, name, it["id"], note=note, to=target or None)
                        except KBError as e:
                            st.error(md_escape(e))
                        else:
                            moved = target and target != name
                            st.session_state["col_done"] = (f"Moved “{it['title']}” to “{target}”." if moved
                                                            else f"Saved the note of “{it['title']}”.")
                            st.rerun()


def manage_collection(kb: KnowledgeBase, name: str, names: list[str]) -> None:
    """Rename or delete the collection shown (a delete asks first)."""
    from kb import collection as col
    with st.expander("Rename or delete this collection", key=f"col-manage-{name}"):
        with st.form(f"col-rename-{name}", border=False):
            new = st.text_input("New name", value=name, key=f"col-rename-name-{name}")
            if st.form_submit_button("Rename"):
                try:
                    col.rename(kb, name, new)
                except KBError as e:
                    st.error(md_escape(e))
                else:
                    set_qp(c=new.strip())
                    st.session_state["last_collection"] = new.strip()
                    st.session_state["col_done"] = f"Renamed “{name}” to “{new.strip()}”."
                    st.rerun()
        if st.button("Delete collection…", key=f"col-del-{name}"):
            st.session_state["col_del_confirm"] = name
        if st.session_state.get("col_del_confirm") == name and confirmed(
                "col_del_confirm", f"Delete “{name}” and its {_count(len(col.items(kb, name)), 'item')}? The articles stay "
                "in the library, and Undo brings the items back.", "Yes, delete", f"col-del-yes-{name}", f"col-del-no-{name}"):
            ids = col.delete(kb, name)
            st.session_state.pop("last_collection", None)
            set_qp(c=None)
            st.session_state["col_done"] = f"Deleted the collection “{name}”."
            if ids:  # (an empty collection has nothing to bring back)
                st.session_state["col_undo"] = {"ids": ids, "label": f"delete the collection “{name}”"}
            st.rerun()


def confirmed(key: str, message: str, yes: str, yes_key: str, no_key: str) -> bool:
    """The second step of an action that asks first (its first button set ``st.session_state[key]``):
    ``message`` with ``yes`` and Cancel. True once confirmed; Cancel forgets the request."""
    st.warning(md_escape(message))
    y, n = st.columns([1, 4])
    if y.button(yes, type="primary", key=yes_key):
        st.session_state.pop(key, None)
        return True
    if n.button("Cancel", key=no_key):
        st.session_state.pop(key, None)
        st.rerun()
    return False


# --- Add ------------------------------------------------------------------------------------
def page_add(kb: KnowledgeBase) -> None:
    st.header("Add articles")
    st.caption("Text and Markdown (UTF-8, GBK/GB18030 or Big5), HTML pages, PDF, DOCX and EPUB; scans and photos of "
               "pages (PNG, JPEG, WebP, TIFF, and PDF pages without text) are read by OCR, about 3-5 s a page. "
               "Uploaded files are stored in the KB folder.")
    add_uploads(kb)
    st.divider()
    add_folder(kb)


def add_uploads(kb: KnowledgeBase) -> None:
    """Files uploaded through the browser and web links."""
    from ingest import ingest, is_url
    from ingest.pipeline import time_left
    from ingest.readers import SUPPORTED

    def shown(p: str) -> str:
        """What the user gave: a link as its URL, an upload by its file name."""
        return p if is_url(p) else Path(p).name
    files = st.file_uploader("Article files", accept_multiple_files=True, type=sorted(e.lstrip(".") for e in SUPPORTED))
    links = st.text_area("Or web links, one per line", key="links", placeholder="https://…")
    urls = [u.strip() for u in links.splitlines() if u.strip()]
    bad = [u for u in urls if not is_url(u)]
    if bad:
        st.error(md_escape(f"Not a web link (must start with http:// or https://): {bad[0]}"))
        return
    if not st.button("Add to knowledge base", type="primary", disabled=not (files or urls), key="add_go"):
        return
    folder = kb.path / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    paths = list(urls)
    bar = st.progress(0.0, text="Reading, segmenting and embedding…")
    unstored = []  # (name, why): a file that could not be stored is reported; the others go on
    try:
        for f in files or []:
            data = f.getvalue()
            try:
                target = upload_path(folder, f.name, data)  # (a folder per content: same names never collide)
                target.parent.mkdir(exist_ok=True)
                target.write_bytes(data)
            except (OSError, KBError) as e:
                unstored.append((f.name, e.strerror if isinstance(e, OSError) and e.strerror else str(e)))
                continue
            paths.append(str(target))
        started = time.time()

        def done_one(n: int, total: int, path: str) -> None:
            left = time_left(n, total, time.time() - started)
            bar.progress(n / total, text=md_escape(f"{n} of {total} done (last: {Path(path).name})" + (f" — {left}" if left else "")))
        s = ingest(kb, paths, progress=False, echo=False, on_file=done_one)
    except KBError as e:
        st.error(md_escape(e))
        return
    except OSError as e:
        from kb.errors import StorageError
        st.error(md_escape(StorageError.of(e, kb.path, doing="storing the uploads")))
        return
    bar.progress(1.0, text="Done")
    show_outcome(s, shown, [(name, f"could not be stored ({why})") for name, why in unstored])


def show_outcome(s, shown, more_failed=()) -> None:
    """An ingest's outcome: the counts (in a warning box when anything failed), a row per file or
    link, and each failure with its reason. ``shown(path)``: how the user knows that item;
    ``more_failed``: (name, reason) of items that failed before the ingest."""
    failed = [(shown(p), why) for p, why in s.failed] + list(more_failed)
    summary = (f"{len(s.added)} added, {len(s.updated)} updated, {len(s.unchanged)} unchanged, "
               f"{len(s.duplicate)} duplicate, {len(s.near_duplicate)} near-duplicate, {len(failed)} failed"
               + (f", {len(s.skipped)} skipped (a kind of file it does not read)" if s.skipped else ""))
    (st.warning if failed else st.success)(summary)  # (a batch with failures is not a plain success)
    rows = [(shown(p), "added", "") for p in s.added] + [(shown(p), "updated", "") for p in s.updated]
    rows += [(shown(p), "unchanged", "") for p in s.unchanged]
    rows += [(shown(p), "duplicate", f"same content as {o}") for p, o in s.duplicate]
    rows += [(shown(p), "near-duplicate", f"stored, linked to {o}") for p, o in s.near_duplicate]
    rows += [(name, "failed", why) for name, why in failed]
    rows += [(shown(p), "skipped", "a kind of file it does not read") for p in s.skipped]
    st.dataframe({"file or link": [r[0] for r in rows], "result": [r[1] for r in rows], "reason": [r[2] for r in rows]},
                 hide_index=True, width="stretch")
    for name, why in failed:
        st.error(md_escape(f"{name}: {why}"))


CHARS_PER_S = 1000  # what ingest reads a second on 2 cores with the bundled model (README, benchmarks/README.md "Speed")


def add_folder(kb: KnowledgeBase) -> None:
    """A folder on this machine (where the app runs), read recursively: what it holds and a
    rough time first, then each file's outcome."""
    from ingest.pipeline import collect, time_left
    st.subheader("Add a folder on this machine")
    raw = st.text_input("Folder", key="add_folder", placeholder="/home/me/articles",
                        help="a path on the machine the app runs on; its subfolders are read too")
    if not raw.strip():
        return
    root = Path(raw.strip()).expanduser()
    if not root.is_dir():
        st.error(md_escape(f"{raw.strip()}: not a folder on this machine"))
        return
    skipped: list[str] = []
    items, unreadable = collect([str(root)], skipped)
    try:
        size = sum(p.stat().st_size for p, _ in items if p is not None)
    except OSError:
        size = 0
    secs = size / 2 / CHARS_PER_S  # (about two bytes a character in a mix of Chinese and English files)
    eta = "under a minute" if secs < 60 else f"about {secs / 60:.0f} minutes"
    st.caption(md_escape(f"{_count(len(items), 'file')} it can read ({size / 2**20:.1f} MB; {eta} at this machine's pace)"
                         + (f"; {_count(len(skipped), 'other file')} of kinds it does not read, skipped: "
                            + ", ".join(Path(p).name for p in skipped[:5]) + (" …" if len(skipped) > 5 else "")
                            if skipped else "")
                         + (f"; {len(unreadable)} not listed" if unreadable else "")))
    if not items or not st.button(f"Add {_count(len(items), 'file')}", type="primary", key="add_folder_go"):
        return
    bar = st.progress(0.0, text="Reading, segmenting and embedding…")
    started = time.time()

    def done_one(n: int, total: int, path: str) -> None:
        left = time_left(n, total, time.time() - started)
        bar.progress(n / total, text=md_escape(f"{n} of {total} done (last: {Path(path).name})" + (f" — {left}" if left else "")))
    try:
        s = ingest_paths(kb, [str(root)], done_one)
    except KBError as e:
        st.error(md_escape(e))
        return
    bar.progress(1.0, text="Done")

    def shown(p: str) -> str:
        try:
            return str(Path(p).relative_to(root))
        except ValueError:
            return p
    show_outcome(s, shown, unreadable)


def ingest_paths(kb: KnowledgeBase, paths: list[str], on_file):
    from ingest import ingest
    return ingest(kb, paths, progress=False, echo=False, on_file=on_file)


# --- Library --------------------------------------------------------------------------------
def page_library(kb: KnowledgeBase) -> None:
    st.header("Library")
    gone = kb.trashed()  # (read once a run: the Undo below and the Removed articles section)
    done = st.session_state.get("rm_done")  # (kept for the session: Undo stays at hand)
    if done and any(t["id"] == done[1] for t in gone):
        title, aid = done
        st.success(md_escape(f"Removed {title}. It waits in the trash (below) until the trash is emptied."))
        if st.button("Undo", key=f"rm-undo-{aid}"):
            restore_article(kb, aid, title)
    if st.session_state.get("restored"):
        st.success(md_escape(f"Restored {st.session_state.pop('restored')}"))
    s = kb.stats()
    c = st.columns([1, 1, 2, 1])  # (the languages' counts need the room)
    c[0].metric("Articles", s["articles"])
    c[1].metric("Passages", s["passages"])
    c[2].metric("Languages", md_escape(", ".join(f"{k} {v}" for k, v in s["languages"].items())) or "–")
    c[3].metric("On disk", f"{s['bytes_on_disk'] / 2**20:.1f} MB")
    st.caption(md_escape(f"Embedder: {s['embedder']}"))
    if empty_state(kb):
        trash_section(kb, gone)
        return
    arts = kb.articles()
    f = st.columns([3, 1, 2, 1, 1])
    needle = f[0].text_input("Search titles, authors, sources and files", key="lib_filter").strip().lower()
    lang = f[1].selectbox("Language", ["any", *sorted({a.lang for a in arts if a.lang})], key="lib_lang")
    source = f[2].selectbox("Source", ["any", *kb.sources()], key="lib_source")
    since = f[3].text_input("From date", key="lib_since", placeholder="YYYY-MM-DD").strip()
    until = f[4].text_input("To date", key="lib_until", placeholder="YYYY-MM-DD").strip()
    shown = [a for a in arts
             if (not needle or needle in " ".join(str(x) for x in (a.title, a.author, a.source, a.path)).lower())
             and lang in ("any", a.lang) and source in ("any", a.source)
             and (not since or (a.date or "") >= since) and (not until or (a.date or "\uffff") <= until + "\uffff")]
    for label, v in (("From date", since), ("To date", until)):
        if v and not is_iso_date(v):
            st.error(md_escape(f"{label} must look like 2023-09-12, 2023-09 or 2023 (got {v!r}); "
                               "articles without a date are left out by date filters."))
            return
    st.caption(f"{len(shown)} of {len(arts)} articles")
    library_list(shown)
    edit_form(kb, arts)
    st.subheader("Remove an article")
    titles = {a.id: f"{a.title} ({a.id[:6]})" for a in arts}
    aid = st.selectbox("Article to remove", [a.id for a in arts], format_func=lambda i: titles[i], key="rm_pick")
    if st.button("Remove…", key="rm_ask"):
        st.session_state["rm_confirm"] = aid
    if st.session_state.get("rm_confirm") == aid and confirmed(
            "rm_confirm", f"Remove “{titles[aid]}” from the library? It waits in the trash until the trash is emptied.",
            "Yes, remove", "rm_yes", "rm_no"):
        try:
            with kb.writer():
                kb.remove(aid)
        except KBError as e:
            st.error(md_escape(e))
            return
        st.session_state["rm_done"] = (titles[aid], aid)
        st.rerun()
    trash_section(kb, gone)


def restore_article(kb: KnowledgeBase, aid: str, title: str) -> None:
    try:
        with kb.writer():
            kb.restore(aid)
    except KBError as e:
        st.error(md_escape(e))
        return
    st.session_state["restored"] = title
    st.session_state.pop("rm_done", None)
    st.rerun()


def trash_section(kb: KnowledgeBase, gone: list[dict]) -> None:
    """The removed articles (``kb.trashed()``): each can be restored until the trash is emptied
    (which asks first)."""
    with st.expander(f"Removed articles ({len(gone)})", key="trash"):
        if not gone:
            st.caption("Nothing removed. A removed article waits here, restorable, until the trash is emptied.")
            return
        for t in gone:
            c = st.columns([4, 1], vertical_alignment="center")
            c[0].markdown(md_escape(f"{t['title']} · {_count(t['passages'], 'passage')} · removed {_local_time(t['removed_at'])}"))
            if c[1].button("Restore", key=f"trash-restore-{t['id']}"):
                restore_article(kb, t["id"], t["title"])
        if st.button("Empty the trash…", key="trash_empty"):
            st.session_state["trash_confirm"] = True
        if st.session_state.get("trash_confirm") and confirmed(
                "trash_confirm", f"Drop {_count(len(gone), 'removed article')} for good? This cannot be undone.",
                "Yes, empty it", "trash_yes", "trash_no"):
            with kb.writer():
                kb.empty_trash()
            st.rerun()


LIBRARY_PAGE = 25  # articles a page of the Library lists


def library_list(arts) -> None:
    """The articles as a list a person reads: the full title (click: open it on Read), then
    author, source, date, language, passages and when it was added, in local time; paged."""
    pages = max(1, -(-len(arts) // LIBRARY_PAGE))
    at = 1
    if pages > 1:
        at = st.number_input(f"Page (of {pages})", 1, pages, 1, key="lib_page")
    for a in arts[(at - 1) * LIBRARY_PAGE:at * LIBRARY_PAGE]:
        with st.container(border=True):
            if st.button(f"**{md_escape(a.title)}**", key=f"lib-open-{a.id}", type="tertiary", help="open it on the Read page"):
                set_qp(_clear=True, page="Read", article=a.id)
                st.session_state["goto_page"] = "Read"
                st.rerun()
            facts = [a.author, a.source, a.date, {"zh": "Chinese", "en": "English"}.get(a.lang, a.lang),
                     _count(a.passages, "passage"), ocr_label(ocr_confidence(a.meta)), f"added {_local_time(a.ingested_at)}",
                     a.id[:6]]
            st.caption(md_escape(" · ".join(x for x in facts if x)))


def ocr_pages(meta) -> str:
    """'pages 1, 2 (99.4% mean confidence)' for an article read by OCR; '' otherwise."""
    o = meta.get("ocr") if isinstance(meta, dict) else None
    if not isinstance(o, dict):
        return ""
    pages = o.get("pages") or []
    c = ocr_confidence(meta)
    return (_count(len(pages), "page") + (f": {', '.join(map(str, pages[:12]))}" + (" …" if len(pages) > 12 else "")
            if len(pages) > 1 else f" (page {pages[0]})" if pages else "")
            + (f", {c:.1%} mean confidence" if c is not None else ""))


def _local_time(iso: str | None) -> str:
    """An ISO timestamp as this machine's local date and time (e.g. 2026-12-03 14:05)."""
    import datetime as dt
    try:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


def edit_form(kb: KnowledgeBase, arts) -> None:
    """Correct an article's citable metadata (``KnowledgeBase.edit``)."""
    if st.session_state.get("edit_done"):
        st.success(md_escape(f"Saved {st.session_state.pop('edit_done')}"))
    with st.expander("Edit an article's title, author, date, source or URL"):
        titles = {a.id: f"{a.title} ({a.id[:6]})" for a in arts}
        aid = st.selectbox("Article to edit", [a.id for a in arts], format_func=lambda i: titles[i], key="edit_pick")
        art = next(a for a in arts if a.id == aid)
        with st.form(f"edit-{aid}", border=False):
            vals = {k: st.text_input(k.capitalize() if k != "url" else "URL", value=getattr(art, k) or "", key=f"edit-{k}-{aid}")
                    for k in ("title", "author", "date", "source", "url")}
            if st.form_submit_button("Save"):
                try:
                    kb.edit(aid, **vals)
                except KBError as e:
                    st.error(md_escape(e))
                else:
                    st.session_state["edit_done"] = vals["title"]
                    st.rerun()


def main() -> None:
    try:
        kb = open_kb(kb_dir())
    except KBError as e:
        st.error(md_escape(e))
        st.stop()
    want = qp("page", "Ask")
    if "goto_page" in st.session_state:  # a button asked for another page (e.g. "Open article")
        st.session_state["page_radio"] = st.session_state.pop("goto_page")
    elif want in PAGES and st.session_state.get("url_page", want) != want:
        st.session_state["page_radio"] = want  # the URL moved by itself (the browser's Back or Forward)
    # the URL's page is the radio's first value only; once the session holds one, that one (passing both
    # made Streamlit warn that the widget had a default and a value set through the Session State API)
    first = {} if "page_radio" in st.session_state else {"index": PAGES.index(want) if want in PAGES else 0}
    page = st.sidebar.radio("Page", PAGES, key="page_radio", **first)
    if page != want:
        # Back on Ask: the question and filters of this session, or (after a reload) the question the URL kept.
        back = st.session_state.get("last_ask") or ({"q": qp("q")} if qp("q") else {})
        set_qp(_clear=True, page=page, **(back if page == "Ask" else {}))
    st.session_state["url_page"] = page
    st.sidebar.toggle("Pinyin and English glosses (hover or tap a Chinese word)", key="glosses")
    st.sidebar.caption(f"Knowledge base: `{kb.path}`")
    st.sidebar.caption(DICT_CREDIT)
    {"Ask": page_ask, "Read": page_read, "Collections": page_collections, "Add articles": page_add,
     "Library": page_library}[page](kb)


main()
