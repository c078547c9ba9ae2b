"""Character normalisation, language detection and lexical tokens (jieba for Chinese).

Everything that decides whether two strings "match" lives here, so indexing, queries
and highlighting use one definition of a term.
"""
from __future__ import annotations

import os
import re
import threading
import unicodedata
from functools import lru_cache

import numpy as np

# Full-width ASCII (U+FF01..U+FF5E) maps one-to-one onto ASCII, so "２０万" and "20万" match.
# CJK punctuation that reads naturally in Chinese text stays as it is; the mapping is
# character for character, so offsets into normalised text stay simple.
_KEEP_FULLWIDTH = set("，。！？；：（）")
_WIDTH_TABLE = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F) if chr(c) not in _KEEP_FULLWIDTH}
_WIDTH_TABLE[0x3000] = 0x20  # ideographic space
_WIDTH_TABLE[0x00A0] = 0x20  # no-break space
# Kangxi radicals (U+2F00–U+2FDF), CJK radicals supplement (U+2E80–U+2EFF) and compatibility
# ideographs (U+F900–U+FAFF): PDF fonts map ordinary characters to them (Chromium prints 表示 as
# 表⽰, U+2F70), so text read from such a file would not match what the page says. Each is folded
# to the unified ideograph NFKC names for it (one character for one: offsets stay simple); the
# radicals supplement's other forms have no such mapping in Unicode's data and stay.
_WIDTH_TABLE.update({c: ord(f) for c in (*range(0x2E80, 0x2FE0), *range(0xF900, 0xFB00))
                     if len(f := unicodedata.normalize("NFKC", chr(c))) == 1 and f != chr(c)})
# Characters that carry nothing and break C strings or layouts.
for _c in list(range(0x00, 0x09)) + [0x0B, 0x0C] + list(range(0x0E, 0x20)) + [0x7F, 0x200B, 0x200E, 0x200F, 0xFEFF, 0x2060]:
    _WIDTH_TABLE[_c] = None


def normalize(text: str) -> str:
    """NFC, full-width letters/digits to half-width, Kangxi radicals and compatibility ideographs
    to the unified ideographs, control characters removed, CRLF to LF.

    >>> normalize("ＴｉｋＴｏｋ２０万"), normalize("表⽰四⼗⼀")
    ('TikTok20万', '表示四十一')
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text).translate(_WIDTH_TABLE)


_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{_HAN}]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")


def detect_lang(text: str) -> str:
    """'zh', 'en' or 'mixed' from the share of Han characters among letters.

    >>> detect_lang("TikTok在美正式推出电商服务"), detect_lang("TikTok Shop launched"), detect_lang("")
    ('zh', 'en', 'en')
    """
    han = len(_HAN_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if han + latin == 0:
        return "zh" if han else "en"
    share = han / (han + latin / 2.5)  # ~2.5 Latin letters carry what one Han character does
    if share >= 0.6:
        return "zh"
    if share <= 0.15:
        return "en"
    return "mixed"


def has_han(text: str) -> bool:
    return bool(_HAN_RE.search(text))


# --- Traditional/Simplified --------------------------------------------------------

_T2S: tuple[dict[int, str], np.ndarray] | None = None
_t2s_lock = threading.Lock()


def _t2s_table() -> tuple[dict[int, str], np.ndarray]:
    """Character table Traditional → Simplified from OpenCC's TSCharacters dictionary (first
    candidate of each entry): as a dict for ``str.translate`` and as a code point array."""
    global _T2S
    if _T2S is None:
        with _t2s_lock:
            if _T2S is None:
                import opencc
                path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", "TSCharacters.txt")
                table = {}
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        src, _, dst = line.rstrip("\n").partition("\t")
                        cand = dst.split(" ")[0] if dst else ""
                        if len(src) == 1 and len(cand) == 1 and cand != src:
                            table[ord(src)] = cand
                points = np.arange(0x110000, dtype=np.uint32)
                points[list(table)] = [ord(c) for c in table.values()]
                _T2S = table, points
    return _T2S


def to_simplified(text: str) -> str:
    """Traditional → Simplified, character by character (OpenCC's character table); used for
    matching only, never for display. One character in, one out, so offsets carry over, and it
    runs at ``str.translate`` speed (OpenCC's phrase-level converter is pure Python and cost more
    than the rest of a search).

    >>> to_simplified("臺灣電商後來") == "台湾电商后来"
    True
    """
    if not _HAN_RE.search(text):
        return text
    table, points = _t2s_table()
    if len(text) < 64:
        return text.translate(table)
    # Longer texts through the code point array: 4x faster than translate's per-character dict
    # lookups (5 µs against 20 µs for 200 characters; benchmarks/README.md).
    try:
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    except UnicodeEncodeError:  # a lone surrogate
        return text.translate(table)
    return points[codes].tobytes().decode("utf-32-le")


# --- jieba -------------------------------------------------------------------------

_jieba_lock = threading.Lock()
_jieba_ready = False
_userdict: str | None = None  # set by use_userdict (setting KB_USERDICT, at the entry point); None: the default


def use_userdict(path: str) -> None:
    """The jieba user dictionary of this process (setting KB_USERDICT, handed down by the entry
    point through ``KnowledgeBase.open``). jieba is one per process: a dictionary given after it
    has loaded is added to what it holds."""
    global _userdict
    if path == _userdict:
        return
    _userdict = path
    if _jieba_ready:
        import jieba
        found = _userdict_path()
        if found and os.path.exists(found):
            with _jieba_lock:
                jieba.load_userdict(found)


def _userdict_path() -> str:
    """The user dictionary's path; a relative path that is not found from here is taken from the
    project folder, so the CLI and the app tokenise alike whatever folder they start in."""
    from . import config
    path = _userdict if _userdict is not None else config.default("KB_USERDICT")
    if path and not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), path)
    return path


def init_jieba(userdict: str | None = None) -> None:
    """Load jieba's dictionary once per process (1–3 s) and the user dictionary of domain terms."""
    global _jieba_ready
    if _jieba_ready:
        return
    with _jieba_lock:
        if _jieba_ready:
            return
        import logging

        import jieba
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        userdict = userdict or _userdict_path()
        if userdict and os.path.exists(userdict):
            jieba.load_userdict(userdict)
        _jieba_ready = True


_FOLDING = "t2s-chars;"  # how Traditional is folded; part of the lexicon id


def lexicon_id() -> str:
    """Identifies how text is cut into terms (the user dictionary's content): a KB whose terms
    were cut differently re-tokenises its passages (no re-embedding needed)."""
    import hashlib
    try:
        with open(_userdict_path(), "rb") as f:
            return _FOLDING + "userdict:" + hashlib.sha1(f.read()).hexdigest()[:12]
    except (OSError, TypeError):
        return _FOLDING + "userdict:none"


_STOP_EN = frozenset("""a an the of to in on at for from by with and or but is are was were be been being
do does did what which who whom whose when where why how that this these those it its as into than then
there their they them he she his her we our you your i me my not no can could will would should may might
has have had about over under after before during if so such any some all each other also more most only
own same very s t just""".split())
_STOP_ZH = frozenset("""的 了 是 在 和 与 及 或 而 也 就 都 被 把 将 对 从 以 于 为 其 之 这 那 这个 那个 这些 那些 什么
怎么 怎样 如何 为什么 哪 哪些 哪个 哪里 多少 几 吗 呢 吧 啊 呀 么 有 没有 一个 一种 我们 你们 他们 她们 它们
我 你 他 她 它 个 中 上 下 等 还 又 并 但 却 则 所 因为 所以 如果 可以 已经 是否 之后 之前 时候 哪些 谁""".split())
_TOKEN_OK = re.compile(rf"[{_HAN}A-Za-z0-9]")


@lru_cache(maxsize=4096)
def _query_tokens_cached(text: str) -> tuple[str, ...]:
    return tuple(_tokenize(text))


def _tokenize(text: str) -> list[str]:
    import jieba
    init_jieba()
    text = to_simplified(normalize(text)).lower()
    out = []
    for tok in jieba.cut_for_search(text):
        tok = tok.strip()
        if not tok or not _TOKEN_OK.search(tok) or tok in _STOP_EN or tok in _STOP_ZH:
            continue
        out.append(tok)
    return out


def tokenize(text: str) -> list[str]:
    """Lexical terms of ``text``: jieba search-mode tokens over Simplified, lower-cased text,
    stop words and punctuation dropped. Shared by the BM25 index, queries and highlighting.

    >>> tokenize("TikTok電商在美國上線")  # doctest: +SKIP
    ['tiktok', '电商', '美国', '上线']
    """
    if len(text) < 200:
        return list(_query_tokens_cached(text))
    return _tokenize(text)



# Control characters (C0 and C1 but tab and newline, DEL) and the bidirectional controls (U+200E/F,
# U+202A-U+202E embeddings and overrides, U+2066-U+2069 isolates): in metadata they move the
# terminal's cursor, clear it, write its clipboard (ESC sequences) or show a title reversed.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def strip_controls(value: str | None) -> str | None:
    """``value`` without control and bidi-override characters (tab and newline kept).

    >>> strip_controls("Ti\\x1b]52;c;aGk=\\x07tle\\u202e")
    'Ti]52;c;aGk=tle'
    """
    return None if value is None else _CONTROLS.sub("", value)


def escape_controls(value) -> str:
    """Text for a terminal: every control or bidi character shown as its escape (``\\x1b``,
    ``\\u202e``), so what a KB holds can never drive the terminal it is printed on."""
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def same_lang(a: str, b: str) -> bool:
    """Two language tags (zh, en, mixed) that share a language: a mixed text shares both."""
    return a == b or "mixed" in (a, b)
