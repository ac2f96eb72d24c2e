"""The store's write lock: one process at a time may write (``add``/``delete``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from semclust.errors import StoreError, StoreLockedError

__all__ = ["LOCK_NAME", "write_lock"]

#: The lock file's name inside a store folder.
LOCK_NAME = "write.lock"


@contextmanager
def write_lock(root: Path, timeout: float) -> Iterator[None]:
    """Hold the write lock of the store at ``root`` for the ``with`` block.

    Waits up to ``timeout`` seconds for another writer (0: not at all), then raises
    :class:`~semclust.errors.StoreLockedError`; a lock path that cannot be a lock file (a folder,
    a read-only place) is a :class:`~semclust.errors.StoreError` naming it.
    """
    from filelock import FileLock, Timeout

    path = root / LOCK_NAME
    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise StoreLockedError(
            f"another process is writing to store {root} (lock {path}); wait for it to finish and try again"
        ) from None
    except OSError as err:
        what = "is a folder, not a lock file" if path.is_dir() else f"cannot be locked ({err.strerror})"
        raise StoreError(f"the write lock {path} {what}; remove or fix it, then try again") from None
    try:
        yield
    finally:
        lock.release()
