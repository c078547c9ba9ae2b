"""Citations to take away: a cited span as BibTeX, RIS, CSL-JSON or Markdown.

Every format carries the article's metadata (title, author, source, date, URL, language), the
quote (the highlighted sentence of a hit, or the span a permalink names), where it is (paragraph,
page for a PDF) and the permalink that leads back to it (``python -m kb passage``, the API's
``/passages/``). BibTeX is written with bibtexparser, RIS with rispy; CSL-JSON is the JSON that
citeproc processors (Zotero, Pandoc, citeproc-py) read. Chinese text is kept as it is (UTF-8) in
every format.

    python -m kb search --format bibtex QUESTION      # every hit of a question
    python -m kb cite --format ris PERMALINK...       # spans named by permalinks
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import KBError, PassageNotFound
from .results import paragraph_at, span_fingerprint, span_link
from .text import strip_controls

FORMATS = ("bibtex", "ris", "csl-json", "md")
MEDIA = {"bibtex": "application/x-bibtex", "ris": "application/x-research-info-systems",
         "csl-json": "application/vnd.citationstyles.csl+json", "md": "text/markdown"}


@dataclass
class Reference:
    """One cited span and its article's metadata."""
    article_id: str
    title: str
    author: str | None
    source: str | None
    date: str | None
    url: str | None
    lang: str | None
    path: str
    quote: str
    paragraph: int | None
    page: int | None
    permalink: str
    note: str = ""  # the researcher's own note (a collection item's): BibTeX/CSL annote, RIS RN, Markdown

    @classmethod
    def from_hit(cls, h) -> "Reference":
        """A search hit: its quote is the highlighted sentence, cited where that sentence is."""
        return cls(h.article_id, h.title, h.author, h.source, h.date, h.url, h.lang, h.path, h.highlight or h.text,
                   h.answer_paragraph, h.answer_page, h.permalink)

    @classmethod
    def from_passage(cls, d: dict) -> "Reference":
        """``passage_json``'s object: the quote is the whole span the permalink names."""
        a = d["article"]
        return cls(a["id"], a["title"], a.get("author"), a.get("source"), a.get("date"), a.get("url"), a.get("lang"),
                   a["path"], d["text"], d.get("paragraph"), d.get("page"), d["permalink"])

    @property
    def where(self) -> str:
        return f"p. {self.page}" if self.page else (f"para. {self.paragraph}" if self.paragraph else "")

    def date_parts(self) -> list[int]:
        """[year, month, day] as far as the date gives them ([] without a date)."""
        m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", self.date or "")
        return [int(x) for x in m.groups() if x] if m else []

    def authors(self) -> list[str]:
        """The author field split into people ("张三、李四", "A. Smith; B. Jones", "X and Y")."""
        if not self.author:
            return []
        return [a.strip() for a in re.split(r"\s*(?:[;；、，]|,(?=\s*\S+\s+\S)|\band\b)\s*", self.author) if a.strip()]


def quoted(text: str) -> str:
    """The quote in quotation marks, unless it is already one whole quotation."""
    t = text.strip()
    if t[:1] in "“「『\"" and t[-1:] in "”」』\"":
        return t
    return f"“{t}”"


def export(refs: list[Reference], fmt: str) -> str:
    """``refs`` in format ``fmt`` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise KBError(f"format '{fmt}' is not one of {', '.join(FORMATS)}")
    return {"bibtex": to_bibtex, "ris": to_ris, "csl-json": to_csl_json, "md": to_markdown}[fmt](refs)


def passage_json(kb, permalink: str) -> dict:
    """``passage --json``'s object: the span a permalink (``kb.results.span_link``) names, with
    its article's metadata, the paragraph and page it starts in, and the passages that overlap it.
    When the article's text there is no longer what the link was made from, ``changed`` is true
    and the span is the stored passage nearest to the old one."""
    import bisect

    m = re.match(r"^([0-9a-f]{4,40}):(\d+)-(\d+)(?:~([0-9a-f]{8}))?$", permalink.strip())
    if not m:
        raise KBError(f"'{permalink}' is not a permalink; they read ARTICLE_ID:START-END~FINGERPRINT "
                      "(the 'permalink' of a hit in search --json)")
    start, end, fp = int(m.group(2)), int(m.group(3)), m.group(4)
    if start >= end:
        raise KBError(f"{permalink}: the span {start}-{end} is empty; a permalink's span ends after it starts")
    art = kb.resolve(m.group(1))
    rows = [dict(r) for r in kb.store.passages_of(art.id)]
    fits = 0 <= start < end <= len(art.text)
    changed = not fits or (fp is not None and span_fingerprint(art.text[start:end]) != fp)
    if changed:
        if not rows:
            raise PassageNotFound(f"{permalink}: the article has changed since the link was made and holds no passages now")
        near = min(rows, key=lambda r: (abs(r["start"] - start), r["seq"]))
        start, end = near["start"], near["end"]
    overlap = [r for r in rows if r["start"] < end and start < r["end"]]
    pages = art.meta.get("pages") if isinstance(art.meta, dict) else None
    para = overlap[0]["paragraph"] if overlap else None
    if overlap and overlap[0]["start"] < start:  # the span starts inside that passage
        para = paragraph_at(overlap[0]["text"], overlap[0]["paragraph"], start - overlap[0]["start"])
    return {"permalink": span_link(art.id, start, end, art.text[start:end]), "changed": changed,
            "article": art.summary() | {"author": art.author}, "start": start, "end": end, "text": art.text[start:end],
            "paragraph": para, "page": 1 + bisect.bisect_right(pages, start) if pages is not None else None,
            "passages": overlap}


# --- BibTeX -------------------------------------------------------------------------------------
_TEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "_": r"\_"}
_TEX_RE = re.compile(r"[\\{}%&#$_]")
_UNTEX_RE = re.compile(r"\\textbackslash\{\}|\\[{}%&#$_]")


def tex_escape(s: str) -> str:
    """Text as a BibTeX field value that reads back (and typesets) as itself."""
    return _TEX_RE.sub(lambda m: _TEX[m.group()], strip_controls(s))


def tex_unescape(s: str) -> str:
    return _UNTEX_RE.sub(lambda m: "\\" if m.group().startswith(r"\textbackslash") else m.group()[1], s)


def bibtex_key(ref: Reference) -> str:
    span = ref.permalink.split(":", 1)[1].split("~")[0].replace("-", "_") if ":" in ref.permalink else ""
    return f"kb_{ref.article_id[:12]}_{span}".rstrip("_")


def to_bibtex(refs: list[Reference]) -> str:
    """``@misc`` entries (what every BibTeX style knows), with biblatex's ``date`` and
    ``langid`` beside the classic ``year`` and ``month``."""
    import bibtexparser
    from bibtexparser.model import Entry, Field
    lib = bibtexparser.Library()
    seen: set[str] = set()
    for r in refs:
        key = bibtex_key(r)
        if key in seen:
            continue
        seen.add(key)
        parts = r.date_parts()
        fields = [("title", r.title), ("author", " and ".join("{" + tex_escape(a) + "}" for a in r.authors()) or None),
                  ("howpublished", r.source), ("year", str(parts[0]) if parts else None),
                  ("month", str(parts[1]) if len(parts) > 1 else None), ("date", r.date), ("url", r.url),
                  ("langid", {"zh": "chinese", "en": "english"}.get(r.lang or "")),
                  ("note", f"{quoted(r.quote)} ({', '.join(x for x in (r.where, 'kb ' + r.permalink) if x)})")]
        fields.append(("annote", r.note or None))
        lib.add(Entry("misc", key, [Field(k, v if k in ("author", "url") else tex_escape(v))
                                    for k, v in fields if v]))
    return bibtexparser.write_string(lib)


# --- RIS ----------------------------------------------------------------------------------------
def _ris_writer():
    """rispy's writer without its "1." counter line before each record: TY opens a record."""
    from rispy.writer import RisWriter

    class Writer(RisWriter):
        def set_header(self, count: int) -> str:
            return ""
    return Writer


def to_ris(refs: list[Reference]) -> str:
    import rispy
    entries = []
    for r in refs:
        parts = r.date_parts()
        e = {"type_of_reference": "ELEC" if r.url else "GEN", "title": r.title, "id": r.permalink,
             "notes": [" ".join(quoted(r.quote).split()), *([r.where] if r.where else []), f"kb {r.permalink}"]}
        if r.authors():
            e["authors"] = r.authors()
        if r.source:
            e["secondary_title"] = r.source
        if parts:
            e["year"] = str(parts[0])
            e["date"] = "/".join(f"{x:02d}" for x in parts) + ("/" if len(parts) == 3 else "")
        if r.url:
            e["urls"] = [r.url]
        if r.lang:
            e["language"] = r.lang
        if r.note:
            e["research_notes"] = r.note
        entries.append(e)
    return rispy.dumps(entries, implementation=_ris_writer())


# --- CSL-JSON -----------------------------------------------------------------------------------
def csl_items(refs: list[Reference]) -> list[dict]:
    out = []
    for r in refs:
        item = {"id": r.permalink, "type": "article-newspaper" if r.source else "document", "title": r.title,
                "note": quoted(r.quote) + (f" ({r.where})" if r.where else ""), "source": "kb " + r.permalink}
        if r.authors():
            item["author"] = [{"literal": a} for a in r.authors()]
        if r.source:
            item["container-title"] = r.source
        if r.date_parts():
            item["issued"] = {"date-parts": [r.date_parts()]}
        if r.url:
            item["URL"] = r.url
        if r.lang:
            item["language"] = {"zh": "zh-CN", "en": "en"}.get(r.lang, r.lang)
        if r.page:
            item["page"] = str(r.page)
        if r.note:
            item["annote"] = r.note
        out.append(item)
    return out


def to_csl_json(refs: list[Reference]) -> str:
    return json.dumps(csl_items(refs), ensure_ascii=False, indent=1)


# --- Markdown -----------------------------------------------------------------------------------
def to_markdown(refs: list[Reference]) -> str:
    """Each quote as a block quote, then its citation and permalink: ready to paste into notes."""
    blocks = []
    for r in refs:
        cite = ", ".join(x for x in (f"“{r.title}”", r.author, r.source, r.date, r.where) if x)
        link = f" <{r.url}>" if r.url else ""
        quote = "\n".join("> " + line for line in r.quote.splitlines() or [""])
        note = f"\n\nNote: {r.note}" if r.note else ""
        blocks.append(f"{quote}\n>\n> — {cite}.{link} (kb `{r.permalink}`){note}")
    return "\n\n".join(blocks) + "\n"
