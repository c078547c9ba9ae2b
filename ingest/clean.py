"""Clean scraped article text: drop page noise, lift metadata lines, normalise characters.

Rules are line based and conservative: a line is dropped only when it is short and matches a
known kind of noise (view counters, "8个月前更新" bylines, QR-code prompts, comment-box and
copyright footers, image alt text repeating the title). Anything that reads like a sentence
of the article stays.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.text import normalize

PAGE_MARK = "\ue000"  # the PDF reader's page break line (see ingest.readers)

_RELATIVE_TIME = re.compile(r"\d+\s*(?:秒|分钟|小时|天|周|个月|月|年)前")
_COUNTER = re.compile(r"^[\d\s,.万kKwW+]+$")
_META = [
    ("source", re.compile(r"^(?:文章|本文|信息|新闻)?来源\s*[:：]\s*(.{1,60})$")),
    ("source", re.compile(r"^(?:source|via)\s*:\s*(.{1,80})$", re.I)),
    ("author", re.compile(r"^(?:作者|撰文|文|记者)\s*[:：|｜]\s*(.{1,40})$")),
    ("author", re.compile(r"^(?:author|written by)\s*:?\s+(.{1,60})$", re.I)),
    ("date", re.compile(r"^(?:发布(?:时间|日期|于)?|时间|日期|published(?: on)?|date)\s*[:：]?\s*(.{6,40})$", re.I)),
    ("url", re.compile(r"^(?:原文链接|原文地址|链接|url)\s*[:：]\s*(https?://\S+)$", re.I)),
]
# Whole-line noise: comment boxes, share bars, copyright footers, QR-code prompts.
_NOISE = re.compile(
    r"^(?:©.*|版权声明|版权所有.*|相关文章|相关推荐|推荐阅读|热门文章|延伸阅读|暂无评论\.*|发表评论|评论|"
    r"您必须登录才能参与评论[!！]?|立即登录|登录|注册|分享到.*|分享|点赞|收藏|打赏|上一篇.*|下一篇.*|阅读原文|返回顶部|"
    r"免责声明.*|责任编辑\s*[:：].*|编辑\s*[:：].*|.*扫码.*|.*二维码.*|.*长按识别.*|.*关注公众号.*|\S{0,20}公众号|"
    r"点击.*关注.*|本文(?:已)?(?:由|经).*授权.*|未经授权.*转载.*|转载请注明.*)$"
)
# Headings that start the page footer: everything after them is dropped when they sit in the
# last part of the page.
_FOOTER_START = re.compile(r"^(?:©\s*)?(?:版权声明|相关文章|相关推荐|推荐阅读|热门文章|暂无评论|发表评论)\.*$")
_DATE_PATTERNS = [
    re.compile(r"(?P<y>(?:19|20)\d{2})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]"),
    re.compile(r"(?P<y>(?:19|20)\d{2})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"),
]


def parse_date(text: str) -> str | None:
    """ISO date from '2023年9月12日', '2023-09-12', '2023/9/12'; None for relative or partial dates.

    >>> parse_date("发布于 2023年9月12日 10:00"), parse_date("8个月前"), parse_date("9月12日")
    ('2023-09-12', None, None)
    """
    for pat in _DATE_PATTERNS:
        m = pat.search(text)
        if m:
            y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
            if 1 <= mo <= 12 and 1 <= d <= 31:
                return f"{y:04d}-{mo:02d}-{d:02d}"
    return None


@dataclass
class Cleaned:
    text: str
    title: str | None = None
    source: str | None = None
    author: str | None = None
    date: str | None = None
    url: str | None = None
    dropped: list[str] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)  # offsets where pages 2, 3, … begin (PDF)


def _looks_like_title(line: str) -> bool:
    return 0 < len(line) <= 80 and not re.search(r"[。.；;：:，,、]$", line)


def _dropped(ln: str, out: Cleaned) -> bool:
    """Whether a line is page noise or a metadata line (whose value goes into ``out``)."""
    short = len(ln) <= 60
    if out.title and ln == out.title:
        return True
    for field_name, pat in _META:
        m = pat.match(ln) if short else None
        if m:
            value = m.group(1).strip()
            if field_name == "date":
                value = parse_date(value)
                if value is None and not _RELATIVE_TIME.search(ln):
                    continue  # not a date after all: keep looking / keep the line
            if value and getattr(out, field_name) is None:
                setattr(out, field_name, value)
            return True
    return short and bool(_COUNTER.match(ln) or _NOISE.match(ln) or (_RELATIVE_TIME.search(ln) and len(ln) <= 40))


def clean_text(raw: str, title: str | None = None) -> Cleaned:
    """Cleaned body text and the metadata found in it.

    ``title`` is the title already known (e.g. from HTML); otherwise the first line is taken
    as the title when it is short and more text follows. Repeats of the title are dropped."""
    text = normalize(raw)
    lines = [ln.strip() for ln in text.split("\n")]
    nonempty = [i for i, ln in enumerate(lines) if ln]
    out = Cleaned(text="")
    if not nonempty:
        return out
    if title:
        out.title = normalize(title).strip()
    elif len(nonempty) > 1 and _looks_like_title(lines[nonempty[0]]):
        out.title = lines[nonempty[0]]
        lines[nonempty[0]] = ""

    # Footer: from the first footer heading in the last 40% of the lines, drop everything.
    cut = len(lines)
    for i in nonempty:
        if i >= nonempty[0] + 0.6 * (nonempty[-1] - nonempty[0]) and _FOOTER_START.match(lines[i]):
            cut = i
            break
    for i in range(cut, len(lines)):
        if lines[i]:
            out.dropped.append(lines[i])
        lines[i] = ""

    kept = []
    page_lines: list[int] = []  # number of kept lines before each page break
    page_inside: list[tuple[int, int]] = []  # (kept line, offset in it) of a page that begins inside a paragraph
    for ln in lines:
        if not ln:
            continue
        if ln == PAGE_MARK:
            page_lines.append(len(kept))
            continue
        mark_at = None
        if PAGE_MARK in ln:  # a paragraph running on to the next page: the mark is where that page begins
            mark_at = ln.index(PAGE_MARK)
            ln = ln.replace(PAGE_MARK, "")
        if _dropped(ln, out):
            out.dropped.append(ln)
            if mark_at is not None:  # (the page then begins at the next line kept)
                page_lines.append(len(kept))
            continue
        if mark_at is not None:
            page_inside.append((len(kept), mark_at))
        kept.append(ln)
    # One line per paragraph, no blank runs.
    out.text = "\n".join(kept)
    starts = [0]
    for ln in kept:
        starts.append(starts[-1] + len(ln) + 1)
    out.pages = sorted({starts[i] for i in page_lines if 0 < i < len(kept)} | {starts[i] + at for i, at in page_inside})
    return out
