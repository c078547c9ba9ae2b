"""Glosses in context: how often the first sense the app shows for a Chinese word is the one its
sentence means, over the two hand-written sets in tests/data/ (gloss-senses.tsv, which the rules
were settled on, and gloss-senses-heldout.tsv, written after them), side by side for:

- ``dictionary order``: CC-CEDICT's first sense of the word's first entry (the app before 2026-12-03);
- ``jieba tag``: the reading and senses chosen by the tag jieba's dictionary gives the word;
- ``in context`` (shipped): that tag read against the word's neighbours (``_tag_in_context``);
- ``+ verb objects``: also a word after another verb read as its object (off).

    python benchmarks/glosses.py
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import dictionary  # noqa: E402

SETS = {"tuned on": ROOT / "tests/data/gloss-senses.tsv", "held out": ROOT / "tests/data/gloss-senses-heldout.tsv"}


def rows(path: Path) -> list[tuple[str, str, list[str]]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            sent, word, expected = line.split("\t")
            out.append((sent, word, expected.split("|")))
    return out


def fits(sense: str, expected: list[str]) -> bool:
    """The sense says one of the expected words ("to …" verbs as a phrase, others as a word)."""
    s = sense.lower()
    return any(a.lower() in s if a.startswith("to ") else re.search(rf"\b{re.escape(a.lower())}\b", s) for a in expected)


def first_sense(d: dictionary.Dictionary, sent: str, word: str) -> str:
    at = sent.index(word)
    got = [g for s, e, g in d.gloss_entries(sent) if (s, e) == (at, at + len(word))]
    return got[0].senses[0] if got else ""


def main() -> None:
    d = dictionary.get()
    shipped = dictionary._tag_in_context
    variants = {
        "dictionary order": None,
        "jieba tag": lambda prev, prev_tag, tag, nxt: tag,
        "in context (shipped)": shipped,
        "+ verb objects": lambda prev, prev_tag, tag, nxt: shipped(prev, prev_tag, tag, nxt, objects=True),
    }
    print(f"{'variant':<22}" + "".join(f"{name + f' ({len(rows(p))})':>16}" for name, p in SETS.items()))
    for name, rule in variants.items():
        cells = []
        for path in SETS.values():
            rs = rows(path)
            if rule is None:
                ok = sum(fits((d.zh_en.get(w) or [""])[0], exp) for _, w, exp in rs)
            else:
                dictionary._tag_in_context = rule
                try:
                    ok = sum(fits(first_sense(d, s, w), exp) for s, w, exp in rs)
                finally:
                    dictionary._tag_in_context = shipped
            cells.append(f"{ok}/{len(rs)} {ok / len(rs):.2f}")
        print(f"{name:<22}" + "".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
