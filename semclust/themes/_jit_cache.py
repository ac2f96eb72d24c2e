"""Persistent compilation cache for UMAP's numba functions.

UMAP and pynndescent compile dozens of numba functions the first time a process fits or
transforms, which costs 15-45 s on a small machine, every process: most of UMAP's functions are
not declared with ``cache=True``. :func:`enable_umap_jit_cache` turns numba's own on-disk cache
on for them (``Dispatcher.enable_caching``, what ``cache=True`` does), so only the first process
on a machine compiles and later ones load the machine code. Numba keys each cache entry on the
function's source file and the argument types, so an upgrade of umap-learn recompiles. Where
numba cannot cache a function it compiles it as before.
"""

from __future__ import annotations

import sys
import threading
import warnings

__all__ = ["enable_umap_jit_cache"]

_done = False
_lock = threading.Lock()
_PREFIXES = ("umap", "pynndescent")


def enable_umap_jit_cache() -> int:
    """Enable numba's on-disk cache for the compiled functions of UMAP and pynndescent.

    Call after importing umap and before fitting. Idempotent; returns the number of functions
    whose caching was turned on by this call.
    """
    global _done
    with _lock:
        if _done:
            return 0
        try:
            from numba.core.registry import CPUDispatcher
        except ImportError:  # pragma: no cover - umap requires numba
            _done = True
            return 0
        # Load the submodules that define the functions a fit and a transform use.
        for name in ("umap.umap_", "umap.layouts", "umap.spectral", "umap.distances", "umap.utils"):
            if name not in sys.modules:
                try:
                    __import__(name)
                except ImportError:  # pragma: no cover - layout differs between versions
                    continue
        n = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, module in list(sys.modules.items()):
                if module is None or not name.startswith(_PREFIXES):
                    continue
                for value in list(vars(module).values()):
                    cache = getattr(value, "_cache", None)
                    if not isinstance(value, CPUDispatcher) or type(cache).__name__ != "NullCache":
                        continue
                    try:
                        value.enable_caching()
                    except Exception:  # a function numba cannot cache stays as it is
                        continue
                    n += 1
        _done = True
        return n
