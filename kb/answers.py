"""What a question asks for, and whether a sentence holds that kind of answer, in Chinese and English.

``answer_type("2012年印度大停电影响了多少人？")`` is ``"quantity"``; ``holds("quantity", s)`` says
whether sentence ``s`` states a quantity (a number in digits or Chinese numerals with a unit or
measure word, 万 / 亿, a percentage, an English number word). The kinds:

| kind | asked by | held by a sentence with |
|---|---|---|
| ``date`` | 哪一年 何时 什么时候 几月 · when, what year, which century | a year, month or day, 世纪, 年代, a month's name, a four-digit year |
| ``quantity`` | 多少 几个 多大 多久 · how many, how much, how long | digits, Chinese numerals with a unit, English number words |
| ``person`` | 谁 哪位 什么人 · who, whom, whose | a capitalised name, 某某·某某, a title (教授, 总统, …) |
| ``place`` | 哪里 在哪 哪个国家 · where, which country | a capitalised name, a place suffix (省 市 县 国 岛 山 河 …), 位于 |
| ``cause`` | 为什么 原因 · why, what caused | 由于 因为 导致 · because, due to, caused by, as a result |

The forms are bilingual: a Chinese question about a date is answered by "in July 1928" as well as by
"1928年7月". Questions of another kind ("what is", "how to") get ``None``: no form is expected.
The search uses the kind to choose the sentence it marks (``kb.search``) and in its confidence that
the marked sentence answers (a "how many" question whose marked sentence holds no quantity is not
called answered).
"""
from __future__ import annotations

import re
from functools import lru_cache

KINDS = ("date", "quantity", "person", "place", "cause")

_UNIT_ASKED = ("个|位|名|次|种|年|岁|天|条|座|部|家|人|倍|层|只|头|件|本|篇|首|场|届|所|支|艘|架|辆|台|项|门|周|月|分|秒|万|千|百|十|"
               "公里|千米|米|厘米|毫米|吨|公斤|千克|克|斤|元|块|小时|分钟|星期|户|册|颗|株|棵|间|份|英里|度")

# --- what the question asks for; the first kind whose pattern matches wins (date before quantity:
# 哪一年 is a date, 多少年 a duration) -------------------------------------------------------------
_ASKS: list[tuple[str, re.Pattern]] = [
    ("date", re.compile(
        r"哪一?年|哪年|什么时[候间]|何时|哪一?天|哪一?日|几月|几号|几日|几时|几点|什么日子|日期|年份|哪个朝代|哪个时[期代]|"
        r"哪个世纪|哪个年代|何年|什么时期|什么年代|什么朝代|什么年份|\bwhen\b|\bwhat (?:year|date|day|month|time|century|decade|era|period)\b|"
        r"\bwhich (?:year|date|day|month|century|decade|era|period)\b|\bin what (?:year|century)\b", re.I)),
    ("quantity", re.compile(
        rf"多少|几(?:{_UNIT_ASKED})|"
        r"多[大长高重远久深宽厚快老]|\bhow (?:many|much|long|old|far|big|large|high|tall|deep|heavy|wide|fast|often)\b|"
        r"\bwhat (?:percentage|proportion|share|fraction|number|amount|size|population|height|length|area)\b", re.I)),
    ("person", re.compile(
        r"是谁|谁|哪[一]?位|什么人|何人|哪个人|\bwho\b|\bwhom\b|\bwhose\b|\bwhich (?:person|man|woman|king|emperor|player|writer|artist)\b|"
        r"\bwhat (?:person|man|woman)\b", re.I)),
    ("place", re.compile(
        r"哪里|哪儿|在哪|何处|何地|什么地方|哪个(?:国家|城市|省|地方|地区|州|县|岛|洲|港口|城)|哪[国省市州县]|"
        r"\bwhere\b|\bwhich (?:country|city|state|region|province|island|continent|town|county|place|port)\b|"
        r"\bwhat (?:country|city|state|region|province|island|continent|town|county|place|port)\b", re.I)),
    ("cause", re.compile(
        r"为什么|为何|为甚么|原因|何故|缘故|怎么会|\bwhy\b|\bwhat (?:caused|causes|led to|leads to|was the reason|is the reason)\b|"
        r"\breasons? (?:for|why)\b|\bcause of\b", re.I)),
]

# --- what each kind of answer looks like ---------------------------------------------------------
_CN_DIGIT = "零〇一二三四五六七八九十百千万亿两"
_UNIT = ("个|位|名|次|种|年|岁|天|日|条|座|部|家|人|米|公里|千米|厘米|毫米|里|吨|公斤|千克|克|斤|元|美元|英镑|欧元|块|倍|层|只|头|匹|"
         "件|本|篇|首|场|届|所|支|艘|架|辆|台|项|门|万|亿|多|余|成|%|％|平方|立方|度|分|秒|小时|分钟|周|星期|月|世纪|户|册|卷|枚|颗|"
         "株|棵|间|份|批|座|英里|英尺|英寸|磅|加仑|升|毫升|瓦|千瓦|伏|赫兹|码")
_EN_NUMBER = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
              "eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|"
              "billions?|trillions?|dozens?|half|twice|thrice|single|double|triple|percent")
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_FORMS: dict[str, re.Pattern] = {
    "quantity": re.compile(
        rf"\d|[{_CN_DIGIT}]+(?:{_UNIT})|[{_CN_DIGIT}]{{2,}}|\b(?:{_EN_NUMBER})\b|数[十百千万]|几[十百千万]", re.I),
    "date": re.compile(
        rf"\d{{1,4}}\s*年|\d{{1,2}}\s*月|\d{{1,2}}\s*[日号]|[〇零一二三四五六七八九十]{{2,4}}年|[一二三四五六七八九十]+月|"
        rf"[一二三四五六七八九十\d]+世纪|年代|[前公]元|朝|\b(?:{_MONTHS})\b\.?\s*\d|\b\d{{1,2}}\s+(?:{_MONTHS})\b|"
        rf"\b(?:1[0-9]|20)\d\d\b|\b\d{{2,4}}s\b|\b\d+(?:st|nd|rd|th)?[\s-]+century\b|\b(?:BC|AD|BCE|CE)\b|"
        rf"\b(?:{_EN_NUMBER})[\s-]+century\b|\b(?:spring|summer|autumn|fall|winter)\b|春|夏|秋|冬|年初|年底|年末", re.I),
    "person": re.compile(
        r"(?<![.!?。！？]\s)(?<!^)\b[A-Z][a-z'’-]+(?:\s+(?:[A-Z]\.|[A-Z][a-z'’-]+|de|van|von|da|di|du|le|la|bin|al))*"
        r"|[\u4e00-\u9fff]{1,6}·[\u4e00-\u9fff]{1,8}"
        r"|先生|女士|教授|博士|院士|国王|女王|皇帝|皇后|总统|总理|首相|主席|导演|作家|诗人|演员|歌手|画家|作曲家|科学家|将军|"
        r"他|她|其父|其子|之子|之女|创始人|创办人|发明者|发现者|作者|领导人|"
        r"\b(?:he|she|his|her|founder|inventor|author|king|queen|president|emperor|director)\b"),
    "place": re.compile(
        r"(?<![.!?。！？]\s)(?<!^)\b[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+)*"
        r"|[\u4e00-\u9fff](?:省|市|县|州|国|岛|山|河|江|湖|海|城|镇|村|区|洲|湾|港|峡|岭|谷|半岛|盆地|平原|高原|沙漠|群岛|海峡|大陆)"
        r"|位于|坐落|地处|发源|境内|北部|南部|东部|西部|中部|沿岸|附近|首都|首府"
        r"|\b(?:in|at|near|from|located|situated|north|south|east|west|capital)\b"),
    "cause": re.compile(
        r"由于|因为|因而|原因[是为在]|起因|缘于|归因|导致|造成|引起|引发|"
        r"\b(?:because|due to|caused by|owing to|as a result of|resulted from|results from|thanks to|attributed to|"
        r"triggered by|led to)\b", re.I),
}


# A sentence saying that the answer is not known holds none ("原因还尚未查明", "the cause is unknown").
_UNKNOWN = re.compile(r"尚未查明|仍不清楚|尚不清楚|不得而知|未知|不明|\b(?:unknown|not (?:yet )?(?:known|clear|determined))\b", re.I)
_DIGIT = re.compile(r"\d")
_NUMBER = rf"(?:\d[\d,.]*|[{_CN_DIGIT}]+)"
_CLASSIFIER = set("个位名种条座部家只头件本篇首场届所支艘架辆台项门户册颗株棵间份批")


# A question about a length, a weight, a duration or a price counts in its units.
_LENGTH = "米|公里|千米|厘米|毫米|里|英里|英尺|英寸|码|km|m|cm|mm|miles?|kilomet(?:er|re)s?|met(?:er|re)s?|feet|foot|inch(?:es)?"
_MEASURES = [
    (re.compile(r"多久|多长时间|多少(?:年|天|小时|分钟)|\bhow long (?:ago|did|does|do)\b", re.I),
     "年|天|日|小时|分钟|秒|周|星期|个月|世纪|years?|days?|hours?|minutes?|seconds?|weeks?|months?|centur(?:y|ies)"),
    (re.compile(r"多[长远高深宽厚]|多少(?:米|公里|千米)|\bhow (?:long|far|high|tall|deep|wide)\b(?! ago| did| does| do)", re.I), _LENGTH),
    (re.compile(r"多重|多少(?:吨|公斤|千克|克)|\bhow heavy\b", re.I), "吨|公斤|千克|克|斤|磅|kg|tons?|tonnes?|kilograms?|grams?|pounds?"),
    (re.compile(r"多少钱|价格|售价|\bhow much (?:did|does|do|is|was) .*\b(?:cost|pay|worth|price)", re.I),
     "元|美元|英镑|欧元|日元|港元|块|dollars?|pounds?|euros?|yuan|\$|£|€|¥"),
]


@lru_cache(maxsize=4096)
def counted(question: str) -> str | None:
    """What a quantity question counts, when it says: 人 in 多少人, 国家 in 几个国家, people in
    "how many people" (a singular stem: "merchant" for "merchants").

    >>> counted("2012年印度大停电影响了多少人？"), counted("有几个国家参加？"), counted("How many merchants joined?")
    ('人', '国家', 'merchant')
    """
    for pattern, units in _MEASURES:
        if pattern.search(question):
            return units
    m = re.search(r"(?:多少|几)([\u4e00-\u9fff]{1,3})", question)
    if m:
        word = m.group(1)
        if word[0] in _CLASSIFIER and len(word) > 1:
            return word[1:3]
        return word[0] if word[0] in _CLASSIFIER or word[0] == "人" else word[:2]
    m = re.search(r"\bhow many ([a-z]+)", question, re.I)
    if m:
        word = m.group(1).lower()
        return word[:-1] if word.endswith("s") and not word.endswith("ss") else word
    return None


def holds_count(sentence: str, thing: str) -> bool:
    """A number counting ``thing`` ("超过3亿印度人", "200,000 merchants"): the number, then the
    thing within a few characters (Chinese) or words (English).

    >>> holds_count("超过3亿印度人（占印度总人口的30%）无电可用。", "人"), holds_count("造成320亿瓦特的电力缺口。", "人")
    (True, False)
    """
    if "|" in thing:  # units (a measure question): the number right before one
        return re.search(rf"(?:{_NUMBER}|\b(?:{_EN_NUMBER})\b)\s*[万亿多余]?\s*(?:{thing})(?![a-z])", sentence, re.I) is not None
    if re.search(r"[\u4e00-\u9fff]", thing):
        return re.search(rf"{_NUMBER}\s*[万亿]?[^。；，,;]{{0,4}}?{re.escape(thing)}", sentence) is not None
    return re.search(rf"(?:{_NUMBER}|\b(?:{_EN_NUMBER})\b)(?:[\s-]+[\w-]+){{0,3}}?\s+{re.escape(thing)}", sentence, re.I) is not None


def fit(question: str, sentence: str) -> int:
    """How well ``sentence`` fits the kind of answer ``question`` asks for: 0 (no kind, or none held),
    1 (an answer of the kind), 2 (a quantity of the very thing counted: 3亿…人 for 多少人), -1 (a
    why-question's sentence saying the cause is unknown: "原因还尚未查明")."""
    kind = answer_type(question)
    if kind == "cause" and _UNKNOWN.search(sentence):
        return -1
    if not holds(kind, sentence):
        return 0
    if kind == "quantity":
        thing = counted(question)
        return 2 if thing and holds_count(sentence, thing) else 1
    return 1


def says_unknown(sentence: str) -> bool:
    """The sentence says the answer is not known ("原因还尚未查明", "the cause is unknown")."""
    return _UNKNOWN.search(sentence) is not None


@lru_cache(maxsize=4096)
def answer_type(question: str) -> str | None:
    """The kind of answer ``question`` asks for (one of ``KINDS``), or None.

    >>> [answer_type(q) for q in ("2012年印度大停电影响了多少人？", "When did the Tunguska event happen?",
    ...                           "谁发明了电话？", "What caused the 2012 India blackout?", "什么是黑洞？")]
    ['quantity', 'date', 'person', 'cause', None]
    """
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def holds(kind: str | None, sentence: str) -> bool:
    """Whether ``sentence`` holds an answer of ``kind`` (always False for None).

    >>> holds("quantity", "超过3亿印度人受到影响。"), holds("quantity", "原因还尚未查明。")
    (True, False)
    >>> holds("date", "The event took place on 30 June 1908."), holds("cause", "停电是由于线路短路引起的。")
    (True, True)
    """
    if kind is None:
        return False
    if kind == "cause" and _UNKNOWN.search(sentence):
        return False
    if kind == "quantity" and _DIGIT.search(sentence):
        return True  # (the common case, without the whole pattern)
    return _FORMS[kind].search(sentence) is not None


def form(kind: str | None) -> re.Pattern | None:
    """The pattern an answer of ``kind`` matches (None for None)."""
    return _FORMS.get(kind) if kind else None
