"""Fit and check the confidence model of kb/search.py (``CONFIDENCE``).

`retrieval.py` writes, per library, the signals of the shipped ranking's top hit for every
question and off-topic question (benchmarks/out/signals-<library>.json). This script fits a
logistic regression on the MLQA libraries with the label "the top hit is the article that
answers", prints its coefficients, and the flag rates at several thresholds on every library,
the CMRC ones being held out (never fitted on).

    python benchmarks/retrieval.py            # writes the signals files
    python benchmarks/confidence.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
FEATURES = ["dense", "lexical", "lead", "sentence", "sentence_plain", "lexical_best", "cover"]
FIT_ON = ["mlqa-zh", "mlqa-en", "mlqa-mixed"]
HELD_OUT = ["cmrc", "cmrc-mixed"]


def load(name: str):
    rows = json.loads((OUT / f"signals-{name}.json").read_text())
    x = np.array([[r[k] for k in FEATURES] for r in rows], float)
    on = np.array([r["on_topic"] for r in rows], bool)
    right = np.array([r["right"] for r in rows], bool)
    return x, on, right


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton steps (bias first)."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ (p - y) / len(y) + l2 * w
        hess = (xb.T * (p * (1 - p))) @ xb / len(y) + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def main() -> None:
    have = [n for n in FIT_ON + HELD_OUT if (OUT / f"signals-{n}.json").exists()]
    if not all(n in have for n in FIT_ON):
        sys.exit("run benchmarks/retrieval.py first (it writes benchmarks/out/signals-*.json)")
    x = np.vstack([load(n)[0] for n in FIT_ON])
    y = np.concatenate([load(n)[2] for n in FIT_ON]).astype(float)
    w = fit(x, y)
    print("CONFIDENCE = {" + ", ".join(f'"{k}": {v:.3f}' for k, v in zip(["bias"] + FEATURES, w)) + "}\n")
    print("| library | threshold | in-library flagged | … of them top hit right | … top hit wrong | off-topic flagged |")
    print("|---|---|---|---|---|---|")
    for name in have:
        xs, on, right = load(name)
        p = 1 / (1 + np.exp(-(w[0] + xs @ w[1:])))
        for th in (0.1, 0.2, 0.3, 0.5):
            flag = p < th
            print(f"| {name}{' (held out)' if name in HELD_OUT else ''} | {th} | {flag[on].mean():.3f} "
                  f"| {flag[on & right].mean():.3f} | {flag[on & ~right].mean():.3f} | {flag[~on].mean():.3f} |")


if __name__ == "__main__":
    main()
