"""python -m kb — search, inspect and maintain a knowledge base from the command line."""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys

from . import config
from .args import OneLineParser
from .base import KnowledgeBase
from .errors import KBError, StorageError
from .params import Settings
from .cite import Reference, export, passage_json
from .results import Filters
from .shapes import article_json, item_json, result_json
from .text import escape_controls
from .evaluate import evaluate, format_table, load_questions


def _print_hits(query: str, hits, out=None) -> None:
    out = out or sys.stdout  # (looked up per call: a caller may have redirected it)
    if not hits:
        print(f"No passages found for: {query}", file=out)
        return
    if getattr(hits, "no_answer", False):
        print(f"No passage in the library seems to answer this ({hits.reason}; confidence {hits.confidence:.2f}); "
              f"the closest passages, possibly related:\n", file=out)
    elif getattr(hits, "confidence", None) is not None:
        print(escape_controls(f"Answer [1] (confidence {hits.confidence:.2f}): {hits[0].highlight or hits[0].text}") + "\n", file=out)
    for h in hits:
        page, para = h.answer_page, h.answer_paragraph
        meta = " · ".join(x for x in (h.source, h.date, f"p. {page}" if page else "", f"para. {para}", h.lang,
                                      f"score {h.score:.3f}") if x)
        # (escape_controls: nothing an article holds can drive the terminal; --json is data)
        print(escape_controls(f"[{h.rank}] {h.title}  ({meta})"), file=out)
        print(escape_controls(f"    {h.path}  article {h.article_id}, chars {h.start}-{h.end}" + (f"  {h.url}" if h.url else "")),
              file=out)
        if h.highlight:
            print(escape_controls(f"    » {h.highlight}"), file=out)
        print(escape_controls("    " + h.text.replace("\n", "\n    ")), file=out)
        print(file=out)


def _filters(a) -> Filters:
    return Filters(lang=a.lang, source=a.source, since=a.since, until=a.until, article=a.article).check()


def _count(text: str) -> int:
    """A -k value: a whole number from 1."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of results (1 or more)")
    return int(text)


QUERY_BATCH = 32  # questions of a --queries file embedded in one call


def cmd_search(kb: KnowledgeBase, a) -> int:
    f = _filters(a)
    if a.queries:
        try:
            with open(a.queries, encoding="utf-8") as fh:
                queries = [ln.strip() for ln in fh if ln.strip()]
        except OSError as e:
            raise KBError(f"{a.queries}: cannot read queries ({e.strerror or e})") from None
        except UnicodeDecodeError as e:
            raise KBError(f"{a.queries}: not UTF-8 text (byte {e.start}); save the queries as UTF-8") from None
        # embedded QUERY_BATCH at a time (one engine call each), answered as each batch is done
        for i in range(0, len(queries), QUERY_BATCH):
            chunk = queries[i:i + QUERY_BATCH]
            for q, hits in zip(chunk, kb.search_batch(chunk, k=a.k, filters=f, mode=a.mode)):
                if a.json:
                    print(json.dumps(result_json(q, hits), ensure_ascii=False))
                else:
                    print(f"## {q}")
                    _print_hits(q, hits)
            sys.stdout.flush()
        return 0
    if not a.query:
        raise KBError("search needs a QUERY or --queries FILE")
    q = " ".join(a.query)
    hits = kb.search(q, k=a.k, filters=f, mode=a.mode)
    if a.format:
        sys.stdout.write(export([Reference.from_hit(h) for h in hits], a.format))
        return 0
    if a.json:
        print(json.dumps(result_json(q, hits), ensure_ascii=False, indent=1))
    else:
        _print_hits(q, hits)
    return 0


def cmd_list(kb, a) -> int:
    arts = [x.summary() for x in kb.articles()]
    if a.json:
        print(json.dumps(arts, ensure_ascii=False, indent=1))
        return 0
    if not arts:
        print(f"The knowledge base in {kb.path} is empty. Add articles with: python -m ingest --kb {kb.path} PATH")
    for x in arts:
        print(escape_controls(f"{x['id']}  {x['lang']:5} {x['passages']:4}p  {x['date'] or '-':10}  {x['source'] or '-'}  "
                              f"{x['title']}  ({x['path']})"))
    return 0


def cmd_show(kb, a) -> int:
    art = kb.resolve(a.id)
    if a.json:
        print(json.dumps(article_json(kb, art), ensure_ascii=False, indent=1))
        return 0
    passages = kb.store.passages_of(art.id)
    print(escape_controls(f"{art.title}\n{'=' * min(60, max(10, len(art.title) * 2))}"))
    for k in ("id", "path", "source", "author", "date", "url", "lang", "ingested_at"):
        v = getattr(art, k)
        if v:
            print(escape_controls(f"{k:12} {v}"))
    print(f"{'passages':12} {len(passages)}\n")
    print(escape_controls(art.text))
    return 0


def cmd_passage(kb, a) -> int:
    d = passage_json(kb, a.permalink)
    if a.json:
        print(json.dumps(d, ensure_ascii=False, indent=1))
        return 0
    if d["changed"]:
        print("(the article has changed since this link was made: this is the passage nearest to where it pointed)\n")
    art, para = d["article"], d["paragraph"]
    print(f"{art['title']} ({', '.join(x for x in (art['source'], art['date'], f'para. {para}') if x)})")
    print(f"{art['path']}  article {art['id']}, chars {d['start']}-{d['end']}\n")
    print(d["text"])
    return 0


def cmd_cite(kb, a) -> int:
    refs = []
    for link in a.permalinks:
        d = passage_json(kb, link)
        if d["changed"]:
            print(f"kb: {link}: the article has changed since this link was made; citing the passage nearest to it "
                  f"({d['permalink']})", file=sys.stderr)
        refs.append(Reference.from_passage(d))
    sys.stdout.write(export(refs, a.format))
    return 0


def cmd_collection(kb, a) -> int:
    from . import collection as col
    if a.action == "list":
        rows = col.listing(kb)
        if a.json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
        elif not rows:
            print("No collections yet. Keep a passage with: python -m kb collection add NAME PERMALINK --note …")
        for r in [] if a.json else rows:
            print(f"{r['name']}  ({r['items']} items, since {r['created_at'][:10]})")
    elif a.action == "add":
        it = col.save(kb, a.name, a.permalink, a.note or "", a.quote)
        print(json.dumps(item_json(it), ensure_ascii=False, indent=1) if a.json else
              f"kept in '{a.name}' as item {it['id']}: “{it['quote'][:80]}” ({it['title']})")
    elif a.action == "show":
        if a.format:
            sys.stdout.write(export(col.references(kb, a.name), a.format))
            return 0
        its = col.items(kb, a.name)
        if a.json:
            print(json.dumps([item_json(i) for i in its], ensure_ascii=False, indent=1))
        for i in [] if a.json else its:
            flag = {"ok": "", "changed": "  [the article changed since]", "missing": "  [the article was removed]"}[i["status"]]
            print(f"[{i['id']}] {i['title']}{flag}\n    “{i['quote']}”\n    {i['permalink']}" +
                  (f"\n    note: {i['note']}" if i["note"] else ""))
    elif a.action == "remove":
        tid = col.remove(kb, a.name, a.item)
        print(f"removed item {a.item} from '{a.name}'; `python -m kb collection restore {tid}` brings it back")
    elif a.action == "restore":
        it = col.restore(kb, a.item)
        print(f"restored “{it['title']}” to '{it['collection']}' as item {it['id']}")
    elif a.action == "removed":
        rows = col.removed(kb)
        if a.json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
        elif not rows:
            print("No removed collection items in the trash.")
        for r in [] if a.json else rows:
            print(f"{r['id']}  {r['collection']}: {r['title']}  (removed {r['removed_at'][:16].replace('T', ' ')})\n"
                  f"    “{r['quote'][:100]}”")
    elif a.action == "rename":
        col.rename(kb, a.name, a.new)
        print(f"renamed collection '{a.name}' to '{a.new.strip()}'")
    elif a.action == "note":
        it = col.update(kb, a.name, a.item, note=a.note)
        print(f"item {it['id']} of '{a.name}': note " + (f"“{it['note']}”" if it["note"] else "cleared"))
    elif a.action == "move":
        it = col.update(kb, a.name, a.item, to=a.to)
        print(f"moved item {it['id']} from '{a.name}' to '{it['collection']}'")
    elif a.action == "delete":
        ids = col.delete(kb, a.name)
        print(f"deleted collection '{a.name}'" + (f"; its {len(ids)} item(s) wait in the trash (`python -m kb collection removed`)"
                                                  if ids else ""))
    return 0


def cmd_gloss(kb, a) -> int:
    """Pinyin and English of each Chinese word of a text, a passage (permalink) or an article."""
    from . import dictionary
    text = a.permalink and passage_json(kb, a.permalink)["text"] or (kb.resolve(a.article).text if a.article else " ".join(a.text))
    if not text.strip():
        raise KBError("gloss needs TEXT, --passage PERMALINK or --article ID")
    rows = [{"word": text[s:e], "start": s, "end": e, "pinyin": py, "meaning": m} for s, e, py, m in dictionary.get().glosses(text)]
    if not rows and not a.json:
        print("kb: no Chinese words the dictionary knows in this text", file=sys.stderr)
    if a.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    for r in [] if a.json else rows:
        print(f"{r['word']}\t{r['pinyin']}\t{r['meaning']}")
    return 0


def cmd_serve(kb, a) -> int:
    from .api import serve
    return serve(kb, host=a.host, port=a.port)


def cmd_edit(kb, a) -> int:
    fields = {k: getattr(a, k) for k in ("title", "author", "date", "source", "url")}
    if all(v is None for v in fields.values()):
        raise KBError("edit needs at least one of --title, --author, --date, --source, --url")
    art = kb.edit(a.id, **fields)
    print(json.dumps(art.summary() | {"author": art.author}, ensure_ascii=False, indent=1) if a.json else
          f"edited {art.id}: {art.title} · {art.author or '-'} · {art.source or '-'} · {art.date or '-'} · {art.url or '-'}")
    return 0


def cmd_remove(kb, a) -> int:
    with kb.writer():
        art = kb.remove(a.id, confirmed=a.yes)
    print(f"removed {art.id} {art.title} ({art.path}); `python -m kb restore {art.id}` brings it back")
    return 0


def cmd_restore(kb, a) -> int:
    with kb.writer():
        art = kb.restore(a.id)
    print(f"restored {art.id} {art.title} ({art.path})")
    return 0


def cmd_trash(kb, a) -> int:
    if a.empty is not None:
        with kb.writer():
            gone = kb.empty_trash(a.empty or None)
        print(f"emptied the trash: {len(gone)} removed article{'s' * (len(gone) != 1)} dropped for good"
              + (" (and every removed collection item)" if not a.empty else ""))
        return 0
    from . import collection as col
    rows, items = kb.trashed(), col.removed(kb)
    if a.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows and not items:
        print("The trash is empty.")
    for r in rows:
        print(f"{r['id']}  {r['title']}  (removed {r['removed_at'][:16].replace('T', ' ')}, {r['passages']} passages)")
    if items:
        print(f"and {len(items)} removed collection item(s): `python -m kb collection removed` lists them")
    return 0


def cmd_stats(kb, a) -> int:
    s = kb.stats()
    if a.json:
        print(json.dumps(s, ensure_ascii=False, indent=1))
    else:
        for k, v in s.items():
            print(f"{k:14} {v}")
    return 0


def cmd_rebuild(kb, a) -> int:
    s = kb.rebuild(backend=a.backend, milvus_uri=a.milvus_uri)
    print(f"rebuilt derived indexes from SQLite: {s['passages']} passages, {s['sentences']} sentences "
          f"({kb.build.backend} backend)")
    return 0


def cmd_eval(kb, a) -> int:
    qs = load_questions(a.questions)
    res = evaluate(kb, qs, k=a.k, mode=a.mode)
    if a.json:
        print(json.dumps(res, ensure_ascii=False))
    else:
        print(format_table(res))
        missed = [r["id"] or r["query"] for r in res["rows"] if not r["rank"] or r["rank"] > 3]
        if missed:
            print(f"not in top 3: {', '.join(str(m) for m in missed)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="python -m kb", description="Search and maintain a bilingual article knowledge base.",
                                 epilog="Settings (environment variables):\n" + "\n".join(
                                     f"  {s.name} (default {s.default!r}): {s.help}" for s in config.SETTINGS),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", default=None, help=f"knowledge base folder (default: KB_DIR or {config.get('KB_DIR')})")
    sub = ap.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("search", help="cited passages answering a question")
    s.add_argument("query", nargs="*", help="the question, Chinese or English")
    s.add_argument("-k", type=_count, default=5, help="number of passages (default 5)")
    s.add_argument("--json", action="store_true", help='print {"query": ..., "hits": [...]}')
    s.add_argument("--queries", metavar="FILE", help="one query per line; one JSON line out per query")
    s.add_argument("--format", choices=("bibtex", "ris", "csl-json", "md"), default=None,
                   help="print the hits as citations in this format (their highlighted sentences quoted)")
    s.add_argument("--mode", choices=("hybrid", "dense", "lexical"), default="hybrid", help=argparse.SUPPRESS)
    for name, h in (("lang", "only passages in this language (zh, en, mixed)"), ("source", "only articles from this source"),
                    ("since", "only articles dated on or after YYYY-MM-DD"), ("until", "only articles dated on or before YYYY-MM-DD"),
                    ("article", "only this article (id or id prefix)")):
        s.add_argument(f"--{name}", default=None, help=h)
    s.set_defaults(fn=cmd_search)

    p = sub.add_parser("list", help="all articles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("show", help="one article: metadata and cleaned text")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_show)
    p = sub.add_parser("passage", help="the cited span a permalink (a hit's 'permalink' in search --json) names")
    p.add_argument("permalink")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_passage)
    p = sub.add_parser("cite", help="citations of the spans permalinks name (BibTeX, RIS, CSL-JSON, Markdown)")
    p.add_argument("permalinks", nargs="+", metavar="PERMALINK")
    p.add_argument("--format", choices=("bibtex", "ris", "csl-json", "md"), default="md")
    p.set_defaults(fn=cmd_cite)
    p = sub.add_parser("collection", help="keep cited passages with notes: list, add, show (or export), remove, delete, "
                                          "rename, note, move, removed, restore")
    cs = p.add_subparsers(dest="action", required=True)
    c = cs.add_parser("list", help="every collection")
    c.add_argument("--json", action="store_true")
    c = cs.add_parser("add", help="keep the span a permalink names (a hit's 'permalink')")
    c.add_argument("name")
    c.add_argument("permalink")
    c.add_argument("--note", default="")
    c.add_argument("--quote", default=None, help="the sentence of the span to quote (default: the whole span)")
    c.add_argument("--json", action="store_true")
    c = cs.add_parser("show", help="a collection's items, or --format to export them as citations")
    c.add_argument("name")
    c.add_argument("--json", action="store_true")
    c.add_argument("--format", choices=("bibtex", "ris", "csl-json", "md"), default=None)
    c = cs.add_parser("remove", help="remove one item")
    c.add_argument("name")
    c.add_argument("item", type=int)
    c = cs.add_parser("delete", help="delete a collection (its items go to the trash)")
    c.add_argument("name")
    c = cs.add_parser("removed", help="removed items in the trash (restorable until `trash --empty`)")
    c.add_argument("--json", action="store_true")
    c = cs.add_parser("restore", help="bring a removed item back (its id in `collection removed`)")
    c.add_argument("item", type=int)
    c = cs.add_parser("rename", help="rename a collection")
    c.add_argument("name")
    c.add_argument("new")
    c = cs.add_parser("note", help="change (or clear, with '') an item's note")
    c.add_argument("name")
    c.add_argument("item", type=int)
    c.add_argument("note")
    c = cs.add_parser("move", help="move an item to another collection (made when new)")
    c.add_argument("name")
    c.add_argument("item", type=int)
    c.add_argument("to")
    p.set_defaults(fn=cmd_collection)
    p = sub.add_parser("gloss", help="pinyin and English glosses of Chinese words (CC-CEDICT and the glossary)")
    p.add_argument("text", nargs="*")
    p.add_argument("--passage", dest="permalink", default=None, metavar="PERMALINK")
    p.add_argument("--article", default=None, metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_gloss)
    p = sub.add_parser("serve", help="the HTTP API (FastAPI on uvicorn; docs at /docs)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs KB_API_KEY)")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(fn=cmd_serve)
    p = sub.add_parser("edit", help="correct an article's title, author, date, source or URL ('' clears one)")
    p.add_argument("id")
    for f in ("title", "author", "date", "source", "url"):
        p.add_argument(f"--{f}", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_edit)
    p = sub.add_parser("remove", help="remove one article")
    p.add_argument("id", help="its id, or at least 6 characters of it")
    p.add_argument("--yes", action="store_true", help="remove by a shorter id prefix (when unique)")
    p.set_defaults(fn=cmd_remove)
    p = sub.add_parser("restore", help="bring a removed article back from the trash")
    p.add_argument("id", help="its id (`trash` lists them)")
    p.set_defaults(fn=cmd_restore)
    p = sub.add_parser("trash", help="the removed articles (restorable); --empty drops them for good")
    p.add_argument("--empty", nargs="?", const="", default=None, metavar="ID",
                   help="drop every removed article for good (or only ID)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_trash)
    p = sub.add_parser("stats", help="counts, embedder, size on disk")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_stats)
    p = sub.add_parser("rebuild", help="rebuild the derived indexes (vectors, BM25) from SQLite, or move them to another backend")
    p.add_argument("--backend", default=None, help="move the KB's indexes to this backend (embedded, milvus)")
    p.add_argument("--milvus-uri", default=None, metavar="URI",
                   help="for milvus: a Milvus Lite file (default: milvus.db in the KB folder) or http://host:19530")
    p.set_defaults(fn=cmd_rebuild)
    p = sub.add_parser("eval", help="recall@k and MRR of a question file (JSONL: query, evidence; "
                                    "off-topic lines: query, \"off_topic\": true)")
    p.add_argument("questions")
    p.add_argument("-k", type=_count, default=10)
    p.add_argument("--json", action="store_true")
    p.add_argument("--mode", choices=("hybrid", "dense", "lexical"), default="hybrid")
    p.set_defaults(fn=cmd_eval)
    return ap


# Arguments that name files: bytes that are not text in the locale's encoding are a valid name
# there (Python keeps them as surrogate escapes, and open() writes them back as they were).
_PATH_ARGS = {"kb", "queries", "questions"}


def _labels(parser: argparse.ArgumentParser, out: dict[str, str]) -> dict[str, str]:
    """Each argument's name as the user typed it (``--source``, or a positional's name), by dest."""
    for act in parser._actions:
        if isinstance(act, argparse._SubParsersAction):
            for sub in act.choices.values():
                _labels(sub, out)
        else:
            out.setdefault(act.dest, act.option_strings[-1] if act.option_strings else str(act.metavar or act.dest))
    return out


def check_decoded(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an argument whose bytes are not text in the locale's encoding, naming it (KBError).
    Python decodes arguments with the locale's encoding and keeps undecodable bytes as lone
    surrogates (``surrogateescape``); met later, where the text is stored or printed, they were a
    UnicodeEncodeError traceback."""
    import re
    enc = sys.getfilesystemencoding()
    labels = None
    for dest, value in vars(args).items():
        if dest in _PATH_ARGS:
            continue
        for v in value if isinstance(value, list) else [value]:
            bad = re.search("[\ud800-\udfff]", v) if isinstance(v, str) else None
            if bad is None:
                continue
            labels = labels or _labels(parser, {})
            code = ord(bad.group())
            what = f"the byte 0x{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
            try:
                shown = v.encode(enc, "surrogateescape").decode(enc, "backslashreplace")  # the bytes as typed
            except UnicodeError:
                shown = v.encode(enc, "backslashreplace").decode(enc)
            raise KBError(f"{labels.get(dest, dest)}: '{shown}' is not {enc} text ({what}); type it in a terminal "
                          f"set to {enc}, or correct the character")


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    try:
        check_decoded(ap, a)
        # the settings, read once here and handed down; a server may start on an empty KB
        kb = KnowledgeBase.open(a.kb, create=a.cmd == "serve", settings=Settings.from_env())
        try:
            return a.fn(kb, a)
        finally:
            kb.close()
    except KBError as e:
        print(f"kb: {e.for_cli()}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except (sqlite3.Error, OSError) as e:  # the KB's files, failing after they opened (damage found late, a full disk)
        print(f"kb: {StorageError.of(e, a.kb or config.get('KB_DIR'))}", file=sys.stderr)
        return 2
