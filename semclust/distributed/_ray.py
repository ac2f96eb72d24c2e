"""Importing and starting Ray: the only place semclust imports it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from semclust.errors import MissingDependencyError, SemclustError

INSTALL_HINT = "pip install 'semclust[ray]'"


def import_ray() -> Any:
    """The ``ray`` module (with Ray Data), or a one-line :class:`MissingDependencyError`."""
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise MissingDependencyError(
            f"scale-out needs Ray with Ray Data ({err.name or 'ray'} is not installed): {INSTALL_HINT}"
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """A connected Ray: the one already initialised in this process, else a new local Ray
    (``address=None``) or the cluster at ``address`` (``"auto"``: the one ``ray start`` runs
    here). A Ray started here is shut down on exit. Ray's own progress bars are switched off.
    """
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        ray.init(
            address=address,
            include_dashboard=False if address is None else None,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=True,
        )
        started = True
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.enable_auto_log_stats = False
    ctx.verbose_stats_logs = False
    ctx.print_on_execution_start = False
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextmanager
def semclust_errors() -> Iterator[None]:
    """Re-raise a semclust error carried inside a Ray task error as itself (a bad input file is
    reported as in the single-process path); other errors pass unchanged.
    """
    try:
        yield
    except SemclustError:
        raise
    except Exception as err:
        inner = unwrap_error(err)
        if inner is not err:
            raise inner from None
        raise


def unwrap_error(err: BaseException) -> BaseException:
    """The semclust error inside a Ray task error (its cause chain), else ``err`` itself."""
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, SemclustError):
            return cur
        inner = getattr(cur, "cause", None)
        cur = inner if isinstance(inner, BaseException) else (cur.__cause__ or cur.__context__)
    return err
