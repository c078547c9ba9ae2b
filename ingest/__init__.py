"""Ingest pipeline: read article files, clean them and add them to a knowledge base."""
from .clean import clean_text, parse_date
from .fetch import is_url
from .pipeline import Summary, collect, ingest, to_article
from .readers import read_file

__all__ = ["Summary", "clean_text", "collect", "ingest", "is_url", "parse_date", "read_file", "to_article"]
