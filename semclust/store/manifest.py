"""The store manifest: a plain JSON file with the format version and library versions."""

from __future__ import annotations

__all__ = ["FORMAT_VERSION", "MANIFEST_NAME"]

#: Version of the store's on-disk layout; a store of another version is refused with a clear message.
FORMAT_VERSION = 1
#: The manifest's file name inside a store folder.
MANIFEST_NAME = "manifest.json"
