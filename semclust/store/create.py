"""Creating a store folder crash-safely, and checking an existing one's files before use.

A new store is built in a hidden temporary sibling folder (catalog with its tables, then the
manifest, both flushed) and renamed into place in one step, so a crash leaves either no store or
a whole one, never a folder that can be neither opened nor created again. A folder left half
created by an older semclust (a catalog with no articles and no manifest) is finished.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from semclust._disk import fsync_dir, write_json_atomic
from semclust.errors import StoreError, StoreFormatError
from semclust.store.catalog import CATALOG_NAME, Catalog
from semclust.store.manifest import MANIFEST_NAME

__all__ = ["check_creatable", "create_store", "is_half_created", "open_catalog"]

#: Files a half-created store (a crash between the catalog and the manifest) may hold.
_HALF_CREATED = frozenset(
    {CATALOG_NAME, *(f"{CATALOG_NAME}-{end}" for end in ("wal", "shm", "journal")), f"{MANIFEST_NAME}.tmp"}
)
_TEMP_MARK = ".creating-"


def _check_parents(root: Path) -> None:
    """A clear error when a folder on the way to ``root`` is a file."""
    for parent in [root, *root.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(f"{parent} is a file, not a folder, so it cannot hold the store {root}")
            return


def is_half_created(root: Path) -> bool:
    """Whether ``root`` holds only what a crash while creating a store leaves (no articles)."""
    names = {p.name for p in root.iterdir()}
    if CATALOG_NAME not in names:
        return False
    catalog = Catalog(root / CATALOG_NAME)
    try:
        catalog.check_schema()
        with catalog.read():
            empty = catalog.counts()["articles"] == 0 and catalog.generation() == 0
    except StoreFormatError:
        return False
    finally:
        catalog.close()
    if not empty:
        raise StoreFormatError(
            f"{root / MANIFEST_NAME} is missing but {root / CATALOG_NAME} holds articles: the store's "
            "manifest was lost; restore it from a backup"
        )
    return names <= _HALF_CREATED


def _remove_stale_temps(root: Path) -> None:
    """Remove temporary folders left by creations of ``root`` that crashed."""
    for entry in root.parent.glob(f".{root.name}{_TEMP_MARK}*"):
        pid = entry.name.rsplit(_TEMP_MARK, 1)[-1].split("-", 1)[0]
        alive = False
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
                alive = int(pid) != os.getpid()
            except OSError:
                alive = False
        if not alive:
            shutil.rmtree(entry, ignore_errors=True)


def check_creatable(root: Path, *, create: bool = True) -> None:
    """Raise :class:`~semclust.errors.StoreError` unless a store can be created at ``root``
    (missing, an empty folder, or a half-created store) and ``create`` allows it.
    """
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root} exists and is not a store folder")
    if not create:
        raise StoreError(f"no semclust store at {root} (no {MANIFEST_NAME}); create it first")
    _check_parents(root)
    if root.is_dir() and any(root.iterdir()) and not is_half_created(root):
        raise StoreError(f"{root} is not empty and is not a semclust store; choose a new folder")


def create_store(root: Path, manifest: dict[str, Any]) -> bool:
    """Create the store folder ``root`` with ``manifest``, atomically; returns ``False`` when
    another process created it meanwhile (the caller opens that one instead).

    ``root`` must not exist, be an empty folder, or be a half-created store.
    """
    _check_parents(root)
    if root.is_dir() and is_half_created(root):
        for name in _HALF_CREATED:
            with contextlib.suppress(FileNotFoundError):
                (root / name).unlink()
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root)
    tmp = root.parent / f".{root.name}{_TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        catalog = Catalog(tmp / CATALOG_NAME)
        catalog.create_schema()
        catalog.close()
        write_json_atomic(tmp / MANIFEST_NAME, manifest)
        fsync_dir(tmp)
        try:
            os.rename(tmp, root)  # replaces an empty folder, fails on a non-empty one
        except OSError:
            if (root / MANIFEST_NAME).exists():
                return False
            raise StoreError(
                f"{root} is not empty and is not a semclust store; choose a new folder"
            ) from None
        fsync_dir(root.parent)
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def open_catalog(root: Path) -> Catalog:
    """The catalog of the existing store ``root``, checked: a missing catalog, or a file that is
    not a store's catalog, is a :class:`~semclust.errors.StoreFormatError` naming it (never taken
    for an empty store: the next write would overwrite the vectors of the lost articles).
    """
    path = root / CATALOG_NAME
    if not path.is_file():
        raise StoreFormatError(
            f"{path} is missing: store {root} has a manifest but no catalog, so its articles cannot be "
            "read. Restore the file from a backup, or index the articles again into a new store"
        )
    catalog = Catalog(path)
    try:
        catalog.check_schema()
    except BaseException:
        catalog.close()
        raise
    return catalog
