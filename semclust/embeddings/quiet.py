"""Keep third-party model libraries quiet while semclust loads or exports a model.

The library never configures logging (the application does). Some exporters log through the
*root* logger with module-level calls (``logging.warning(...)``), which install a stderr handler
(``logging.basicConfig``) when the application has none, and some libraries set their own
loggers' levels when first imported. :func:`quiet_model_libraries` holds the logging state of
the process for the duration of a load or an export and puts it back exactly as it was after:
the root logger's handlers, level and filters, and every logger that existed before (level,
handlers, filters, ``propagate``, ``disabled``). Records the exporters log on the root logger
meanwhile (below ERROR) are dropped; warnings are ignored and progress bars hidden.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["LoggingState", "quiet_model_libraries", "quiet_transformers"]

# Third-party packages whose root-logger chatter is dropped during an export.
_CHATTY_PACKAGES = ("onnxruntime", "onnx", "torch", "transformers")


class LoggingState:
    """A snapshot of the process's logging configuration that can be put back."""

    def __init__(self) -> None:
        root = logging.getLogger()
        self._root = (list(root.handlers), root.level, list(root.filters))
        self._loggers: dict[str, tuple[int, list[Any], list[Any], bool, bool]] = {
            name: (lg.level, list(lg.handlers), list(lg.filters), lg.propagate, lg.disabled)
            for name, lg in logging.Logger.manager.loggerDict.items()
            if isinstance(lg, logging.Logger)
        }
        self._disable = logging.root.manager.disable

    def restore(self) -> None:
        """Put the root logger and every logger recorded back as they were."""
        root = logging.getLogger()
        handlers, level, filters = self._root
        root.handlers[:] = handlers
        root.setLevel(level)
        root.filters[:] = filters
        for name, (lvl, hdl, flt, propagate, disabled) in self._loggers.items():
            lg = logging.getLogger(name)
            lg.setLevel(lvl)
            lg.handlers[:] = hdl
            lg.filters[:] = flt
            lg.propagate = propagate
            lg.disabled = disabled
        if logging.root.manager.disable != self._disable:
            logging.disable(self._disable)


def _from_chatty_package(record: logging.LogRecord) -> bool:
    """Keep a root-logger record unless an exporter logged it below ERROR."""
    if record.levelno >= logging.ERROR:
        return True
    path = record.pathname.replace("\\", "/")
    return not any(f"/{pkg}/" in path for pkg in _CHATTY_PACKAGES)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar while loading, restoring its setting after."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def quiet_model_libraries() -> Iterator[None]:
    """Silence model libraries' warnings, progress bars and root-logger chatter, leaving the
    logging configuration exactly as it was found (see the module's docstring).
    """
    state = LoggingState()
    root = logging.getLogger()
    if not root.handlers:  # a module-level logging.warning() would call basicConfig
        root.addHandler(logging.NullHandler())
    root.addFilter(_from_chatty_package)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with quiet_transformers():
                yield
    finally:
        state.restore()
