"""Language-centred vectors: why a question finds its answer in either language.

The bundled multilingual model places every Chinese text near every other Chinese text and
every English text near every English one: its vectors carry a large language component shared
by all texts of a language. In a library holding both, that component outweighs the topic, so a
question's own-language passages come first whatever they are about (MLQA mixed library, plain
cosine: an English question finds its Chinese article first 7% of the time, a Chinese question
its English article 1%; benchmarks/README.md).

Removing each language's mean vector removes that component. A passage ``p`` in language L is
compared as ``unit(p - mean_L)``; a question in language Q as ``unit(q - mean_Q)``, with the
same passage means (queries have no library of their own to average). Sentences are centred
with the sentence means the same way. Cosines in this space rank the other language's answer
first 57-60% of the time on that set (dense only; same-language questions lose 2-3 points there,
which the hybrid ranking recovers), and help single-language cross-lingual search too (English →
Chinese 0.488 → 0.595). Full figures in benchmarks/README.md.

Means are blended with the model's means over a large corpus where the project ships them
(``load_prior``), or shrunk towards zero where it does not, so that a language with one passage
does not centre that passage on itself. The means come from running sums kept in SQLite (``lang_stats``, updated with every article
added or removed). The dense index holds centred vectors, so the means it was built with are
frozen with it (saved beside it, replaced when the index is rebuilt at compaction); a language
that appears after the index was built makes the next save rebuild it. Text of no single
language ("mixed") is centred with the average of the two means.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LANGS = ("zh", "en")


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)


class LanguageSpace:
    """Per-language mean vectors of passages and of sentences; ``centred`` False is the plain
    cosine space (no means; ``LanguageSpace()``)."""

    def __init__(self, passage_means: dict[str, np.ndarray] | None = None,
                 sentence_means: dict[str, np.ndarray] | None = None, centred: bool = False):
        self.passage_means = {k: np.asarray(v, np.float32) for k, v in (passage_means or {}).items()}
        self.sentence_means = {k: np.asarray(v, np.float32) for k, v in (sentence_means or {}).items()}
        self.centred = centred

    def knows(self, lang: str) -> bool:
        """Whether a passage in ``lang`` is centred with a mean of its own language (an empty
        KB's space knows none yet)."""
        return not self.centred or lang not in LANGS or lang in self.passage_means

    @staticmethod
    def _mean(means: dict[str, np.ndarray], lang: str) -> np.ndarray | None:
        if lang in means:
            return means[lang]
        if not means:
            return None
        return np.mean([means[k] for k in sorted(means)], axis=0)

    def _centre(self, means: dict, vecs: np.ndarray, langs) -> np.ndarray:
        vecs = np.asarray(vecs, np.float32)
        if not means or not len(vecs):
            return vecs
        out = vecs.copy()
        langs = np.asarray(langs)
        for lang in set(langs.tolist()):
            out[langs == lang] -= self._mean(means, lang)
        return _unit(out)

    def passages(self, vecs: np.ndarray, langs) -> np.ndarray:
        return self._centre(self.passage_means, vecs, langs)

    def sentences(self, vecs: np.ndarray, langs) -> np.ndarray:
        return self._centre(self.sentence_means, vecs, langs)

    def query(self, qv: np.ndarray, lang: str) -> tuple[np.ndarray, np.ndarray]:
        """The question's vector for comparing with passages, and with sentences."""
        if not self.passage_means:
            return qv, qv
        out = []
        for means in (self.passage_means, self.sentence_means):
            v = qv - self._mean(means, lang) if means else np.asarray(qv, np.float32)
            n = float(np.linalg.norm(v))
            out.append((v / n if n > 0 else v).astype(np.float32))
        return out[0], out[1]

    # --- persistence (beside the dense index) -----------------------------------------------
    def save(self, path: Path) -> None:
        arrays = {f"p_{k}": v for k, v in self.passage_means.items()}
        arrays |= {f"s_{k}": v for k, v in self.sentence_means.items()}
        with open(path, "wb") as f:
            np.savez(f, centred=np.ones(1), **arrays)

    @classmethod
    def load(cls, path: Path) -> "LanguageSpace":
        with np.load(path, allow_pickle=False) as z:
            return cls({k[2:]: z[k] for k in z.files if k.startswith("p_")},
                       {k[2:]: z[k] for k in z.files if k.startswith("s_")}, centred=True)

    @classmethod
    def from_sums(cls, sums: dict[tuple[str, str], tuple[int, np.ndarray]],
                  prior: dict[tuple[str, str], np.ndarray] | None = None) -> "LanguageSpace":
        """From ``Store.lang_sums()``: {(kind, lang): (count, sum)} with kind 'p' or 's'. With a
        ``prior`` (the model's language means over a large corpus, ``load_prior``), each mean
        is the library's blended with it as PRIOR_WEIGHT texts would be: a library with one
        English passage must not centre that passage on itself (its vector would vanish)."""
        prior = prior or {}
        means: dict[str, dict] = {"p": {}, "s": {}}
        for (kind, lang), (n, total) in sums.items():
            if n > 0 and lang in LANGS:
                p = prior.get((kind, lang))
                # No prior: shrunk towards zero as SHRINK texts would, for the same reason.
                mean = total / (n + SHRINK) if p is None else (total + PRIOR_WEIGHT * p) / (n + PRIOR_WEIGHT)
                means[kind][lang] = mean.astype(np.float32)
        # A question in a language the library does not hold yet is centred on that language's
        # corpus mean, not on the library's other language.
        for (kind, lang), p in prior.items():
            if kind in means and lang in LANGS and means[kind] and lang not in means[kind]:
                means[kind][lang] = p.astype(np.float32)
        return cls(means["p"], means["s"], centred=True)


PRIOR_WEIGHT = 100  # texts' worth of weight the model's corpus means carry against the library's
SHRINK = 10  # for a model without shipped means: zero vectors' worth of weight in each mean
PRIORS = Path(__file__).resolve().parent.parent / "data" / "langspace"


def load_prior(embedder_name: str) -> dict[tuple[str, str], np.ndarray] | None:
    """The embedder's language means measured on a large corpus, when the project ships them
    (data/langspace/: the bundled model's, from the MLQA dev contexts, 1,902 passages and 5,573
    sentences; benchmarks/README.md)."""
    path = PRIORS / (embedder_name.replace("/", "-") + ".npz")
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {tuple(k.split("_", 1)): z[k].astype(np.float64) for k in z.files}
