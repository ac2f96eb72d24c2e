"""Reading articles: folders, .txt/.md/.html files, JSONL and CSV, decoding and cleaning.

``readers`` finds the files and dispatches them; ``files`` reads one-article files, ``records``
JSONL/CSV files and Python objects; ``fields`` turns fields into documents; ``decoding`` turns
bytes into text; ``cleaning`` drops page furniture; ``limits`` holds the size limits.
"""

from __future__ import annotations

from semclust.ingest.cleaning import FURNITURE_PATTERNS, clean_text
from semclust.ingest.readers import TEXT_SUFFIXES, Articles, read, read_file

__all__ = ["FURNITURE_PATTERNS", "TEXT_SUFFIXES", "Articles", "clean_text", "read", "read_file"]
