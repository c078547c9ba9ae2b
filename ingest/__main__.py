"""python -m ingest [--kb DIR] PATH... — add articles (files or folders) to a knowledge base."""
from __future__ import annotations

import argparse
import sys

from kb import config
from kb.base import KnowledgeBase
from kb.errors import KBError

from .pipeline import _safe, ingest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ingest", description="Add article files and folders to a knowledge base.")
    ap.add_argument("--kb", default=None, help=f"knowledge base folder (default: KB_DIR or {config.get('KB_DIR')})")
    ap.add_argument("--quiet", action="store_true", help="no progress bar, no per-file lines")
    ap.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="files (.txt .md .html .pdf .docx .epub), folders (searched recursively) or http(s) URLs")
    args = ap.parse_args(argv)
    kb = None
    try:
        kb = KnowledgeBase.open(args.kb, create=True)
        s = ingest(kb, args.paths, progress=True if args.progress else (False if args.quiet else None),
                   echo=not args.quiet)
        path = kb.path
    except KBError as e:
        print(f"ingest: {e}", file=sys.stderr)
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
