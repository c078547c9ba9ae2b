"""The JSON shapes the command line (``--json``) and the HTTP API both print — one definition
below both, so neither imports the other. A passage's shape is ``kb.cite.passage_json``."""
from __future__ import annotations


def result_json(query: str, hits) -> dict:
    """``search --json``'s object: the hits, the confidence that the first answers, the flag."""
    conf = getattr(hits, "confidence", None)
    return {"query": query, "confidence": None if conf is None else round(conf, 4),
            "no_answer": bool(getattr(hits, "no_answer", False)), "no_answer_reason": getattr(hits, "reason", None),
            "hits": [h.to_dict() for h in hits]}


def article_json(kb, art) -> dict:
    """``show --json``'s object: metadata, cleaned text and passages."""
    passages = [dict(r) for r in kb.store.passages_of(art.id)]
    return art.summary() | {"author": art.author, "meta": art.meta, "text": art.text, "passage_list": passages}


def item_json(it: dict) -> dict:
    """A collection item as ``collection show --json`` and the API print it."""
    d = it.get("current")
    return {k: it[k] for k in ("id", "collection", "article_id", "start", "end", "permalink", "title", "quote", "note",
                               "saved_at", "status")} | {"current_permalink": d["permalink"] if d else None}
