"""Parameters as data: what shapes a KB when it is built, its derived indexes, and a search.

The environment (``kb.config``) and the command line fill these at the edge — ``from_env()`` —
and the library takes them as arguments: ``KnowledgeBase.open(path, settings=…)``,
``kb.search(q, params=…)``. Nothing below the edge reads the environment.

- ``BuildParams`` shape the stored data (how passages are cut, which index backend): recorded in
  the KB when it is created and read from there ever after, whatever the environment says.
- ``IndexParams`` shape the derived indexes only (exact or approximate, probes, language
  centring): a change rebuilds them from SQLite, nothing stored is touched.
- ``Settings`` hold all of them with the process-wide settings (the KB folder, the model and its
  threads, jieba's user dictionary…): what an entry point reads once and hands down.
- ``SearchParams`` weigh the ranking. The few a user may want to turn are settings
  (``KB_LEXICAL_WEIGHT``…); the rest are documented constants here, tuned with
  ``benchmarks/retrieval.py --variants`` (which passes variants as ``dataclasses.replace``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from . import config


def _setting(name: str):
    """A field whose default is setting ``name``'s and which ``from_env`` fills from it."""
    s = config.SETTING[name]
    return field(default=s.kind(s.default), metadata={"setting": name})


def _const(value, help: str):
    """A documented constant (README: "Ranking constants")."""
    return field(default=value, metadata={"help": help})


class _FromEnv:
    def __post_init__(self):
        """Every value that is a setting's lies in its valid range (``kb.config.check``), however it
        was made: from the environment, by a caller, or read back from a KB."""
        for f in fields(self):
            if "setting" in f.metadata:
                config.check(f.metadata["setting"], getattr(self, f.name))

    @classmethod
    def from_env(cls, **overrides):
        """Settings from the environment (defaults where unset), then ``overrides``."""
        vals = {f.name: config.get(f.metadata["setting"]) for f in fields(cls) if "setting" in f.metadata}
        return cls(**(vals | overrides))


@dataclass(frozen=True)
class BuildParams(_FromEnv):
    passage_tokens: int = _setting("KB_PASSAGE_TOKENS")
    passage_max_chars: int = _setting("KB_PASSAGE_MAX_CHARS")
    passage_vectors: str = _setting("KB_PASSAGE_VECTORS")
    backend: str = _setting("KB_BACKEND")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "BuildParams":
        known = {f.name for f in fields(cls)}
        # a KB recorded before passage vectors could be pooled embedded them whole
        return cls(**({"passage_vectors": "embedded"} | {k: v for k, v in json.loads(text).items() if k in known}))


@dataclass(frozen=True)
class IndexParams(_FromEnv):
    ann_min_passages: int = _setting("KB_ANN_MIN_PASSAGES")
    nprobe: int = _setting("KB_NPROBE")
    lang_center: int = _setting("KB_LANG_CENTER")
    milvus_uri: str = _setting("KB_MILVUS_URI")
    home: str = ""  # the KB's folder (set by kb.indexes), for engines that keep files of their own there

    @property
    def centred(self) -> bool:
        return self.lang_center == 1


@dataclass(frozen=True)
class SearchParams(_FromEnv):
    candidates: int = _setting("KB_CANDIDATES")
    sentence_depth: int = _setting("KB_SENTENCE_DEPTH")
    lexical_weight: float = _setting("KB_LEXICAL_WEIGHT")
    translated_lexical_weight: float = _setting("KB_TRANSLATED_LEXICAL_WEIGHT")
    no_answer_below: float = _setting("KB_NO_ANSWER_BELOW")
    reranker: str = _setting("KB_RERANKER")
    rerank_depth: int = _setting("KB_RERANK_DEPTH")
    translated_dense: int = _const(
        0, "1: also embed a word-by-word dictionary translation of the question and score the other language's "
           "passages by the better of the two cosines (one more question embedding per search).")
    sense_context: int = _const(
        0, "How many of the passages nearest the question by vector choose the senses of its translated terms "
           "(a sense they use gains weight, a later dictionary sense they use joins, one they lack loses half; "
           "0: the dictionary's first senses).")
    no_answer_typed: int = _const(
        1, "1: a question asking for a number or a date (多少, 哪一年, how many, when…) whose marked sentence "
           "states none is not called answered, whatever the confidence (0: the confidence alone decides).")
    cross_lexical_weight: float = _const(
        0.05, "Weight of the BM25 of the question's own terms for a passage in the other language (only shared "
              "names, numbers and Latin terms can match there).")
    sentence_weight: float = _const(
        0.5, "Share of the dense score given to a passage's best sentence (the rest to the passage vector).")
    highlight_weight: float = _const(
        0.6, "Weight of query-term overlap against sentence cosine when choosing the sentence to highlight.")
    highlight_translated: float = _const(
        0.6, "For a passage in the other language: weight of the question's translated terms against sentence "
             "cosine when choosing the sentence to highlight (0: only names and numbers both languages share).")
    highlight_idf: int = _const(
        2, "How query terms count in that overlap: 0 equally, 1 by IDF, 2 by IDF times rarity among the "
           "passage's sentences.")
    highlight_context: float = _const(
        0.5, "Share of the preceding sentence's query terms a sentence is credited with (it often names the "
             "subject a pronoun stands for).")
    highlight_answer_type: float = _const(
        0.4, "Added to a sentence's term overlap when the question asks for a kind of answer (a date, number, "
             "person, place or cause: 哪一年, 多少, 谁, 哪里, 为什么, how many… — kb.answers) and the sentence holds one.")
    highlight_kinds: str = _const(
        "date,quantity", "The kinds of answer (kb.answers) that earn a sentence highlight_answer_type: the forms of "
                         "person, place and cause answers are too common in text to tell the answering sentence (CMRC "
                         "highlight, benchmarks/README.md).")
    highlight_neighbour: float = _const(
        0.1, "When the question asks for a kind of answer (a date, a number, a name…) that the marked sentence "
             "lacks, the adjacent sentence holding one is marked too if it scores within this of the best.")
    highlight_subject: float = _const(
        0.25, "Share of its weight in that overlap kept by a query term that the article's title or first "
              "sentence names (the subject, which later sentences call 它, 本鱼, it).")


@dataclass(frozen=True)
class Settings(_FromEnv):
    """Every setting a process uses below its entry point, read once there (``Settings.from_env()``:
    the CLI, ingest, the API, the app, benchmark scripts) and handed down as data: nothing under
    ``kb/`` and ``ingest/`` but those entry points reads the environment (tests/test_docs.py checks
    it). A library caller that passes none gets the defaults, whatever the environment says."""
    kb_dir: str = _setting("KB_DIR")
    model: str = _setting("KB_MODEL")
    device: str = _setting("KB_DEVICE")
    batch: int = _setting("KB_BATCH")
    embed_threads: int = _setting("KB_EMBED_THREADS")
    embed_wait: str = _setting("KB_EMBED_WAIT")
    userdict: str = _setting("KB_USERDICT")
    fetch_private: int = _setting("KB_FETCH_PRIVATE")
    build: BuildParams = field(default_factory=BuildParams)
    index: IndexParams = field(default_factory=IndexParams)
    search: SearchParams = field(default_factory=SearchParams)

    @classmethod
    def from_env(cls, **overrides):
        """The environment's settings (defaults where unset), then ``overrides``."""
        parts = {"build": BuildParams.from_env(), "index": IndexParams.from_env(), "search": SearchParams.from_env()}
        return super().from_env(**(parts | overrides))


def constants_table() -> str:
    """The ranking constants as a Markdown table (for the README)."""
    rows = ["| constant (`SearchParams`) | value | what it does |", "|---|---|---|"]
    rows += [f"| `{f.name}` | `{f.default}` | {f.metadata['help']} |" for f in fields(SearchParams) if "help" in f.metadata]
    return "\n".join(rows)


def write_readme_tables(path: str = "README.md") -> None:
    """Replace the README's settings and ranking-constants tables with the current definitions
    (``make docs``)."""
    from pathlib import Path
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    for table in (config.markdown_table(), constants_table()):
        head = table.split("\n", 1)[0]
        start = text.index(head)
        end = text.find("\n\n", start)
        text = text[:start] + table + (text[end:] if end >= 0 else "\n")
    p.write_text(text, encoding="utf-8")
