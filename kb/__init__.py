"""Bilingual (Chinese/English) article knowledge base with cited semantic search.

>>> from kb import KnowledgeBase
>>> kb = KnowledgeBase.open("data/kb")                 # doctest: +SKIP
>>> hit = kb.search("How many merchants joined?")[0]   # doctest: +SKIP
>>> hit.title, hit.paragraph, hit.highlight            # doctest: +SKIP
"""
import warnings

# jieba and milvus-lite import pkg_resources (kept by the pin setuptools<81 that milvus-lite 2.5
# needs), which warns on every import; the warning is about those packages, not a user's action.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

from .base import ArticleInput, KnowledgeBase  # noqa: E402
from .errors import (ArticleNotFound, CollectionNotFound, EmbedderMismatch, ItemNotFound, KBError, KBNotFound,  # noqa: E402
                     NotFound, PassageNotFound, ReadError)
from .params import BuildParams, IndexParams, SearchParams, Settings  # noqa: E402
from .results import Filters, Hit  # noqa: E402

__all__ = ["ArticleInput", "ArticleNotFound", "BuildParams", "CollectionNotFound", "EmbedderMismatch", "Filters", "Hit",
           "IndexParams", "ItemNotFound", "KBError", "KBNotFound", "KnowledgeBase", "NotFound", "PassageNotFound", "ReadError",
           "SearchParams", "Settings"]
