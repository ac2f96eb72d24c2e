"""Reading articles: folders, .txt/.md/.html files, JSONL and CSV, decoding and cleaning.

``readers`` finds the files and dispatches them; ``files`` reads one-article files (with
``frontmatter`` for Markdown), ``records`` JSONL/CSV files and Python objects; ``fields`` turns
fields into documents and holds the rules every article follows; ``decoding`` turns bytes into
text; ``cleaning`` decodes escaped markup and drops page furniture; ``limits`` holds the size
limits.
"""

from __future__ import annotations

from semclust.ingest.cleaning import FURNITURE_PATTERNS, clean_text, decode_markup
from semclust.ingest.readers import (
    READABLE_SUFFIXES,
    TEXT_SUFFIXES,
    Articles,
    read,
    read_file,
    read_in_folders,
    walk_folder,
)

__all__ = [
    "FURNITURE_PATTERNS",
    "READABLE_SUFFIXES",
    "TEXT_SUFFIXES",
    "Articles",
    "clean_text",
    "decode_markup",
    "read",
    "read_file",
    "read_in_folders",
    "walk_folder",
]
