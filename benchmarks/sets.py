"""The benchmark libraries and their questions, built from SQuAD-format dev sets.

Every context becomes one article whose title is a digest of its text (``title_of``), so one
question's gold article has the same title in every library that holds it, and a question can
be asked of a mixed library and of a single-language one and scored the same way.

Libraries (``--data DIR``, default ``../shared/bench-data``):

  mlqa-zh      the 443 Chinese MLQA dev contexts
  mlqa-en      the 430 English MLQA dev contexts of the same 504 questions
  mlqa-mixed   each MLQA topic (a Wikipedia article: the questions sharing one article in
               dev-context-zh-question-en.json) in one language only: topics at even positions
               in that file (0, 2, 4, …) keep their Chinese contexts, odd ones their English
               contexts; every question asked in English and in Chinese
  cmrc         the 848 CMRC 2018 dev contexts
  cmrc-trad    the same in Traditional script
  cmrc-mixed   the CMRC contexts plus as many English ones: the first 848 distinct contexts of
               MLQA's dev-context-en-question-en.json; CMRC questions only

Off-topic questions (asked of a library that cannot answer them, for the no-answer flag):
for the MLQA libraries, CMRC questions and English MLQA questions about articles none of the
MLQA zh/en topics cover; for the CMRC libraries, MLQA's Chinese questions and English questions
about contexts left out of cmrc-mixed.

Far off-topic questions (``far``): everyday questions no library of these articles answers,
100 in English and 100 in Chinese written for this project (benchmarks/data/everyday-*.jsonl),
asked of every library.

Where each set comes from: CMRC 2018 (https://github.com/ymcui/cmrc2018, CC BY-SA 4.0) and
MLQA v1 (https://github.com/facebookresearch/MLQA, CC BY-SA 3.0); their PROVENANCE.md in the
data folder gives commits and checksums.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

OFF_TOPIC_N = 250  # off-topic questions per language per library


@dataclass
class Question:
    query: str
    lang: str                       # the question's language
    gold: str | None                # title of the article that answers it; None when off-topic
    gold_lang: str | None = None    # that article's language
    answers: list[str] = field(default_factory=list)
    id: str = ""
    off: str = ""                   # for an off-topic question: "near" (another dev set) or "far" (everyday)


@dataclass
class Library:
    name: str
    contexts: list[tuple[str, str]]            # (text, lang)
    questions: list[Question]
    off_topic: list[Question] = field(default_factory=list)
    far: list[Question] = field(default_factory=list)


DATA = Path(__file__).resolve().parent / "data"


def everyday() -> list[Question]:
    """The far off-topic questions: everyday questions (benchmarks/data/everyday-{en,zh}.jsonl)."""
    out = []
    for lang in ("en", "zh"):
        for line in (DATA / f"everyday-{lang}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                out.append(Question(q["query"], q["lang"], None, id=f"everyday-{lang}-{len(out)}", off="far"))
    return out


def title_of(context: str) -> str:
    return "c" + hashlib.sha1(context.encode("utf-8")).hexdigest()[:12]


def _squad(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["data"]
    except FileNotFoundError:
        raise SystemExit(f"{path}: missing. The benchmarks read CMRC 2018 dev (github.com/ymcui/cmrc2018, "
                         f"squad-style/cmrc2018_dev.json) and MLQA v1 dev (github.com/facebookresearch/MLQA, "
                         f"MLQA_V1/dev/dev-context-{{zh,en}}-question-{{zh,en}}.json); give their folder with --data") from None


def _qas(data: list[dict]):
    """(article number, context, qa) for every question."""
    for n, art in enumerate(data):
        for para in art["paragraphs"]:
            for qa in para["qas"]:
                yield n, para["context"], qa


def _answers(qa: dict) -> list[str]:
    return [a["text"] for a in qa.get("answers", []) if a.get("text")]


def _mlqa(data_dir: Path) -> dict[str, dict]:
    """Per MLQA question id: its Chinese and English contexts and questions, answers, topic number."""
    zh_en = _squad(data_dir / "mlqa/dev-context-zh-question-en.json")
    en_zh = _squad(data_dir / "mlqa/dev-context-en-question-zh.json")
    out: dict[str, dict] = {}
    for n, ctx, qa in _qas(zh_en):
        out[qa["id"]] = {"topic": n, "zh_ctx": ctx, "en_q": qa["question"].strip(), "zh_answers": _answers(qa)}
    for _, ctx, qa in _qas(en_zh):
        if qa["id"] in out:
            out[qa["id"]].update(en_ctx=ctx, zh_q=qa["question"].strip(), en_answers=_answers(qa))
    return {k: v for k, v in out.items() if "en_ctx" in v}


def _distinct(texts) -> list[str]:
    seen: dict[str, None] = {}
    for t in texts:
        seen.setdefault(t, None)
    return list(seen)


def _off_topic_mlqa(data_dir: Path, pairs: dict[str, dict]) -> list[Question]:
    cmrc = [Question(qa["question"].strip(), "zh", None, id=qa["id"])
            for _, _, qa in _qas(_squad(data_dir / "cmrc2018/cmrc2018_dev.json"))][:OFF_TOPIC_N]
    covered = {p["en_ctx"] for p in pairs.values()}
    en_en = _squad(data_dir / "mlqa/dev-context-en-question-en.json")
    topics_covered = {n for n, ctx, _ in _qas(en_en) if ctx in covered}
    en = [Question(qa["question"].strip(), "en", None, id=qa["id"])
          for n, _, qa in _qas(en_en) if n not in topics_covered and qa["id"] not in pairs][:OFF_TOPIC_N]
    return cmrc + en


def _cmrc_questions(data: list[dict]) -> list[Question]:
    return [Question(qa["question"].strip(), "zh", title_of(ctx), "zh", _answers(qa), qa["id"]) for _, ctx, qa in _qas(data)]


def load(name: str, data_dir: Path, limit: int | None = None) -> Library:
    """Library ``name`` (see the module's doc). ``limit`` keeps the first N questions of each
    language and, as distractors, as many other contexts as their own (a quick run)."""
    if name.startswith("mlqa"):
        pairs = _mlqa(data_dir)
        off = _off_topic_mlqa(data_dir, pairs)
        items = list(pairs.values())
        if name == "mlqa-zh":
            ctx = [(c, "zh") for c in _distinct(p["zh_ctx"] for p in items)]
            qs = [Question(p[q], ql, title_of(p["zh_ctx"]), "zh", p["zh_answers"]) for p in items
                  for q, ql in (("en_q", "en"), ("zh_q", "zh"))]
        elif name == "mlqa-en":
            ctx = [(c, "en") for c in _distinct(p["en_ctx"] for p in items)]
            qs = [Question(p[q], ql, title_of(p["en_ctx"]), "en", p["en_answers"]) for p in items
                  for q, ql in (("en_q", "en"), ("zh_q", "zh"))]
        elif name == "mlqa-mixed":
            kept = [("zh", p["zh_ctx"], p["zh_answers"]) if p["topic"] % 2 == 0 else ("en", p["en_ctx"], p["en_answers"])
                    for p in items]
            ctx = [(c, lang) for c, lang in _distinct((c, lang) for lang, c, _ in kept)]
            qs = [Question(p[q], ql, title_of(c), lang, ans) for p, (lang, c, ans) in zip(items, kept)
                  for q, ql in (("en_q", "en"), ("zh_q", "zh"))]
        else:
            raise SystemExit(f"unknown set {name}")
        lib = Library(name, ctx, qs, off)
    elif name.startswith("cmrc"):
        data = _squad(data_dir / "cmrc2018/cmrc2018_dev.json")
        ctx = [(c, "zh") for c in _distinct(c for _, c, _ in _qas(data))]
        qs = _cmrc_questions(data)
        pairs = _mlqa(data_dir)
        off = [Question(p["zh_q"], "zh", None) for p in pairs.values()][:OFF_TOPIC_N]
        if name == "cmrc-trad":
            from opencc import OpenCC
            cc = OpenCC("s2t")
            trad = {title_of(c): cc.convert(c) for c, _ in ctx}
            ctx = [(cc.convert(c), "zh") for c, _ in ctx]
            for q in qs:
                q.gold = title_of(trad[q.gold])
        elif name == "cmrc-mixed":
            en_en = _squad(data_dir / "mlqa/dev-context-en-question-en.json")
            en_ctx = _distinct(c for _, c, _ in _qas(en_en))
            kept = set(en_ctx[:len(ctx)])
            ctx = ctx + [(c, "en") for c in en_ctx[:len(ctx)]]
            off += [Question(qa["question"].strip(), "en", None) for _, c, qa in _qas(en_en) if c not in kept][:OFF_TOPIC_N]
        elif name != "cmrc":
            raise SystemExit(f"unknown set {name}")
        lib = Library(name, ctx, qs, off)
    else:
        raise SystemExit(f"unknown set {name}")
    for q in lib.off_topic:
        q.off = "near"
    lib.far = everyday()
    if limit:
        lib = _limited(lib, limit)
    return lib


def _limited(lib: Library, limit: int) -> Library:
    qs: list[Question] = []
    for lang in ("zh", "en"):
        qs += [q for q in lib.questions if q.lang == lang][:limit]
    gold = {q.gold for q in qs}
    own = [c for c in lib.contexts if title_of(c[0]) in gold]
    others = [c for c in lib.contexts if title_of(c[0]) not in gold][:len(own)]
    return Library(lib.name, own + others, qs, lib.off_topic[:limit], lib.far)
