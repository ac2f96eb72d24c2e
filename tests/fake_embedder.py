"""A tiny deterministic embedder for fast unit tests (hashed bag of words)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence

import numpy as np

from semclust.embeddings import register_backend

_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeTokenizer:
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(t)) for t in texts]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]


class FakeEmbedder:
    """Hashed bag-of-words vectors; ``delay`` seconds per batch simulates a slow model."""

    backend = "fake"

    def __init__(
        self, model: str = "fake", *, dim: int = 64, max_tokens: int = 32, delay: float = 0.0
    ) -> None:
        self.name = str(model)
        self._dim = dim
        self._max_tokens = max_tokens
        self.delay = delay
        self.calls = 0
        self.texts_embedded = 0
        self._tok = FakeTokenizer()

    @property
    def dimension(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def fingerprint(self) -> str:
        return f"fake-{self.name}-{self._dim}"

    @property
    def tokenizer(self) -> FakeTokenizer:
        return self._tok

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        if self.delay:
            time.sleep(self.delay)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, 0] = 0.05
            for w in _TOKEN.findall(t.lower()):
                if len(w) < 3:
                    continue
                h = int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "little")
                out[i, h % self._dim] += 1.0
            out[i] /= np.linalg.norm(out[i])
        return out


register_backend("fake", FakeEmbedder)
