"""Retrieval evaluation over question files (JSONL with ``query`` and ``evidence``).

A hit counts when its passage text contains the evidence (whitespace-insensitive) or, when a
line names its article (``article``), when the hit comes from that article. With an
``answer`` field, highlight accuracy is the share of questions whose top hit is relevant and
whose highlighted sentence contains the answer. Lines with ``"off_topic": true`` ask what the
library cannot answer: they count only towards the no-answer rates (how often the search flags
them, and how often it flags the questions it can answer).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import KBError
from .text import detect_lang, normalize

KS = (1, 3, 5, 10)


def load_questions(path: str | Path) -> list[dict]:
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise KBError(f"{path}: cannot read questions ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise KBError(f"{path}: not UTF-8 text (byte {e.start}); save the questions as UTF-8") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except ValueError:
            raise KBError(f"{path}:{n}: not a JSON line") from None
        if not isinstance(q, dict) or not isinstance(q.get("query"), str) or not (
                q.get("evidence") or q.get("article") or q.get("off_topic") is True):
            raise KBError(f"{path}:{n}: needs a 'query' string and an 'evidence' (or 'article') field, "
                          f"or \"off_topic\": true")
        for name in ("evidence", "article", "answer", "lang"):
            if q.get(name) is not None and not isinstance(q[name], str):
                raise KBError(f"{path}:{n}: '{name}' must be a string, not {type(q[name]).__name__} ({str(q[name])[:40]})")
        q.setdefault("lang", detect_lang(q["query"]))
        out.append(q)
    return out


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", normalize(s))


def is_relevant(hit, q: dict) -> bool:
    if q.get("article"):
        return hit.article_id == q["article"] or hit.path == q["article"]
    return _squash(q["evidence"]) in _squash(hit.text)


def evaluate(kb, questions: list[dict], k: int = 10, **search_kw) -> dict:
    """Recall@1/3/5/10, MRR@10 and highlight accuracy, overall and per question language."""
    rows, flags = [], []
    answers = kb.search_batch([q["query"] for q in questions], k=max(k, 10), **search_kw) if questions else []
    for q, hits in zip(questions, answers):
        if getattr(hits, "confidence", None) is not None:
            flags.append((q.get("off_topic") is True, bool(hits.no_answer)))
        if q.get("off_topic") is True:
            continue
        rank = next((i + 1 for i, h in enumerate(hits) if is_relevant(h, q)), None)
        hl = None
        if q.get("answer"):
            hl = bool(hits) and rank == 1 and _squash(q["answer"]) in _squash(hits[0].highlight)
        rows.append({"id": q.get("id"), "query": q["query"], "lang": q["lang"], "rank": rank, "highlight": hl})
    out = {"overall": _summarise(rows), **{f"lang={lang}": _summarise([r for r in rows if r["lang"] == lang])
                                            for lang in sorted({r["lang"] for r in rows})}, "rows": rows}
    on = [f for off, f in flags if not off]
    off = [f for is_off, f in flags if is_off]
    out["no_answer"] = {"in_library": len(on), "in_library_flagged": sum(on) / len(on) if on else None,
                        "off_topic": len(off), "off_topic_flagged": sum(off) / len(off) if off else None}
    return out


def _summarise(rows: list[dict]) -> dict:
    n = len(rows)
    if not n:
        return {"n": 0}
    out = {"n": n}
    for k in KS:
        out[f"recall@{k}"] = sum(1 for r in rows if r["rank"] and r["rank"] <= k) / n
    out["mrr@10"] = sum(1 / r["rank"] for r in rows if r["rank"] and r["rank"] <= 10) / n
    hl = [r["highlight"] for r in rows if r["highlight"] is not None]
    if hl:
        out["highlight"] = sum(hl) / len(hl)
    return out


def format_table(result: dict) -> str:
    cols = ["n"] + [f"recall@{k}" for k in KS] + ["mrr@10"]
    if any("highlight" in v for k, v in result.items() if k != "rows"):
        cols.append("highlight")
    lines = ["| set | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, v in result.items():
        if name in ("rows", "no_answer") or not v.get("n"):
            continue
        cells = [str(v["n"])] + [f"{v[c]:.3f}" if c in v else "" for c in cols[1:]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    na = result.get("no_answer") or {}
    if na.get("in_library_flagged") is not None:
        lines.append(f"\nno-answer flag: {na['in_library_flagged']:.3f} of {na['in_library']} questions the library answers")
    if na.get("off_topic_flagged") is not None:
        lines.append(f"no-answer flag: {na['off_topic_flagged']:.3f} of {na['off_topic']} off-topic questions")
    return "\n".join(lines)
