"""The ``"torch"`` backend (alias ``"sentence-transformers"``): sentence-transformers on torch,
float32. torch and sentence-transformers are imported on first use only.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semclust.embeddings.base import DEFAULT_MODEL, HFTokenizer
from semclust.embeddings.model_files import canonical_name, local_model_path, model_files_digest
from semclust.embeddings.quiet import quiet_model_libraries
from semclust.errors import InvalidArgumentError, ModelError

__all__ = ["TORCH_FINGERPRINT_TAG", "SentenceTransformerEmbedder"]

#: The torch backend's fingerprints hash this tag (its name before "torch"), so that stores
#: built before the rename keep matching.
TORCH_FINGERPRINT_TAG = "sentence-transformers"


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
        self.name = canonical_name(spec)
        self.device = device
        self.batch_size = batch_size
        self._path = local_model_path(spec)
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
        h.update(f"{TORCH_FINGERPRINT_TAG}|normalize=1|".encode())
        model_files_digest(path, h)
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
                with quiet_model_libraries():
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
                h = hashlib.sha256(f"{TORCH_FINGERPRINT_TAG}|normalize=1|{self.name}".encode())
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
