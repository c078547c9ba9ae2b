"""python -m ingest [--kb DIR] [--backend NAME] [--ray] [--ray-address ADDRESS] PATH... — add articles
(files, folders or URLs) to a knowledge base."""
from __future__ import annotations

import re
import sys

from kb import config
from kb.base import KnowledgeBase
from kb.args import OneLineParser
from kb.errors import KBError

from .pipeline import _safe, ingest


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="python -m ingest", description="Add article files and folders to a knowledge base.")
    ap.add_argument("--kb", default=None, help=f"knowledge base folder (default: KB_DIR or {config.get('KB_DIR')})")
    ap.add_argument("--quiet", action="store_true", help="no progress bar, no per-file lines")
    ap.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    ap.add_argument("--backend", default=None,
                    help="index backend of a new KB: embedded (default) or milvus; an existing KB keeps its own")
    ap.add_argument("--milvus-uri", default=None, metavar="URI",
                    help="for a milvus KB: a Milvus Lite file (default: milvus.db in the KB folder) or http://host:19530")
    ap.add_argument("--ray", action="store_true",
                    help="read and embed on Ray workers (a local Ray instance on this machine's loopback address)")
    ap.add_argument("--ray-address", default=None, metavar="ADDRESS",
                    help="... on the Ray cluster at ADDRESS instead (host:port, ray://host:port, or auto); implies --ray")
    ap.add_argument("--ray-workers", type=int, default=None, metavar="N",
                    help="Ray workers (model copies); default: every CPU of the local instance or the cluster")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="files (.txt .md .html .pdf .docx .epub), folders (searched recursively) or http(s) URLs")
    args = ap.parse_args(argv)
    if args.ray_address is not None and not re.fullmatch(r"auto|(ray://)?(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}", args.ray_address):
        ap.error(f"--ray-address '{args.ray_address}': give the cluster's host:port (or ray://host:port, auto)")
    if args.ray_workers is not None and args.ray_workers < 1:
        ap.error("--ray-workers must be 1 or more")
    kb = None
    try:
        if args.ray_address is not None:
            from .distributed import check_address
            check_address(args.ray_address)  # at once, before the KB is opened and Ray loaded
        from dataclasses import replace

        from kb.params import Settings
        settings = Settings.from_env()  # the settings, read once here and handed down
        build = replace(settings.build, **({"backend": args.backend} if args.backend else {}))
        index = replace(settings.index, **({"milvus_uri": args.milvus_uri} if args.milvus_uri else {}))
        kb = KnowledgeBase.open(args.kb, create=True, build=build, index_params=index, settings=settings)
        show = True if args.progress else (False if args.quiet else None)
        if args.ray or args.ray_address is not None:
            from .distributed import ingest_ray
            s = ingest_ray(kb, args.paths, address=args.ray_address, workers=args.ray_workers, echo=not args.quiet,
                           progress=show)
        else:
            s = ingest(kb, args.paths, progress=show, echo=not args.quiet)
        path = kb.path
    except KBError as e:
        print(f"ingest: {e.for_cli()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ingest: interrupted; articles stored so far are kept, rerun to finish", file=sys.stderr)
        return 130
    finally:
        if kb is not None:
            kb.close()
    for path, other in s.duplicate:
        print(f"ingest: {_safe(path)}: same content as {_safe(other)} (skipped)", file=sys.stderr)
    for path, other in s.near_duplicate:
        print(f"ingest: {_safe(path)}: near-duplicate of {_safe(other)}; stored and linked, cited once", file=sys.stderr)
    print(f"{s.line()}; {s.passages} passages in {path}")
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
