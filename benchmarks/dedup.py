"""Near-duplicate threshold: MinHash similarity of reposts vs. different articles.

Positives: the seed article with other page noise and 0–20% of its sentences edited or dropped
(what reposting sites do). Negatives: every pair among 300 CMRC 2018 contexts (same genre, some
on the same topics) and the seed against each. Prints the similarity ranges and, per threshold,
how many reposts are caught and how many different-article pairs are wrongly linked.

    python benchmarks/dedup.py [--data DIR]      # DIR holds cmrc2018/ (default ../shared/bench-data)
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.clean import clean_text  # noqa: E402
from kb.dedup import signature, similarity  # noqa: E402
from kb.segment import split_sentences  # noqa: E402

SEED = ROOT / "data/articles/zh/tiktok-shop-us-launch.zh.txt"  # the seed article, as scraped
DATA = ROOT.parent / "shared" / "bench-data"


def repost(text: str, edit_share: float, rng: random.Random) -> str:
    sents = [text[s.start:s.end] for s in split_sentences(text)]
    out = []
    for s in sents:
        r = rng.random()
        if r < edit_share / 2:
            continue  # dropped
        if r < edit_share:
            s = s[: len(s) // 2] + "（编者注）" + s[len(s) // 2:]  # edited
        out.append(s)
    return "阅读 3.4万\n" + "\n".join(out) + "\n来源:某转载站\n点击关注我们"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help=f"folder holding cmrc2018/ (default {DATA})")
    cmrc = ap.parse_args().data / "cmrc2018" / "cmrc2018_dev.json"
    if not cmrc.exists():
        raise SystemExit(f"{cmrc} is missing: CMRC 2018 dev comes from https://github.com/ymcui/cmrc2018 (squad-style/cmrc2018_dev.json)")
    rng = random.Random(3)
    seed = clean_text(SEED.read_text(encoding="utf-8")).text
    s0 = signature(seed)
    pos = {share: [similarity(s0, signature(clean_text(repost(seed, share, rng)).text)) for _ in range(20)]
           for share in (0.0, 0.1, 0.2, 0.3)}
    ctx = [p["context"] for a in json.loads(cmrc.read_text(encoding="utf-8"))["data"] for p in a["paragraphs"]][:300]
    sigs = [signature(c) for c in ctx] + [s0]
    neg = [similarity(a, b) for a, b in itertools.combinations(sigs, 2)]
    print("| pairs | n | min | max |\n|---|---|---|---|")
    for share, v in pos.items():
        print(f"| repost, {int(share * 100)}% of sentences edited or dropped | {len(v)} | {min(v):.2f} | {max(v):.2f} |")
    print(f"| different articles | {len(neg)} | {min(neg):.2f} | {max(neg):.2f} |")
    print("\n| threshold | reposts caught (≤20% edited) | different pairs linked |\n|---|---|---|")
    caught_pool = pos[0.0] + pos[0.1] + pos[0.2]
    for t in (0.3, 0.4, 0.5, 0.6, 0.7):
        print(f"| {t} | {sum(v >= t for v in caught_pool)}/{len(caught_pool)} | {sum(v >= t for v in neg)}/{len(neg)} |")


if __name__ == "__main__":
    main()
