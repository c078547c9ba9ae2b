"""The ``milvus`` backend: passage vectors and BM25 in Milvus, through ``pymilvus.MilvusClient``.

One code path for both kinds of deployment: a local file path as the URI runs embedded Milvus
Lite (the default: ``milvus.db`` in the KB folder), an ``http://host:19530`` URI reaches a Milvus
server or cluster (setting ``KB_MILVUS_URI``). SQLite stays the truth: the collections are
derived from it and rebuilt from it like the embedded backend's files.

What lives in the engine, per KB build (collection names carry a random build id, so many KBs
share one server, and a rebuild swaps collections the way the embedded backend swaps files):

- ``…_vec``: passage id, vector (inner product; FLAT, so exact, below ``KB_ANN_MIN_PASSAGES``,
  IVF_FLAT above) and the fields filters need — language, source, date, article id — so a
  filtered search runs in the engine (``search(q, k, where)``), not over an id list from Python;
- ``…_bm25``: the passage's lexical terms (``kb.text.tokenize``'s: jieba cut, folded to
  Simplified, lower-cased — the same terms the embedded index holds), analysed by Milvus'
  ``whitespace`` tokenizer into its BM25 function, with the same filter fields. Feeding the
  KB's own terms rather than Milvus' jieba analyzer keeps one tokenizer for questions and
  passages on both backends (Milvus' jieba has another dictionary and does not fold Traditional
  characters), so BM25 scores equal the embedded backend's: Milvus scores carry the (k1 + 1)
  factor Lucene's variant drops, and are divided by it here;
- ``…_df``: each term's document frequency (and the total of terms, for the average length),
  kept by the one writer as it adds and removes passages — IDF feeds the ranking (score
  scaling, highlighting) and Milvus has no call that returns it.

A search asks the engine for the best passages by BM25 (one search per question, however its
terms are weighted), and scores the candidates it ends up with from their stored terms and the
document frequencies: Lucene's formula, with each term's weight (exact for weighted translated
terms, which one engine query cannot weigh), in one fetch for all of them.

Milvus Lite serves one process at a time (a second process cannot open the same file); a KB that
the app and an ingest use at once needs a Milvus server URI. Its start is waited for and its
failures told apart in ``kb.backends.lite``.
"""
from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, KBError
from . import Capabilities, Selection
from ..params import IndexParams
from . import lite

K1, B = 1.5, 0.75           # as the embedded BM25 (kb.backends.bm25)
TOP_MAX = 16_384            # Milvus' largest limit (topk) for one search or query
IDS_PER_EXPR = 10_000       # ids per ``id in [...]`` expression
TEXT_MAX_BYTES = 65_535     # a VARCHAR's largest size
FIELDS = {"lang": 16, "source": 1024, "date": 32, "article_id": 128}  # filter fields and their sizes
_EMPTY_FIELDS = {k: "" for k in FIELDS}

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def resolve_uri(params: IndexParams, entry: dict | None = None) -> str:
    """The engine's URI: the setting when given, else the one a saved entry names, else
    ``milvus.db`` in the KB folder (a relative Lite path is taken from the KB folder)."""
    uri = params.milvus_uri or (entry or {}).get("uri") or "milvus.db"
    if "://" in uri:
        return uri
    if not uri.endswith(".db"):
        raise ConfigError(f"Milvus URI '{uri}' (--milvus-uri or KB_MILVUS_URI): a Milvus Lite file's name ends in .db, "
                          "a server's is http://host:19530")
    path = Path(uri)
    if not path.is_absolute():
        if not params.home:
            raise ConfigError("the milvus backend needs a KB folder or an absolute KB_MILVUS_URI")
        path = Path(params.home) / path
    return str(path)


def _stored_uri(uri: str, params: IndexParams) -> str:
    """What a manifest records: a Lite file inside the KB folder by its relative name, so the
    folder can move."""
    if "://" not in uri and params.home:
        try:
            return str(Path(uri).relative_to(Path(params.home)))
        except ValueError:
            pass
    return uri


def client(uri: str):
    """One ``MilvusClient`` per URI per process (Milvus Lite allows one opener per file)."""
    with _clients_lock:
        c = _clients.get(uri)
        if c is None:
            try:
                from pymilvus import MilvusClient
            except ImportError:
                raise ConfigError("the milvus backend needs pymilvus and milvus-lite (pip install -r requirements.txt)") from None
            if "://" not in uri:
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            import logging
            logging.getLogger("pymilvus").setLevel(logging.ERROR)  # (its iterator warns of client-side timestamps on Lite)
            root = logging.getLogger()
            root.addFilter(_quiet_lite)  # milvus-lite logs its failures to the root logger; ours say them once
            try:
                if "://" not in uri:
                    lite.start(uri)  # waited for until it answers; a held file named only when held
                c = MilvusClient(uri)
            except KBError:
                raise
            except Exception as e:
                if "://" not in uri and lite.holder(uri) is not None:
                    raise KBError(lite.held_message(uri, lite.holder(uri) or 0)) from None
                raise KBError(f"{uri}: cannot open Milvus ({type(e).__name__}: {e})") from None
            finally:
                root.removeFilter(_quiet_lite)
            _clients[uri] = c
        return c


def _quiet_lite(record) -> bool:
    return "milvus_lite" not in (record.pathname or "")


def release(uri: str) -> None:
    """Close this process's client of a Milvus Lite file, so another process may open it (a
    server's client stays open: it holds no file)."""
    if "://" in uri:
        return
    with _clients_lock:
        c = _clients.pop(uri, None)
    if c is not None:
        try:
            c.close()
            from milvus_lite.server_manager import server_manager_instance
            server_manager_instance.release_server(uri)  # stop the Lite server: the file is free for others
        except Exception:
            pass


def close_all() -> None:
    """Close every client this process opened (Milvus Lite stops its server with the last one)."""
    with _clients_lock:
        for c in _clients.values():
            try:
                c.close()
            except Exception:
                pass
        _clients.clear()


def _quote(s: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(str(s), ensure_ascii=False)


def where_expr(where: dict) -> str:
    """The KB's search filters (``kb.results.Filters.active()``: lang, source, since, until,
    article prefix) as a Milvus boolean expression over the collections' fields — the same
    meaning as ``Store.filtered_passage_ids``."""
    parts = []
    if where.get("lang"):
        parts.append(f"lang == {_quote(where['lang'])}")
    if where.get("source"):
        parts.append(f"source == {_quote(where['source'])}")
    if where.get("since") or where.get("until"):
        parts.append('date != ""')  # an undated article matches no date filter (as in SQLite: NULL)
    if where.get("since"):
        parts.append(f"date >= {_quote(where['since'])}")
    if where.get("until"):  # inclusive of every date that starts with it (2023-05 holds 2023-05-31)
        u = where["until"]
        parts.append(f"(date <= {_quote(u)} or date like {_quote(u + '%')})")
    if where.get("article"):
        prefix = where["article"]
        if not re.fullmatch(r"[0-9a-fA-F]+", prefix):
            return "id < 0"  # article ids are hex: a prefix outside that matches none
        parts.append(f"article_id like {_quote(prefix.lower() + '%')}")
    return " and ".join(parts)


def _id_exprs(allowed: np.ndarray) -> list[str]:
    ids = np.unique(np.asarray(allowed, np.int64))
    return [f"id in [{','.join(map(str, ids[i:i + IDS_PER_EXPR].tolist()))}]" for i in range(0, len(ids), IDS_PER_EXPR)]


def _filters(allowed: Selection | None) -> list[str] | None:
    """Expressions to run one search under each (results merged): [""] for none, [] when
    ``allowed`` selects nothing."""
    if allowed is None:
        return [""]
    if allowed.where is not None:
        return [where_expr(allowed.where)]
    return _id_exprs(allowed.ids)


def _row_fields(fields: Sequence[dict] | None, i: int) -> dict:
    if fields is None:
        return _EMPTY_FIELDS
    f = fields[i]
    return {k: str(f.get(k) or "")[:n] for k, n in FIELDS.items()}


def _add_filter_fields(schema, DataType) -> None:
    for name, size in FIELDS.items():
        schema.add_field(name, DataType.VARCHAR, max_length=size)


class _Collection(Capabilities):
    """What both index classes share: a client, a collection name, its build id."""
    persistent = True          # the engine keeps its own state: no files, no delta replay
    filters_in_engine = True   # ``search``/``top`` take the KB's filters as a dict

    def __init__(self, uri: str, name: str, stored_uri: str):
        self.uri, self.name, self.stored_uri = uri, name, stored_uri
        self.c = client(uri)

    def _count(self) -> int:
        return int(self.c.query(self.name, filter="", output_fields=["count(*)"])[0]["count(*)"])

    def ids(self) -> np.ndarray:
        out = []
        it = self.c.query_iterator(self.name, batch_size=10_000, filter="", output_fields=["id"])
        while True:
            rows = it.next()
            if not rows:
                it.close()
                break
            out += [r["id"] for r in rows]
        return np.array(sorted(out), np.int64)

    def _entry(self) -> dict:
        return {"collection": self.name, "uri": self.stored_uri, "files": []}

    payload = ""  # the field a row indexes (kept as it is when only its filter fields change)

    def set_fields(self, ids, fields: Sequence[dict]) -> None:
        """Rewrite these rows' filter fields (their article's source or date was edited),
        keeping what they index; ids the collection does not hold are skipped."""
        new = {int(p): f for p, f in zip(ids, fields)}
        want = list(new)
        for i in range(0, len(want), 2000):
            rows = self.c.get(self.name, ids=want[i:i + 2000], output_fields=[self.payload])
            if rows:
                self.c.upsert(self.name, [{"id": int(r["id"]), self.payload: r[self.payload],
                                           **_row_fields([new[int(r["id"])]], 0)} for r in rows])

    @classmethod
    def check(cls, params: IndexParams) -> None:
        """Refuse a URI that cannot work before a KB is created or moved (ConfigError)."""
        resolve_uri(params)

    @classmethod
    def forget(cls, params: IndexParams, entry: dict | None = None) -> None:
        """After a KB moved away from Milvus: remove its Lite file from the KB folder once it
        holds no collection (a server keeps what other KBs hold)."""
        uri = resolve_uri(params, entry)
        if "://" in uri or not params.home or Path(params.home) not in Path(uri).parents:
            return
        try:
            if client(uri).list_collections():
                return
        except KBError:
            return
        release(uri)
        for f in (Path(uri), Path(uri).with_name(f".{Path(uri).name}.lock")):
            f.unlink(missing_ok=True)

    @classmethod
    def release(cls, params: IndexParams, entry: dict | None = None) -> None:
        """Let go of the engine when the KB is closed (``kb.indexes.Indexes.close``)."""
        release(resolve_uri(params, entry))

    @classmethod
    def discard(cls, folder: Path, entry: dict, params: IndexParams) -> None:
        """Drop the collections an old manifest entry names (after a rebuild switched away from them)."""
        try:
            c = client(resolve_uri(params, entry))
            for name in entry.get("collections", [entry.get("collection")]):
                if name and c.has_collection(name):
                    c.drop_collection(name)
        except Exception:  # best effort: an orphan collection costs space, not correctness
            pass


def _new_name(kind: str) -> str:
    return f"kb_{uuid.uuid4().hex[:16]}_{kind}"


class MilvusVectorIndex(_Collection):
    """Inner-product search over the passage vectors in a Milvus collection."""
    payload = "vec"

    def __init__(self, uri: str, name: str, stored_uri: str, dim: int, kind: str, nprobe: int = 0, n: int | None = None):
        super().__init__(uri, name, stored_uri)
        self.dim, self.kind, self.nprobe = dim, kind, nprobe
        self.n = self._count() if n is None else n

    @property
    def exact(self) -> bool:
        return self.kind == "FLAT"

    def __len__(self) -> int:
        return self.n

    def describe(self) -> dict:
        where = "Milvus Lite" if "://" not in self.uri else f"Milvus at {self.uri}"
        how = "exact inner product (FLAT)" if self.exact else f"IVF_FLAT, nprobe {self.nprobe}"
        return {"kind": self.kind, "vectors": self.n, "collection": self.name,
                "summary": f"{where}, collection {self.name}: {how}"}

    def suits(self, n: int, params: IndexParams) -> bool:
        if self.exact:
            return n < params.ann_min_passages
        return n >= params.ann_min_passages // 2

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vecs: np.ndarray, params: IndexParams, fields=None) -> "MilvusVectorIndex":
        from pymilvus import DataType
        uri = resolve_uri(params)
        c = client(uri)
        name = _new_name("vec")
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        _add_filter_fields(schema, DataType)
        ip = c.prepare_index_params()
        n = len(ids)
        if n < params.ann_min_passages:
            kind, nprobe = "FLAT", 0
            ip.add_index("vec", index_type="FLAT", metric_type="IP")
        else:
            nlist = int(min(65_536, max(64, 4 * math.sqrt(n))))
            kind, nprobe = "IVF_FLAT", max(1, min(nlist, params.nprobe or max(16, nlist // 32)))
            ip.add_index("vec", index_type="IVF_FLAT", metric_type="IP", params={"nlist": nlist})
        c.create_collection(name, schema=schema, index_params=ip, consistency_level="Strong")
        out = cls(uri, name, _stored_uri(uri, params), dim, kind, nprobe, n=0)
        out.add(ids, vecs, fields)
        return out

    @classmethod
    def load(cls, folder: Path, entry: dict, dim: int, params: IndexParams) -> "MilvusVectorIndex":
        uri = resolve_uri(params, entry)
        c = client(uri)
        if not c.has_collection(entry["collection"]):
            raise ValueError(f"Milvus collection {entry['collection']} is missing at {uri}")
        nprobe = params.nprobe or entry.get("nprobe", 0)
        return cls(uri, entry["collection"], entry.get("uri", uri), dim, entry.get("kind", "FLAT"), nprobe)

    def save(self, folder: Path, stem: str) -> dict:
        self.c.flush(self.name)
        return {**self._entry(), "kind": self.kind, "nprobe": self.nprobe}

    def add(self, ids, vecs: np.ndarray, fields=None) -> None:
        vecs = np.asarray(vecs, np.float32).reshape(-1, self.dim)
        for i in range(0, len(ids), 2000):
            rows = [{"id": int(ids[j]), "vec": vecs[j].tolist(), **_row_fields(fields, j)}
                    for j in range(i, min(len(ids), i + 2000))]
            self.c.insert(self.name, rows)
        self.n += len(ids)

    def remove(self, ids) -> None:
        ids = [int(x) for x in ids]
        if not ids:
            return
        held = self.c.get(self.name, ids=ids, output_fields=["id"])
        if held:
            self.c.delete(self.name, ids=[r["id"] for r in held])
            self.n -= len(held)

    def search(self, q: np.ndarray, k: int, allowed=None) -> tuple[np.ndarray, np.ndarray]:
        exprs = _filters(allowed)
        if self.n == 0 or k <= 0 or not exprs:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        params = {"metric_type": "IP", "params": {"nprobe": self.nprobe} if not self.exact else {}}
        found: dict[int, float] = {}
        for expr in exprs:
            for hit in self.c.search(self.name, data=[np.asarray(q, np.float32).ravel().tolist()], anns_field="vec",
                                     limit=min(k, TOP_MAX, self.n), filter=expr, search_params=params)[0]:
                found[int(hit["id"])] = float(hit["distance"])
        top = sorted(found, key=lambda p: (-found[p], p))[:k]
        return np.array(top, np.int64), np.array([found[p] for p in top], np.float32)

    def vectors(self, ids) -> np.ndarray:
        out = np.zeros((len(ids), self.dim), np.float32)
        if not len(ids):
            return out
        pos = {int(x): i for i, x in enumerate(ids)}
        for i in range(0, len(ids), TOP_MAX):
            for r in self.c.get(self.name, ids=[int(x) for x in ids[i:i + TOP_MAX]], output_fields=["vec"]):
                out[pos[int(r["id"])]] = r["vec"]
        return out


class MilvusLexicalIndex(_Collection):
    """BM25 in Milvus over the KB's own terms, with a document-frequency table beside it."""
    payload = "text"  # (an upsert with the same text: the BM25 function recomputes the same row, df unchanged)

    def __init__(self, uri: str, name: str, stored_uri: str, n: int | None = None):
        super().__init__(uri, name, stored_uri)
        self.df_name = name.removesuffix("_bm25") + "_df"
        self.n = self._count() if n is None else n
        self._df: dict[str, int] = {}
        self._texts: dict[int, list[str]] = {}  # terms of passages fetched lately (for scoring candidates)

    def __len__(self) -> int:
        return self.n

    def describe(self) -> dict:
        return {"kind": "milvus-bm25", "passages": self.n, "collection": self.name,
                "summary": f"Milvus BM25 over the KB's jieba terms (collection {self.name})"}

    def _entry(self) -> dict:
        return {**super()._entry(), "collections": [self.name, self.df_name]}

    @classmethod
    def build(cls, ids, docs, params: IndexParams | None = None, fields=None) -> "MilvusLexicalIndex":
        from pymilvus import DataType, Function, FunctionType
        params = params or IndexParams()
        uri = resolve_uri(params)
        c = client(uri)
        name = _new_name("bm25")
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "whitespace"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        _add_filter_fields(schema, DataType)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))
        ip = c.prepare_index_params()
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": K1, "bm25_b": B})
        c.create_collection(name, schema=schema, index_params=ip, consistency_level="Strong")
        df = c.create_schema(auto_id=False, enable_dynamic_field=False)
        df.add_field("term", DataType.INT64, is_primary=True)  # the term's 64-bit hash (no string escaping)
        df.add_field("df", DataType.INT64)
        df.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # (servers before 2.6 want a vector field in every collection)
        dip = c.prepare_index_params()
        dip.add_index("v", index_type="FLAT", metric_type="L2")
        c.create_collection(name.removesuffix("_bm25") + "_df", schema=df, index_params=dip, consistency_level="Strong")
        out = cls(uri, name, _stored_uri(uri, params), n=0)
        out.add(ids, docs, fields)
        return out

    @classmethod
    def load(cls, folder: Path, entry: dict, params: IndexParams | None = None) -> "MilvusLexicalIndex":
        params = params or IndexParams()
        uri = resolve_uri(params, entry)
        if not client(uri).has_collection(entry["collection"]):
            raise ValueError(f"Milvus collection {entry['collection']} is missing at {uri}")
        return cls(uri, entry["collection"], entry.get("uri", uri))

    def save(self, folder: Path, stem: str) -> dict:
        self.c.flush(self.name)
        self.c.flush(self.df_name)
        return self._entry()

    # --- document frequencies -----------------------------------------------------------------
    def _fetch_df(self, terms) -> None:
        want = [t for t in dict.fromkeys(terms) if t and t not in self._df]
        for i in range(0, len(want), 1000):
            chunk = want[i:i + 1000]
            got = {r["term"]: int(r["df"]) for r in self.c.get(self.df_name, ids=[_key(t) for t in chunk],
                                                                output_fields=["df"])}
            self._df.update({t: got.get(_key(t), 0) for t in chunk})

    def _change_df(self, counts: Counter, sign: int) -> None:
        self._texts.clear()
        terms = [t for t in counts if t]
        self._fetch_df(terms)
        rows = []
        for t in terms:
            self._df[t] = max(0, self._df[t] + sign * counts[t])
            rows.append({"term": _key(t), "df": self._df[t], "v": [0.0, 0.0]})
        for i in range(0, len(rows), 5000):
            self.c.upsert(self.df_name, rows[i:i + 5000])

    def avgdl(self) -> float:
        self._fetch_df([TOKENS])
        return max(1.0, self._df.get(TOKENS, 0) / max(1, self.n))

    def terms_of(self, ids: list[int]) -> dict[int, list[str]]:
        """The stored terms of these passages (one fetch for those not fetched lately)."""
        want = [p for p in dict.fromkeys(ids) if p not in self._texts]
        if len(self._texts) > 50_000:
            self._texts.clear()
        for i in range(0, len(want), TOP_MAX):
            for r in self.c.get(self.name, ids=want[i:i + TOP_MAX], output_fields=["text"]):
                self._texts[int(r["id"])] = r["text"].split()
        return {p: self._texts[p] for p in ids if p in self._texts}

    def idf(self, term: str) -> float:
        self._fetch_df([term])
        n, df = float(self.n), float(self._df.get(term, 0))
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    # --- changes ------------------------------------------------------------------------------
    def add(self, ids, docs, fields=None) -> None:
        ids = [int(x) for x in ids]
        if not ids:
            return
        self.remove(ids)  # (add replaces)
        rows, counts = [], Counter()
        for j, (pid, terms) in enumerate(zip(ids, docs)):
            text = _clip(" ".join(t for t in terms if t))
            counts.update(set(text.split()))
            counts[TOKENS] += len(text.split())
            rows.append({"id": pid, "text": text, **_row_fields(fields, j)})
        for i in range(0, len(rows), 2000):
            self.c.insert(self.name, rows[i:i + 2000])
        self.n += len(rows)
        self._change_df(counts, +1)

    def remove(self, ids) -> None:
        ids = [int(x) for x in ids]
        if not ids:
            return
        counts, held = Counter(), []
        for i in range(0, len(ids), TOP_MAX):
            for r in self.c.get(self.name, ids=ids[i:i + TOP_MAX], output_fields=["text"]):
                held.append(int(r["id"]))
                counts.update(set(r["text"].split()))
                counts[TOKENS] += len(r["text"].split())
        if held:
            self.c.delete(self.name, ids=held)
            self.n -= len(held)
            self._change_df(counts, -1)

    # --- scoring ------------------------------------------------------------------------------
    def scores(self, terms: Sequence[str], weights: dict[str, float] | None = None) -> "MilvusScores":
        return MilvusScores(self, [t for t in terms if t], weights)


TOKENS = " tokens"  # the df table's row holding the total of terms over all passages (no term holds a space)


def _key(term: str) -> int:
    """A term's key in the df table: its 64-bit BLAKE2 hash as a signed int."""
    import hashlib
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little", signed=True)


def _clip(text: str) -> str:
    """At most a VARCHAR's bytes, cut at a term boundary."""
    b = text.encode()
    if len(b) <= TEXT_MAX_BYTES:
        return text
    return b[:TEXT_MAX_BYTES].decode(errors="ignore").rsplit(" ", 1)[0]


class MilvusScores:
    """One query's BM25: candidates from the engine, scores from the candidates' stored terms."""

    def __init__(self, index: MilvusLexicalIndex, terms: list[str], weights: dict[str, float] | None):
        self.index = index
        self.terms = terms
        self.weights = {t: (1.0 if weights is None else float(weights.get(t, 1.0))) for t in terms}
        index._fetch_df(terms + [TOKENS])

    def top(self, n: int, allowed=None) -> dict[int, float]:
        """The engine's best passages for the terms (unweighted: one search), rescored with the
        weights; with weights, three times as many are asked for before the cut."""
        exprs = _filters(allowed)
        query = " ".join(t for t in self.terms if self.weights[t] > 0)
        if not exprs or n <= 0 or not self.index.n or not query:
            return {}
        weighted = len(set(self.weights.values())) > 1
        found: set[int] = set()
        for expr in exprs:
            found.update(int(h["id"]) for h in self.index.c.search(
                self.index.name, data=[query], anns_field="sparse", filter=expr,
                limit=min(3 * n if weighted else n, TOP_MAX), search_params={"metric_type": "BM25"})[0])
        ids = sorted(found)
        got = dict(zip(ids, self.get(ids).tolist()))
        best = sorted((p for p, v in got.items() if v > 0), key=lambda p: (-got[p], p))[:n]
        return {p: got[p] for p in best}

    def get(self, ids) -> np.ndarray:
        """Lucene BM25 (k1 1.5, b 0.75) of these passages from their stored terms."""
        ids = [int(x) for x in ids]
        out = np.zeros(len(ids), np.float32)
        if not ids or not self.terms:
            return out
        docs = self.index.terms_of(ids)
        avgdl = self.index.avgdl()
        idf = {t: self.index.idf(t) * w for t, w in self.weights.items()}
        for j, p in enumerate(ids):
            d = docs.get(p)
            if not d:
                continue
            tf = Counter(d)
            norm = K1 * (1 - B + B * max(1, len(d)) / avgdl)
            out[j] = sum(idf[t] * tf[t] / (tf[t] + norm) for t in self.terms if tf.get(t))
        return out
