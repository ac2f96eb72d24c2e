"""The size limits of reading, in one place (the README's "Limits" section lists them).

Past a limit the article, record or file is refused with an :class:`~semclust.errors.InputError`
that names the file, line and field (with ``skip_errors=True`` it is skipped and listed instead).
Record files (JSONL, CSV, gzipped or not) are streamed: memory stays bounded by these limits
whatever the size of the file.
"""

from __future__ import annotations

__all__ = [
    "MAX_FIELD_CHARS",
    "MAX_FILE_BYTES",
    "MAX_ID_CHARS",
    "MAX_NESTING",
    "MAX_RECORD_BYTES",
    "MAX_TEXT_CHARS",
]

#: Characters of one article's text (after cleaning); about 500 printed pages.
MAX_TEXT_CHARS = 1_000_000

#: Bytes of one JSONL line or CSV/TSV record (all its fields together, decompressed).
MAX_RECORD_BYTES = 8_000_000

#: Bytes of one single-article file (.txt, .md, .html).
MAX_FILE_BYTES = 32_000_000

#: Characters of an article id (after stripping white space); the HTTP service's limit too.
MAX_ID_CHARS = 256

#: Characters of the title, url and source fields.
MAX_FIELD_CHARS = 10_000

#: Nesting depth of the lists and objects in one record (JSONL, front matter, dicts).
MAX_NESTING = 64
