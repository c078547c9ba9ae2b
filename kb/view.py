"""Presenting what search returns: escaped HTML with the answer highlighted, the paragraphs
around a passage, an article's keywords, and safe names for uploaded files.

Everything that ends up as HTML is escaped here first, so article text can never inject markup.
"""
from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path

from .text import _STOP_EN, _STOP_ZH, init_jieba


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-empty line of the cleaned text; index i is paragraph i + 1."""
    out, pos = [], 0
    for line in text.split("\n"):
        if line.strip():
            out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def context_span(text: str, start: int, end: int, around: int = 1) -> tuple[int, int]:
    """Span of the paragraphs holding [start, end) plus ``around`` paragraphs either side."""
    paras = paragraphs(text)
    idx = [i for i, (s, e) in enumerate(paras) if s < end and start < e] or [0]
    lo, hi = max(0, idx[0] - around), min(len(paras) - 1, idx[-1] + around)
    return (paras[lo][0], paras[hi][1]) if paras else (0, len(text))


def render(text: str, offset: int = 0, highlight: tuple[int, int] | None = None,
           marks: list[list[int]] | None = None, passage: tuple[int, int] | None = None,
           glosses: list[tuple[int, int, str]] | None = None) -> str:
    """HTML for ``text`` (which starts at ``offset`` in the article): the passage span in a
    <span class=kb-passage>, the highlight in <mark>, marked query terms in <b>; all text is
    escaped and newlines become <br>. ``passage`` and ``highlight`` are article offsets, ``marks``
    are offsets into ``text``. ``glosses``: (start, end, gloss) of words in ``text`` (offsets
    into it), each wrapped in a focusable <span class=kb-gloss data-gloss=…> whose gloss the
    page's CSS shows on hover, click or touch.

    >>> render("a<b>c", highlight=(1, 4))
    'a<mark class="kb-answer">&lt;b&gt;</mark>c'
    >>> render("one two", highlight=(0, 7), marks=[[4, 7]])
    '<mark class="kb-answer">one <b>two</b></mark>'
    """
    spans = []  # outermost first
    if passage:
        spans.append((passage[0] - offset, passage[1] - offset, '<span class="kb-passage">', "</span>"))
    if highlight:
        spans.append((highlight[0] - offset, highlight[1] - offset, '<mark class="kb-answer">', "</mark>"))
    for s, e in marks or []:
        spans.append((s, e, "<b>", "</b>"))
    for s, e, gloss in glosses or []:  # shown by CSS (.kb-gloss:hover/:focus::after): never copied with the text
        spans.append((s, e, f'<span class="kb-gloss" tabindex="0" data-gloss="{html.escape(gloss, quote=True)}">', "</span>"))
    # Cut the text at every span edge. Between cuts, the covering spans (outermost first) stay
    # open as long as they continue; only the tags that end or begin change, so the whole
    # highlight is one <mark> with any term marks nested inside it. (A sweep over the edges: an
    # article's thousands of glossed words cost one pass.)
    clip = [(min(max(s, 0), len(text)), min(max(e, 0), len(text))) for s, e, *_ in spans]
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    for i, (s, e) in enumerate(clip):
        if s < e:
            starts.setdefault(s, []).append(i)
            ends.setdefault(e, []).append(i)
    cuts = sorted({0, len(text), *starts, *ends})
    pieces: list[str] = []
    open_now: list[int] = []
    active: set[int] = set()
    for a, b in zip(cuts, cuts[1:]):
        active.difference_update(ends.get(a, ()))
        active.update(starts.get(a, ()))
        want = sorted(active)
        keep = 0
        while keep < min(len(open_now), len(want)) and open_now[keep] == want[keep]:
            keep += 1
        pieces += [spans[i][3] for i in reversed(open_now[keep:])]
        pieces += [spans[i][2] for i in want[keep:]]
        open_now = want
        pieces.append(html.escape(text[a:b]).replace("\n", "<br>"))
    pieces += [spans[i][3] for i in reversed(open_now)]
    return "".join(pieces)


def keywords(text: str, k: int = 12) -> list[str]:
    """Top keywords of an article (jieba TF-IDF), for the reading view."""
    import jieba.analyse

    init_jieba()
    return [w for w in jieba.analyse.extract_tags(text[:50000], topK=k * 3)
            if not re.fullmatch(r"[\d.]+", w) and w.lower() not in _STOP_EN and w not in _STOP_ZH
            and not re.fullmatch(r"[A-Za-z]{1,2}", w)][:k]


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def export_name(text: str, day: str, limit: int = 40) -> str:
    """A file name for citations exported from a question or a collection: its first words up to
    ``limit`` characters, cut where a word ends (jieba's words for Chinese), then the day.

    >>> export_name("What is the diameter of a DNA double helix?", "2026-12-03")
    'What is the diameter of a DNA double 2026-12-03'
    """
    import jieba
    init_jieba()
    text = " ".join((text or "").split())
    end = 0
    for _, _, stop in jieba.tokenize(text):
        if stop > limit:
            break
        end = stop
    head = text[:end or limit].strip(" ?？!！.。,，;；:：")
    return safe_filename(f"{head} {day}" if head else day, day)


def safe_filename(name: str, default: str = "upload.txt") -> str:
    """A file name that stays inside its folder: no path parts, control or bidi characters,
    no leading dots, at most 120 characters; the extension is kept.

    >>> safe_filename("../../etc/passwd"), safe_filename("a\\nb.txt"), safe_filename("..")
    ('passwd', 'a_b.txt', 'upload.txt')
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if not name or set(name) <= {"_", "."}:
        return default
    p = Path(name)
    stem, ext = p.stem, p.suffix[:12]
    if len(stem) > 100 or len((stem + ext).encode("utf-8")) > MAX_NAME_BYTES:
        # Shortened by bytes, not characters (100 Chinese characters are 300 bytes, over the 255
        # most file systems allow), with a hash of the whole name so that two long names that
        # share their start stay two names.
        import hashlib
        tag = "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        room = min(100, MAX_NAME_BYTES - len((tag + ext).encode("utf-8")))
        stem = stem.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore") + tag
    return (stem or "upload") + ext


MAX_NAME_BYTES = 200  # a stored upload's name, in UTF-8 bytes (file systems allow 255; room for a suffix)


def upload_path(folder: Path, name: str, data: bytes) -> Path:
    """Where an upload is stored: ``folder/<content hash>/<safe name>``. Two different files with
    the same name (or names that become the same safe name, ``a:b.txt`` and ``a?b.txt``) land in
    different folders, so each is its own article; the same bytes under any name land in one."""
    import hashlib
    return inside(folder, f"{hashlib.sha256(data).hexdigest()[:20]}/{safe_filename(name)}")


def drop_upload(folder: Path, path: str) -> None:
    """Delete a removed article's uploaded bytes (``folder/<content hash>/<name>``, as
    ``upload_path`` stored them) and their folder; a path elsewhere (a file the user ingested
    from disk, a web link) is left alone."""
    p = Path(path)
    try:
        if p.resolve().parent.parent != Path(folder).resolve():
            return
        p.unlink(missing_ok=True)
        p.parent.rmdir()
    except OSError:
        pass  # (already gone, or the folder holds something else: left as it is)


def md_escape(s) -> str:
    r"""Text shown through Streamlit's Markdown (st.markdown, st.caption, st.subheader, st.table,
    st.error, button labels…) as the text itself: every ASCII punctuation character is
    backslash-escaped, so no image, link, emphasis, heading, HTML, math (``$``) or directive
    (``:red[…]``) can form, and line breaks become spaces (no new block can start). Escapes do not
    stop GitHub's autolinks (Streamlit finds ``http://…``, ``www.…`` and ``a@b.c`` in the text
    after parsing), so a word that could become one (holding ``:/``, ``www.`` or ``@``) is shown
    as inline code, which is never linked and copies as written (no invisible characters).

    >>> print(md_escape("![x](http://e/p.png) *a* at www.e.org."))
    \!\[x\]\(`http://e/p.png)` \*a\* at `www.e.org.`
    >>> md_escape("a `tick` in http://e/`q`")
    'a \\`tick\\` in `` http://e/`q` ``'
    """
    text = " ".join(str(s if s is not None else "").split())
    out = []
    for word in text.split(" "):
        m = _AUTOLINK.search(word)
        if not m:
            out.append(_MD_SPECIAL.sub(r"\\\g<0>", word))
            continue
        head, link = word[:_link_start(word, m.start())], word[_link_start(word, m.start()):]
        fence = "`" * (max((len(r) for r in re.findall(r"`+", link)), default=0) + 1)
        pad = " " if link.startswith("`") or link.endswith("`") else ""
        out.append(_MD_SPECIAL.sub(r"\\\g<0>", head) + f"{fence}{pad}{link}{pad}{fence}")
    return " ".join(out)


def _link_start(word: str, at: int) -> int:
    """Where the link-like part of ``word`` begins: after the brackets and quotes before it."""
    i = at
    while i > 0 and word[i - 1] not in "([{<\"'“‘（【「":
        i -= 1
    return i


_MD_SPECIAL = re.compile(r"[!-/:-@\[-`{-~]")
_AUTOLINK = re.compile(r"(?i):/|\bwww\.|@")


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing anything that would resolve outside ``folder``."""
    target = (folder / name).resolve()
    if folder.resolve() not in target.parents:
        raise ValueError(f"{name!r} would leave {folder}")
    return target


def explain(hit) -> str:
    """Why a hit ranked where it did, in words: how close in meaning (the dense part, cosines
    with each language's mean removed, so 0 is "unrelated" and the library's answers mostly lie
    between 0.25 and 0.5), and which of the question's terms it holds, with the dictionary
    translations that matched a passage in the other language ("blackout → 停电")."""
    d = hit.dense
    meaning = ("very close in meaning" if d >= 0.45 else "close in meaning" if d >= 0.35 else
               "related in meaning" if d >= 0.25 else "loosely related in meaning")
    parts = [f"{meaning} ({d:.2f})"]
    pairs = [f"{a} → {b}" if a != b else a for a, b in hit.matches]
    if pairs:
        shown = ", ".join(pairs[:8]) + (f" and {len(pairs) - 8} more" if len(pairs) > 8 else "")
        share = f"{hit.lexical:.0%} of the question's terms by weight" if hit.lexical else "some of the question's terms"
        parts.append(f"holds {share}: {shown}")
    else:
        parts.append("shares no term with the question: found by meaning alone")
    return "; ".join(parts)
