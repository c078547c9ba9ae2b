"""The small typed records that travel between the store, the indexes and the search stages.

A passage is cut by ``kb.segment`` (``segment.Passage``), stored by ``kb.store`` and read back
for ranking as a ``PassageRow``; its sentences travel as ``SentenceRef``; a search's candidates
are ``Candidates`` (one array per signal, aligned by position) until the leading ones become
``kb.results.Hit``. The search stages' own records are here too: the question as they use it
(``Query``), the leading candidates scored in full (``Lead``) and a hit being built (``Draft``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .dictionary import CrossQuery
    from .results import Hit
    from .store import ArticleMeta


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


@dataclass
class Query:
    """A question as the stages use it. ``vector`` is its embedding (plain cosine space),
    ``vp`` / ``vs`` the same centred on its language for comparing with passages / sentences
    (``kb.langspace``); all three are None in lexical mode. ``cross``: its terms translated
    for the other language's passages (``kb.dictionary``), when the ranking uses them."""
    text: str
    terms: list[str]
    lang: str
    vector: np.ndarray | None = None
    vp: np.ndarray | None = None
    vs: np.ndarray | None = None
    cross: CrossQuery | None = None
    tp: np.ndarray | None = None   # its word-by-word translation's vector, centred on the other language
    kind: str | None = None        # the kind of answer it asks for (kb.answers: date, quantity, …)


@dataclass
class Lead:
    """The leading candidates after full scoring (stage 3): their rows and sentences, each
    sentence's cosine in the centred space (ranking) and in the plain one (choosing the
    highlight), and per candidate position its dense part and the lexical coverage used
    (with whether it came through translation)."""
    positions: list[int]
    rows: dict[int, PassageRow]
    sents: dict[int, list[SentenceRef]]
    scos: dict[int, float]
    raw_scos: dict[int, float]
    dense_of: dict[int, float]
    lex_of: dict[int, tuple[float, bool]]
    depth: int


@dataclass
class Draft:
    """A hit being built: its sentences (merged passages add theirs) and its article."""
    hit: Hit
    sents: list[SentenceRef]
    art: ArticleMeta
