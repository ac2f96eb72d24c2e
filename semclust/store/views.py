"""Consistent reads: one SQLite read transaction together with the vector snapshot of the same
committed generation, retried while a writer swaps snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from semclust.errors import StoreFormatError
from semclust.store.catalog import Catalog
from semclust.vectors.snapshot import Snapshot

__all__ = ["SNAPSHOTS_FOLDER", "SNAPSHOT_RETRIES", "SNAPSHOT_RETRY_WAIT_S", "SnapshotViews"]

#: The folder (inside a store) that holds one sub-folder per snapshot generation.
SNAPSHOTS_FOLDER = "snapshots"
#: Times a read looks again for the committed snapshot when a writer removed the one it saw.
SNAPSHOT_RETRIES = 100
#: Seconds between those looks (so a read waits at most about two seconds in all).
SNAPSHOT_RETRY_WAIT_S = 0.02


class SnapshotViews:
    """The snapshots of one store as seen by one :class:`~semclust.store.Store` (the newest one
    opened is kept, so consecutive reads do not open it again).
    """

    def __init__(self, root: Path, dimension: int, catalog: Catalog) -> None:
        self.root = root / SNAPSHOTS_FOLDER
        self.dimension = dimension
        self._catalog = catalog
        self._current: Snapshot | None = None

    def at(self, generation: int) -> Snapshot | None:
        """The snapshot of ``generation`` (cached), or ``None`` if a writer removed it."""
        current = self._current
        if current is not None and current.generation == generation:
            return current
        try:
            snap = Snapshot.load(self.root, generation, self.dimension)
        except FileNotFoundError:
            return None
        rows = self._catalog.chunk_count()  # inside the caller's read: the same generation
        if rows != snap.size:
            raise StoreFormatError(
                f"the vector snapshot {snap.path} has {snap.size} rows but {self._catalog.path} has "
                f"{rows} chunks: the snapshot belongs to another store or a file was replaced; "
                "restore the store from a backup"
            )
        self.offer(snap)
        return snap

    def offer(self, snap: Snapshot) -> None:
        """Keep ``snap`` as the current snapshot if it is newer than the one kept."""
        current = self._current
        if current is None or current.generation < snap.generation:
            self._current = snap

    @contextmanager
    def view(self) -> Iterator[Snapshot]:
        """A consistent read: inside the ``with`` block, catalog queries and the snapshot
        yielded see the same committed generation, so a concurrent commit is never half-seen.
        """
        for _ in range(SNAPSHOT_RETRIES):
            with self._catalog.read():
                snap = self.at(self._catalog.generation())
                if snap is not None:
                    yield snap
                    return
            time.sleep(SNAPSHOT_RETRY_WAIT_S)  # a writer committed and removed that snapshot meanwhile
        raise StoreFormatError(
            f"the vector snapshot of the committed generation is missing under {self.root}; "
            "the store is damaged"
        )

    def latest(self) -> Snapshot:
        """The latest committed snapshot."""
        with self.view() as snap:
            return snap

    def folders(self) -> list[int]:
        """Generations that have a snapshot folder (committed or left by a crashed writer)."""
        if not self.root.is_dir():
            return []
        gens = []
        for entry in self.root.iterdir():
            name = entry.name.removesuffix(".tmp")
            if name.isdigit():
                gens.append(int(name))
        return sorted(gens)
