"""Bilingual (Chinese/English) article knowledge base with cited semantic search.

>>> from kb import KnowledgeBase
>>> kb = KnowledgeBase.open("data/kb")                 # doctest: +SKIP
>>> hit = kb.search("How many merchants joined?")[0]   # doctest: +SKIP
>>> hit.title, hit.paragraph, hit.highlight            # doctest: +SKIP
"""
from .base import ArticleInput, KnowledgeBase
from .errors import EmbedderMismatch, KBError, KBNotFound, ReadError
from .params import BuildParams, IndexParams, SearchParams
from .search import Filters, Hit

__all__ = ["ArticleInput", "BuildParams", "EmbedderMismatch", "Filters", "Hit", "IndexParams", "KBError", "KBNotFound",
           "KnowledgeBase", "ReadError", "SearchParams"]
