"""Peer rankings for `retrieval.py --peers`: what a user would otherwise set up, over the same
passages and the same bundled embedder's vectors (read from the KB, so every system ranks the
very same vectors; questions embedded once, as for the library's own variants).

- txtai: `Embeddings(hybrid=True, content=True)` with the vectors given through its documented
  `method="external"` transform — its hybrid index (dense + its own BM25 scoring, default
  tokenizer), as the txtai documentation sets up hybrid search.
- A Langchain-Chatchat-style ensemble: langchain-community's FAISS vector store (normalised,
  inner product) and BM25Retriever with jieba search-mode tokens (as Chatchat's BM25 does), fused by
  EnsembleRetriever with weights 0.5 / 0.5 (Chatchat's defaults).

Both rank passages; a question's article rank is its first passage's. Neither picks a sentence,
so their highlight column is not comparable and printed as 0.

    pip install -r benchmarks/requirements.txt
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np


def _passages(kb_path: Path) -> list[tuple[str, str, np.ndarray]]:
    db = sqlite3.connect(kb_path / "kb.sqlite")
    rows = db.execute("SELECT a.title, p.text, p.vec FROM passages p JOIN articles a ON a.id=p.article_id ORDER BY p.id")
    out = [(t, x, np.frombuffer(v, np.float32)) for t, x, v in rows]
    db.close()
    return out


def _judge_all(asked, ranked_titles, judge) -> tuple[dict, list]:
    rows = {}
    for q, titles in zip(asked, ranked_titles):
        if q.gold is not None:
            hits = [{"title": t, "highlight": ""} for t in titles]
            rows[(q.query, q.gold)] = judge(hits, q)
    return rows, []


def _articles(titles: list[str], k: int = 10) -> list[str]:
    return list(dict.fromkeys(titles))[:k]


def _txtai_safe(query: str) -> str:
    """txtai parses a query on a content-enabled index as SQL: quotes would end its string."""
    return query.replace("'", " ").replace('"', " ")


def run_txtai(passages, asked, qv) -> tuple[list[list[str]], float]:
    from txtai import Embeddings
    vec = {text: v for _, text, v in passages}
    vec.update({_txtai_safe(q.query): qv[i] for i, q in enumerate(asked)})

    def transform(texts):
        return np.vstack([vec[t] for t in texts]).astype(np.float32)

    emb = Embeddings(method="external", transform=transform, content=True, hybrid=True)
    emb.index([(f"{i}", text, None) for i, (_, text, _) in enumerate(passages)])
    title_of = {str(i): t for i, (t, _, _) in enumerate(passages)}
    out = []
    t0 = time.time()
    for q in asked:
        res = emb.search(_txtai_safe(q.query), 30)
        out.append(_articles([title_of[r["id"]] for r in res]))
    return out, (time.time() - t0) / len(asked)


def run_chatchat(passages, asked, qv) -> tuple[list[list[str]], float]:
    import jieba
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    vec = {text: v for _, text, v in passages}
    qvec = {q.query: qv[i] for i, q in enumerate(asked)}

    class Stored(Embeddings):
        def embed_documents(self, texts):
            return [vec[t].tolist() for t in texts]

        def embed_query(self, text):
            return qvec[text].tolist()

    docs = [Document(page_content=text, metadata={"title": title}) for title, text, _ in passages]
    store = FAISS.from_documents(docs, Stored(), normalize_L2=True, distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
    bm25 = BM25Retriever.from_documents(docs, preprocess_func=jieba.lcut_for_search, k=30)
    ens = EnsembleRetriever(retrievers=[bm25, store.as_retriever(search_kwargs={"k": 30})], weights=[0.5, 0.5])
    out = []
    t0 = time.time()
    for q in asked:
        out.append(_articles([d.metadata["title"] for d in ens.invoke(q.query)]))
    return out, (time.time() - t0) / len(asked)


def run_peers(kb_path: Path, lib, qv: np.ndarray, judge) -> dict:
    passages = _passages(kb_path)
    asked = lib.questions + lib.off_topic
    out = {}
    for name, fn in (("txtai hybrid (peer)", run_txtai), ("Chatchat-style ensemble (peer)", run_chatchat)):
        try:
            ranked, secs = fn(passages, asked, qv)
        except ImportError as e:
            print(f"  ({name} skipped: {e}; pip install -r benchmarks/requirements.txt)")
            continue
        rows, conf = _judge_all(asked, ranked, judge)
        out[name] = {"rows": rows, "conf": conf, "ms": 1000 * secs}
    return out
