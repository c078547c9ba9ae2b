"""The small typed records that travel between the store, the indexes and the search stages.

A passage is cut by ``kb.segment`` (``segment.Passage``), stored by ``kb.store`` and read back
for ranking as a ``PassageRow``; its sentences travel as ``SentenceRef``; a search's candidates
are ``Candidates`` (one array per signal, aligned by position) until the leading ones become
``kb.search.Hit``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class SentenceRef(NamedTuple):
    """One sentence of a passage: its SQLite id, position in the article, character span in the
    article's cleaned text, and ``row``, the index of its vector in the matrix it came with."""
    id: int
    seq: int
    start: int
    end: int
    row: int


@dataclass(slots=True)
class PassageRow:
    """What ranking and citing need of a stored passage (``Store.passage_rows``)."""
    id: int
    article_id: str
    paragraph: int
    start: int      # span in the article's cleaned text
    end: int
    lang: str
    text: str       # the article's text over [start, end)


@dataclass
class Candidates:
    """A search's candidate passages and their signals, aligned by position: ``pids`` ascending,
    ``cos`` the passage vector's cosine with the question (language-centred), ``lexical`` the
    BM25 of the question's own terms as a share of an ideal match (0-1), ``lexical_x`` that of
    its translated terms."""
    pids: list[int]
    cos: np.ndarray
    lexical: np.ndarray
    lexical_x: np.ndarray
    dense_top: dict[int, float] = field(default_factory=dict)  # the vector search's own hits
    cos_t: np.ndarray | None = None  # the cosine with the translated question (SearchParams.translated_dense)

    def __len__(self) -> int:
        return len(self.pids)
