"""The HTTP API: search, read, add and remove over one loaded knowledge base.

    python -m kb --kb data/kb serve [--host 127.0.0.1] [--port 8000]     (docs at /docs)

FastAPI on uvicorn, in one process: the KB, the model, the indexes, jieba and the dictionary
load once at start-up, then every request uses them. The JSON is the command line's
(``python -m kb search --json``, ``list --json``, ``show --json``, ``passage --json``,
``stats --json``), built by the same functions (``kb.shapes``, ``kb.cite``).

Safe by default: it binds 127.0.0.1. Binding any other address needs ``KB_API_KEY``, and then
every request must carry it (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``); with a key
set, the write endpoints require it on 127.0.0.1 too. Uploads are capped (``KB_API_MAX_UPLOAD_MB``).
Before a request reaches an endpoint, ``kb.guard.Gate`` checks its Host (no DNS rebinding), its
Origin (no other site's pages), the key, the content type and the length, without reading the body.
One write at a time: a second one, or one while another process writes to the KB, is answered
409 at once; searches are served throughout. Errors are JSON ``{"error": "..."}`` with a status
that says which kind (400 bad request or Host, 401 key, 403 foreign origin, 404 unknown id (a ``NotFound``), 409
busy, 413 too large, 415 content type, 422 invalid parameter, 503 index files being reloaded).
"""

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

from . import config
from .errors import ConfigError, IndexUnavailable, KBError, KBLocked, NotFound, ReadError
from .guard import Gate, is_loopback
from .results import Filters
from .cite import FORMATS, MEDIA, Reference, export, passage_json
from .shapes import article_json, item_json, result_json
from .view import safe_filename, upload_path

MAX_QUERY_CHARS = 2000
MAX_BATCH = 100


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _filters(lang, source, since, until, article):
    try:
        return Filters(lang=lang or None, source=source or None, since=since or None, until=until or None,
                       article=article or None).check()
    except KBError as e:
        raise ApiError(422, str(e)) from None


def _check_query(q: str, name: str = "q") -> str:
    if not q or not q.strip():
        raise ApiError(422, f"{name}: empty; give the question to search for")
    if len(q) > MAX_QUERY_CHARS:
        raise ApiError(422, f"{name}: {len(q)} characters, over the {MAX_QUERY_CHARS} a question may have")
    return q


# Longest value of each text field a client may send (one line of error above it).
FIELD_CAPS = {"title": 1000, "author": 1000, "source": 1000, "url": 2000, "date": 40, "note": 10_000, "quote": 10_000}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(name: str, value: str | None, cap: int | None = None) -> None:
    """422 naming ``name`` for a lone surrogate (JSON's \\ud800 decodes to one; it cannot be
    stored or sent back as UTF-8) or a value longer than ``cap`` characters."""
    if value is None:
        return
    lone = _SURROGATE.search(value)
    if lone:
        at = lone.start()
        raise ApiError(422, f"{name}: a lone surrogate (U+{ord(value[at]):04X}) at character {at}; send valid Unicode text")
    cap = cap or FIELD_CAPS.get(name)
    if cap and len(value) > cap:
        raise ApiError(422, f"{name}: {len(value):,} characters, over the {cap:,} it may have")


def _json(obj):
    """A JSON response written directly: FastAPI's generic encoder walks every value of the
    hits and cost ~4 ms a search on the sample KB (benchmarks/api.py)."""
    from fastapi.responses import Response
    return Response(json.dumps(obj, ensure_ascii=False).encode("utf-8"), media_type="application/json")


def upload_name(name: str) -> str:
    """An uploaded file's name as its sender meant it: multipart names arrive as UTF-8, but some
    clients send the bytes of a local code page (GBK on Chinese Windows), which reach us decoded
    as Latin-1; those are decoded again as UTF-8, then GB18030."""
    try:
        raw = name.encode("latin-1")
    except UnicodeEncodeError:
        return name  # already decoded as meant
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            pass
    return name


def create_app(kb, host: str = "127.0.0.1", api_key: str | None = None, max_upload_mb: int | None = None,
               port: int | None = None):
    """The FastAPI application over an open ``KnowledgeBase``, served on ``host``:``port``
    (None: any port), behind the gate of ``kb.guard``."""
    from fastapi import FastAPI, File, Form, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

    from fastapi.responses import Response

    from . import collection
    from .search import clean_query

    def _check_format(fmt: str | None) -> None:
        if fmt is not None and fmt not in FORMATS:
            raise ApiError(422, f"format: '{fmt}' is not one of {', '.join(FORMATS)}")

    def _citations(refs, fmt: str):
        return Response(export(refs, fmt).encode("utf-8"), media_type=f"{MEDIA[fmt]}; charset=utf-8")

    api_key = api_key if api_key is not None else (config.get("KB_API_KEY") or None)
    if not is_loopback(host) and not api_key:
        raise ConfigError(f"serving on {host} (not this machine only) needs an API key: set KB_API_KEY")
    max_bytes = (max_upload_mb if max_upload_mb is not None else config.get("KB_API_MAX_UPLOAD_MB")) * 2 ** 20
    keyed_reads = not is_loopback(host)

    app = FastAPI(title="Bilingual article knowledge base", version="1", docs_url=None, redoc_url=None,
                  description="Search, read, add and cite Chinese and English articles. The JSON is that of "
                              "`python -m kb … --json`.")
    app.add_middleware(Gate, bound=host, port=port, api_key=api_key, keyed_reads=keyed_reads,
                       hosts=config.get("KB_API_HOSTS"), origins=config.get("KB_API_ORIGINS"), max_upload=max_bytes)

    @app.get("/health", include_in_schema=False)
    async def health():  # (async and lock-free: it answers even while every worker thread searches)
        return _json({"ok": True})

    @app.get("/docs", include_in_schema=False)
    def docs():
        """The endpoints as plain HTML, from the OpenAPI schema (/openapi.json): FastAPI's own
        pages load their scripts from a CDN, which an offline machine cannot reach."""
        from html import escape

        from fastapi.responses import HTMLResponse
        rows = []
        for path, ops in app.openapi()["paths"].items():
            for method, op in ops.items():
                params = ", ".join(p["name"] + ("" if p.get("required") else "?") for p in op.get("parameters", []))
                body = " + body" if "requestBody" in op else ""
                rows.append(f"<tr><td><code>{method.upper()} {escape(path)}</code></td><td>{escape(params)}{body}</td>"
                            f"<td>{escape(op.get('summary', ''))}</td></tr>")
        return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>{escape(app.title)} API</title>"
                            f"<h1>{escape(app.title)}: HTTP API</h1><p>{escape(app.description)} The full schema: "
                            f"<a href='/openapi.json'>/openapi.json</a>. Errors: JSON {{\"error\": …}}.</p>"
                            f"<table border=1 cellpadding=4><tr><th>endpoint</th><th>parameters</th><th>what</th></tr>"
                            + "".join(rows) + "</table>")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError):
        return JSONResponse({"error": str(e)}, status_code=e.status)

    @app.exception_handler(KBLocked)
    async def _locked(request: Request, e: KBLocked):
        return JSONResponse({"error": str(e)}, status_code=409)

    @app.exception_handler(IndexUnavailable)
    async def _unavailable(request: Request, e: IndexUnavailable):
        # The server's side, not the request's: the next request loads the files again (or rebuilds).
        kb.indexes.invalidate()
        return JSONResponse({"error": f"{e} (the server loads them again on the next request)"}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(NotFound)  # (an unknown article, collection or item: by type, never by its words)
    async def _not_found(request: Request, e: NotFound):
        return JSONResponse({"error": str(e)}, status_code=404)

    @app.exception_handler(KBError)
    async def _kb_error(request: Request, e: KBError):
        return JSONResponse({"error": str(e)}, status_code=400)

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        msg = f"no such endpoint: {request.method} {request.url.path}; see /docs" if e.status_code == 404 else str(e.detail)
        return JSONResponse({"error": msg}, status_code=e.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        parts = []
        for err in e.errors():
            where = ".".join(str(x) for x in err.get("loc", ())[1:] if not isinstance(x, int) or len(err["loc"]) > 2) or "body"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(parts)}, status_code=422)

    # Searches run off the event loop, like every endpoint that takes the KB's lock: an ``async``
    # one waiting on that lock would stall the loop, and every other client with it (GET /docs
    # waited 3.8 s behind a batch search). They run on one thread of their own, not in the shared
    # pool: the bundled embedder's OpenMP runtime keeps a team of threads per calling thread, and
    # calls from the pool's many threads woke cold teams (embedding p50 51 ms against 45 from one
    # thread, benchmarks/api.py). Searches are serialised by the KB's lock anyway.
    searcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-search")

    async def off_loop(work):
        return await asyncio.get_running_loop().run_in_executor(searcher, work)

    @app.get("/search", summary="Cited passages answering a question")
    async def search(q: Annotated[str, Query(description="the question, Chinese or English")],
                     k: Annotated[int, Query(ge=1, le=100)] = 5, lang: str | None = None, source: str | None = None,
                     since: str | None = None, until: str | None = None, article: str | None = None,
                     format: Annotated[str | None, Query(description="citations instead of JSON: "
                                                         + ", ".join(FORMATS))] = None):
        q = _check_query(q)
        f = _filters(lang, source, since, until, article)
        _check_format(format)

        def work():
            t0 = time.perf_counter()
            with kb.indexes.lock:
                v = kb.query_vector(clean_query(q))  # (the text the search would embed)
                t1 = time.perf_counter()
                hits = kb.search(q, k=k, filters=f, query_vector=v)
                out = _citations([Reference.from_hit(h) for h in hits], format) if format else _json(result_json(q, hits))
            # How long the question's embedding and the whole search took here (benchmarks/api.py).
            out.headers["Server-Timing"] = f"embed;dur={1000 * (t1 - t0):.2f}, search;dur={1000 * (time.perf_counter() - t0):.2f}"
            return out
        return await off_loop(work)

    class Batch(BaseModel):
        queries: list[str] = Field(min_length=1, max_length=MAX_BATCH)
        k: int = Field(5, ge=1, le=100)
        lang: str | None = None
        source: str | None = None
        since: str | None = None
        until: str | None = None
        article: str | None = None

    @app.post("/search/batch", summary="Several questions at once (embedded in one call)")
    async def search_batch(body: Batch):
        for i, q in enumerate(body.queries):
            _check_text(f"queries[{i}]", q)
        for name in ("lang", "source", "since", "until", "article"):
            _check_text(name, getattr(body, name), MAX_QUERY_CHARS)
        qs = [_check_query(q, f"queries[{i}]") for i, q in enumerate(body.queries)]
        f = _filters(body.lang, body.source, body.since, body.until, body.article)

        def work():
            with kb.indexes.lock:
                results = kb.search_batch(qs, k=body.k, filters=f)
            return _json({"results": [result_json(q, r) for q, r in zip(qs, results)]})
        return await off_loop(work)

    @app.get("/articles", summary="Every article (as `list --json`)")
    def articles():
        with kb.indexes.lock:
            return _json([a.summary() for a in kb.articles()])

    @app.get("/articles/{article_id}", summary="One article: metadata, cleaned text, passages")
    def article(article_id: str):
        with kb.indexes.lock:
            return _json(article_json(kb, kb.resolve(article_id)))

    def _page_of(article_id: str, n: int, start: int | None, end: int | None):
        """(the article, its page n as an image, the boxes of [start, end) on it or None)."""
        from ingest import pages
        with kb.indexes.lock:
            art = kb.store.article(kb.resolve(article_id).id)
        if (start is None) != (end is None) or (start is not None and not 0 <= start < end <= len(art.text)):
            raise ApiError(422, f"start and end must be given together, 0 <= start < end <= {len(art.text)} "
                                "(a hit's highlight_start and highlight_end)")
        try:
            img = pages.page_image(art, n)
            found = pages.boxes(art, n, start, end) if start is not None else None
        except ReadError as e:
            raise ApiError(404, f"page {n} of article {art.id}: {e}") from None
        return art, img, found

    @app.get("/articles/{article_id}/pages/{n}.png", summary="A page of a PDF or scanned article as an image "
             "(with start and end: that span of the article's text outlined on it)")
    def page_png(article_id: str, n: int, start: int | None = None, end: int | None = None):
        from fastapi.responses import Response

        from ingest import pages
        _, img, found = _page_of(article_id, n, start, end)
        return Response(pages.png(pages.outlined(img, found) if found else img), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=300"})

    @app.get("/articles/{article_id}/pages/{n}/boxes", summary="Where a span of the article's text lies on page n "
             "(boxes as fractions of the page: left, top, right, bottom)")
    def page_boxes(article_id: str, n: int, start: int, end: int):
        art, img, found = _page_of(article_id, n, start, end)
        return _json({"article_id": art.id, "page": n, "start": start, "end": end, "boxes": found,
                      "width": img.width, "height": img.height})

    @app.get("/passages/{permalink}", summary="The span a hit's permalink names")
    def passage(permalink: str):
        with kb.indexes.lock:
            return _json(passage_json(kb, permalink))

    @app.get("/cite", summary="Citations of the spans permalinks name")
    def cite(link: Annotated[list[str], Query(description="permalinks (a hit's 'permalink'), repeated")],
             format: Annotated[str, Query(description=", ".join(FORMATS))] = "md"):
        _check_format(format)
        with kb.indexes.lock:
            return _citations([Reference.from_passage(passage_json(kb, x)) for x in link], format)

    class Keep(BaseModel):
        permalink: str
        note: str = ""
        quote: str | None = None

    @app.get("/collections", summary="Every collection of kept passages")
    def collections_list():
        with kb.indexes.lock:
            return _json(collection.listing(kb))

    @app.get("/collections/{name}", summary="A collection's items, or ?format= to export them")
    def collection_show(name: str, format: str | None = None):
        _check_format(format)
        with kb.indexes.lock:
            if format:
                return _citations(collection.references(kb, name), format)
            return _json([item_json(i) for i in collection.items(kb, name)])

    @app.post("/collections/{name}", summary="Keep a passage (its permalink) with a note")
    def collection_add(name: str, body: Keep):
        for field in ("permalink", "note", "quote"):
            _check_text(field, getattr(body, field), MAX_QUERY_CHARS if field == "permalink" else None)
        _check_text("name", name, 200)
        with kb.indexes.lock:
            return _json(item_json(collection.save(kb, name, body.permalink, body.note, body.quote)))

    @app.delete("/collections/{name}/{item_id}", summary="Remove one item (into the trash: /trash/items)")
    def collection_remove(name: str, item_id: int):
        with kb.indexes.lock:
            tid = collection.remove(kb, name, item_id)
        return _json({"removed": item_id, "collection": name, "trash_id": tid})

    class CollectionEdit(BaseModel):
        name: str

    class ItemEdit(BaseModel):
        note: str | None = None
        collection: str | None = None   # move the item there (made when new)

    @app.patch("/collections/{name}", summary="Rename a collection")
    def collection_rename(name: str, body: CollectionEdit):
        _check_text("name", body.name, 200)
        with kb.indexes.lock:
            collection.rename(kb, name, body.name)
        return _json({"renamed": name, "name": body.name.strip()})

    @app.patch("/collections/{name}/{item_id}", summary="Change an item's note, or move it to another collection")
    def collection_item_edit(name: str, item_id: int, body: ItemEdit):
        for field in ("note", "collection"):
            _check_text(field, getattr(body, field), 200 if field == "collection" else None)
        if body.note is None and body.collection is None:
            raise ApiError(422, "nothing to change: send note and/or collection")
        with kb.indexes.lock:
            it = collection.update(kb, name, item_id, note=body.note, to=body.collection)
            it = next(i for i in collection.items(kb, it["collection"]) if i["id"] == it["id"])  # (with its status)
        return _json(item_json(it))

    @app.delete("/collections/{name}", summary="Delete a collection (its items into the trash: /trash/items)")
    def collection_delete(name: str):
        with kb.indexes.lock:
            ids = collection.delete(kb, name)
        return _json({"deleted": name, "trash_ids": ids})

    @app.get("/trash/items", summary="Removed collection items, restorable until the trash is emptied")
    def trash_items():
        with kb.indexes.lock:
            return _json(collection.removed(kb))

    @app.post("/trash/items/{trash_id}/restore", summary="Put a removed collection item back")
    def trash_item_restore(trash_id: int):
        with kb.indexes.lock:
            it = collection.restore(kb, trash_id)
        return _json({"restored": trash_id, "collection": it["collection"], "item": it["id"]})

    @app.get("/stats", summary="Counts, embedder, indexes, size on disk")
    def stats():
        with kb.indexes.lock:
            return _json(kb.stats())

    class Edit(BaseModel):
        title: str | None = None
        author: str | None = None
        date: str | None = None
        source: str | None = None
        url: str | None = None

    @app.patch("/articles/{article_id}", summary="Correct title, author, date, source or URL")
    def edit(article_id: str, body: Edit):
        fields = body.model_dump(exclude_unset=True)
        for k, v in fields.items():
            _check_text(k, v)
        if not fields:
            raise ApiError(422, "nothing to change: send one or more of title, author, date, source, url")
        with kb.writer(wait_message=False, timeout=0):  # KBLocked (409) while another write runs
            art = kb.edit(article_id, **{k: v if v is not None else "" for k, v in fields.items()})
        return _json(art.summary() | {"author": art.author})

    @app.delete("/articles/{article_id}", summary="Remove one article")
    def remove(article_id: str) -> dict:
        with kb.writer(wait_message=False, timeout=0):
            art = kb.remove(article_id)  # (its uploaded bytes with it)
        return {"removed": art.id, "title": art.title, "path": art.path}

    @app.get("/trash", summary="Removed articles, restorable until the trash is emptied")
    def trash_list():
        with kb.indexes.lock:
            return _json(kb.trashed())

    @app.post("/trash/{article_id}/restore", summary="Bring a removed article back")
    def trash_restore(article_id: str) -> dict:
        with kb.writer(wait_message=False, timeout=0):
            art = kb.restore(article_id)
        return {"restored": art.id, "title": art.title, "path": art.path}

    @app.delete("/trash", summary="Empty the trash (or ?article_id= one article of it): dropped for good")
    def trash_empty(article_id: str | None = None) -> dict:
        with kb.writer(wait_message=False, timeout=0):
            gone = kb.empty_trash(article_id)
        if article_id and not gone:
            raise ApiError(404, f"No removed article with id '{article_id}' in the trash")
        return {"dropped": [g["id"] for g in gone]}

    @app.post("/articles", summary="Add articles: uploaded files and/or web links")
    def add(files: Annotated[list[UploadFile] | None, File(description="article files")] = None,
            urls: Annotated[list[str] | None, Form(description="web links (one per field, or one per line)")] = None) -> dict:
        from ingest import ingest, is_url  # (the pipeline's one entry; it imports nothing of the API)

        links = [u.strip() for field in (urls or []) for u in field.splitlines() if u.strip()]
        bad = [u for u in links if not is_url(u)]
        if bad:
            raise ApiError(422, f"urls: '{bad[0][:200]}' is not a web link (must start with http:// or https://)")
        if not files and not links:
            raise ApiError(422, "nothing to add: send files (multipart field 'files') or links (field 'urls')")
        with kb.writer(wait_message=False, timeout=0):  # KBLocked (409) while another write runs, here or elsewhere
            folder = kb.path / "uploads"
            folder.mkdir(parents=True, exist_ok=True)
            paths, names = list(links), {u: u for u in links}
            unstored = []  # a file that cannot be stored is that file's failure; the batch goes on
            for f in files or []:
                data = f.file.read(max_bytes + 1)
                name = safe_filename(upload_name(f.filename or ""))
                if len(data) > max_bytes:
                    raise ApiError(413, f"{name}: over the upload limit of {max_bytes // 2 ** 20} MB (KB_API_MAX_UPLOAD_MB)")
                try:
                    target = upload_path(folder, name, data)  # (a folder per content: same names never collide)
                    target.parent.mkdir(exist_ok=True)
                    target.write_bytes(data)
                except (OSError, KBError) as e:
                    unstored.append((name, f"could not be stored ({e.strerror if isinstance(e, OSError) and e.strerror else e})"))
                    continue
                paths.append(str(target))
                names[str(target)] = name
            s = ingest(kb, paths, progress=False, echo=False)
            s.failed += unstored
        name = lambda p: names.get(p, Path(p).name)  # noqa: E731
        items = [{"item": name(p), "status": st, "detail": ""} for st in ("added", "updated", "unchanged")
                 for p in getattr(s, st)]
        items += [{"item": name(p), "status": "duplicate", "detail": f"same content as {o}"} for p, o in s.duplicate]
        items += [{"item": name(p), "status": "near-duplicate", "detail": f"stored, linked to {o}"} for p, o in s.near_duplicate]
        items += [{"item": name(p), "status": "failed", "detail": why} for p, why in s.failed]
        return {"summary": s.line(), "items": items, "passages": s.passages}

    return app


def serve(kb, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Load everything, then serve until interrupted (``python -m kb serve``)."""
    import uvicorn
    app = create_app(kb, host=host, port=port)
    kb.warm_up()
    print(f"kb: serving {kb.path} on http://{host}:{port} (API docs: http://{host}:{port}/docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
