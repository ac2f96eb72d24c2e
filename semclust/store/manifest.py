"""The store manifest: a plain JSON file with the format version, the model, the chunking,
index and related-list settings, and library versions; built for a new store, checked on open.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semclust._disk import library_versions, now_iso
from semclust.embeddings import Embedder, get_embedder
from semclust.errors import EmbeddingMismatchError, InvalidArgumentError, StoreError, StoreFormatError
from semclust.search.related import DEFAULT_RELATED_K
from semclust.vectors.snapshot import DEFAULT_INDEX, validate_factory

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "ChunkSettings",
    "check_compatible",
    "check_fingerprint",
    "new_manifest",
    "read_manifest",
]

#: Version of the store's on-disk layout; a store of another version is refused with a clear message.
FORMAT_VERSION = 1
#: The manifest's file name inside a store folder.
MANIFEST_NAME = "manifest.json"
#: The smallest chunk token budget a store accepts.
MIN_MAX_TOKENS = 8


@dataclass(frozen=True)
class ChunkSettings:
    """How a store chunks its articles (the manifest's ``chunking`` section)."""

    max_tokens: int
    overlap: int
    title_context: bool
    language: str

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> ChunkSettings:
        """The settings of a manifest checked by :func:`read_manifest` or made by :func:`new_manifest`."""
        cfg = manifest["chunking"]
        return cls(
            int(cfg["max_tokens"]), int(cfg["overlap"]), bool(cfg["title_context"]), str(cfg["language"])
        )


def new_manifest(
    embedder: Embedder,
    *,
    index: str | None,
    index_threshold: int | None,
    related_k: int,
    ivf_threshold: int | None = None,
    max_tokens: int | None,
    overlap: int,
    title_context: bool,
    language: str,
) -> dict[str, Any]:
    """The manifest of a new store built with ``embedder``; bad settings fail here (before
    anything is written) with :class:`~semclust.errors.InvalidArgumentError`.
    """
    if isinstance(related_k, bool) or not isinstance(related_k, int) or related_k < 0:
        raise InvalidArgumentError(f"related_k must be 0 or more, got {related_k}")
    for name, value in (("index_threshold", index_threshold), ("ivf_threshold", ivf_threshold)):
        if value is not None and not (_is_int(value) and value >= 1):
            raise InvalidArgumentError(
                f"{name} must be a whole number of chunks, at least 1, got {value!r} (or leave it out "
                "for the default)"
            )
    validate_factory(index or DEFAULT_INDEX, embedder.dimension)
    budget = max_tokens if max_tokens is not None else embedder.max_tokens
    if budget < MIN_MAX_TOKENS:
        raise InvalidArgumentError(f"max_tokens must be at least {MIN_MAX_TOKENS}, got {budget}")
    if overlap < 0:
        raise InvalidArgumentError(f"overlap must be 0 or more, got {overlap}")
    return {
        "format_version": FORMAT_VERSION,
        "created": now_iso(),
        "model": {
            "name": embedder.name,
            "backend": embedder.backend,
            "quantization": getattr(embedder, "quantization", None),
            "dimension": embedder.dimension,
            "fingerprint": embedder.fingerprint,
            "max_tokens": embedder.max_tokens,
        },
        "chunking": {
            "max_tokens": budget,
            "overlap": overlap,
            "title_context": title_context,
            "language": language,
        },
        "index": {
            "factory": index or DEFAULT_INDEX,
            "metric": "inner_product",
            **({"threshold": index_threshold} if index_threshold is not None else {}),
            **({"ivf_threshold": ivf_threshold} if ivf_threshold is not None else {}),
        },
        "related": {"k": related_k, "method": "chunks"},
        "versions": library_versions(),
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: ``section -> {key: (check, what it must be)}``: the fields a store cannot be read without.
_REQUIRED: dict[str, dict[str, tuple[Any, str]]] = {
    "model": {
        "name": (lambda v: isinstance(v, str) and v != "", "a model name"),
        "backend": (lambda v: isinstance(v, str) and v != "", "a backend name"),
        "fingerprint": (lambda v: isinstance(v, str), "a string"),
        "dimension": (lambda v: _is_int(v) and v > 0, "a positive whole number"),
    },
    "chunking": {
        "max_tokens": (lambda v: _is_int(v) and v >= MIN_MAX_TOKENS, f"a whole number >= {MIN_MAX_TOKENS}"),
        "overlap": (lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
        "title_context": (lambda v: isinstance(v, bool), "true or false"),
        "language": (lambda v: isinstance(v, str) and v != "", "a language code"),
    },
    "index": {"factory": (lambda v: isinstance(v, str) and v != "", "an index factory string")},
}


def _check_fields(path: Path, manifest: dict[str, Any]) -> None:
    for section, fields in _REQUIRED.items():
        part = manifest.get(section)
        if part is None:
            raise StoreFormatError(f"{path} has no {section!r} section; the store is damaged")
        if not isinstance(part, dict):
            raise StoreFormatError(
                f"{path}: {section!r} must be a JSON object, got {part!r}; the store is damaged"
            )
        for key, (ok, what) in fields.items():
            if not ok(part.get(key)):
                raise StoreFormatError(
                    f"{path}: {section}.{key} must be {what}, got {part.get(key)!r}; the store is damaged "
                    "(restore the manifest from a backup)"
                )
    related = manifest.get("related", {"k": DEFAULT_RELATED_K})
    if not isinstance(related, dict) or not (_is_int(related.get("k", 0)) and related.get("k", 0) >= 0):
        raise StoreFormatError(f"{path}: related.k must be a whole number >= 0, got {related!r}")
    for key in ("threshold", "ivf_threshold"):
        threshold = manifest["index"].get(key)
        if threshold is not None and not (_is_int(threshold) and threshold >= 1):
            raise StoreFormatError(f"{path}: index.{key} must be a whole number >= 1, got {threshold!r}")


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, checked: :class:`~semclust.errors.StoreFormatError` naming the
    file and the field for one that cannot be read, of another format version, or damaged.
    """
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise StoreFormatError(
            f"{path} is not UTF-8 text ({err.reason}); it is not a readable manifest"
        ) from None
    except (OSError, ValueError) as err:
        raise StoreFormatError(f"{path} is not a readable semclust manifest: {err}") from None
    if not isinstance(manifest, dict):
        raise StoreFormatError(
            f"{path} holds a JSON {type(manifest).__name__}, not an object; it is not a semclust manifest"
        )
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise StoreFormatError(
            f"store {path.parent} has format version {version}; this semclust "
            f"({library_versions().get('semclust', '?')}) reads version {FORMAT_VERSION}. Use the "
            "semclust version that wrote it, or index the articles again into a new store"
        )
    _check_fields(path, manifest)
    return manifest


def check_compatible(
    manifest: dict[str, Any],
    root: Path,
    *,
    model: str | os.PathLike[str] | Embedder | None,
    backend: str | None,
    index: str | None,
) -> Embedder | None:
    """Check what ``Store.open`` asked for against an existing store's manifest.

    Returns the embedder to use when a model or backend was named (``None``: load the store's
    own on first use); raises :class:`~semclust.errors.EmbeddingMismatchError` for another
    model or backend and :class:`~semclust.errors.StoreError` for another index kind.
    """
    stored = manifest["model"]
    embedder: Embedder | None = None
    if backend == "auto":  # "whatever the store uses"
        backend = None
    if backend is not None and model is None and backend != stored["backend"]:
        model = stored["name"]
    if model is not None:
        embedder = get_embedder(model, backend=backend or stored["backend"])
        if embedder.fingerprint != stored["fingerprint"]:
            raise EmbeddingMismatchError(
                f"store {root} was built with model {stored['name']!r} on the "
                f"{stored['backend']!r} backend (fingerprint "
                f"{stored['fingerprint']}); {embedder.name!r} on {embedder.backend!r} "
                "gives other vectors, and a store never mixes the two. Open it without "
                "model/backend, or re-embed into a new store: `semclust index PATH "
                f"--store NEW_DIR --model {embedder.name} --backend {embedder.backend}`"
            )
    if index is not None and index != manifest["index"]["factory"]:
        raise StoreError(
            f"store {root} uses the index {manifest['index']['factory']!r}; "
            f"the index kind is fixed when the store is created (asked for {index!r})"
        )
    return embedder


def check_fingerprint(manifest: dict[str, Any], embedder: Embedder, root: Path) -> None:
    """Raise :class:`~semclust.errors.EmbeddingMismatchError` if the model found now gives
    other vectors than the one the store was built with.
    """
    m = manifest["model"]
    if embedder.fingerprint != m["fingerprint"]:
        raise EmbeddingMismatchError(
            f"the model {m['name']!r} found now gives other vectors than the one store "
            f"{root} was built with (fingerprint {embedder.fingerprint} != "
            f"{m['fingerprint']}). Re-embed into a new store: "
            f"`semclust index PATH --store NEW_DIR`"
        )
