"""The one exception tree of semclust.

Every error semclust raises on purpose is a :class:`SemclustError`; the CLI turns it into a
one-line message and a non-zero exit code, the HTTP service into a JSON error with a status code.

``SemclustError``
    ``InputError``: bad input data (a file, line or field); has ``path``, ``line``, ``field``.
        ``EmptyInputError``: an empty file, a record with no text, an empty corpus.
        ``BinaryFileError``: a file that is not text.
        ``DecodeError``: text whose encoding could not be determined.
        ``RecordError``: a malformed JSONL line or CSV row, or a field of the wrong type.
    ``StoreError``: problems with a store folder.
        ``StoreLockedError``: another process is writing to the store.
        ``StoreFormatError``: the store was written by an incompatible version, or is damaged.
        ``EmbeddingMismatchError``: the store was built with another model or backend.
        ``EmptyStoreError``: searching a store with no articles.
    ``NotFoundError``: an unknown article id (also a ``KeyError``).
    ``InvalidArgumentError``: a bad argument such as ``k <= 0`` (also a ``ValueError``).
    ``ModelError``: the embedding model could not be loaded.
    ``MissingDependencyError``: an optional extra is not installed (also an ``ImportError``).
    ``ApiError``: an HTTP service reply with an error status (``status``, ``headers``); the
        service answers it as JSON ``{"error": code, "detail": message}``.

How the HTTP service maps the tree: ``NotFoundError`` 404, ``InvalidArgumentError`` and
``InputError`` 422, ``StoreLockedError`` 503 (with ``Retry-After``), ``ApiError`` its own
``status``, any other ``SemclustError`` 500.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ApiError",
    "BinaryFileError",
    "DecodeError",
    "EmbeddingMismatchError",
    "EmptyInputError",
    "EmptyStoreError",
    "InputError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "ModelError",
    "NotFoundError",
    "RecordError",
    "SemclustError",
    "StoreError",
    "StoreFormatError",
    "StoreLockedError",
]


class SemclustError(Exception):
    """Base class of every error semclust raises on purpose."""


class InputError(SemclustError):
    """Bad input data. ``path``, ``line`` and ``field`` say where, when known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path
            if line is not None:
                where += f", line {line}"
            where += ": "
        elif line is not None:
            where = f"record {line}: "
        if field is not None:
            where += f"field {field!r}: "
        super().__init__(where + message)


class EmptyInputError(InputError):
    """An empty file, a record without text, or a corpus with no articles."""


class BinaryFileError(InputError):
    """A file that looks binary rather than text."""


class DecodeError(InputError):
    """Text whose character encoding could not be determined."""


class RecordError(InputError):
    """A malformed JSONL line or CSV row, or a field of the wrong type."""


class StoreError(SemclustError):
    """A problem with a store folder."""


class StoreLockedError(StoreError):
    """Another process holds the store's write lock."""


class StoreFormatError(StoreError):
    """The store's files are of an unsupported format version or are damaged."""


class EmbeddingMismatchError(StoreError):
    """The store was built with another embedding model, backend or dimension."""


class EmptyStoreError(StoreError):
    """The store has no articles to search."""


class NotFoundError(SemclustError, KeyError):
    """An article id that the store does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class InvalidArgumentError(SemclustError, ValueError):
    """An argument outside its allowed range, such as ``k <= 0``."""


class ModelError(SemclustError):
    """The embedding model could not be loaded or used."""


class MissingDependencyError(SemclustError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


class ApiError(SemclustError):
    """An error the HTTP service answers with HTTP ``status``; the message is shown to the client.

    Attributes:
        status: The HTTP status code (4xx or 5xx).
        message: What was wrong and how to fix it (no server paths).
        headers: Extra response headers, such as ``Retry-After``.
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
