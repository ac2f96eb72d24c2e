"""What a sentence-transformers model folder says about its pipeline, and its pooling.

The ONNX backends run a model's transformer and then do themselves what its
``modules.json``, ``1_Pooling/config.json`` and ``sentence_bert_config.json`` ask for: pooling
(any mode or concatenation of modes sentence-transformers' ``Pooling`` computes), truncation,
lower-casing and normalisation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semclust.embeddings.base import DEFAULT_MODEL
from semclust.embeddings.model_files import local_model_path
from semclust.errors import MissingDependencyError, ModelError

__all__ = ["POOLING_MODES", "ModelConfig", "pool_tokens", "read_json", "read_model_config", "resolve_model"]

#: Pooling modes of sentence-transformers' ``Pooling`` module that the ONNX backends compute.
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
_LEGACY_POOLING_KEYS = {  # sentence-transformers' old boolean keys, in its concatenation order
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class ModelConfig:
    """What a sentence-transformers model folder says about its pipeline."""

    transformer_dir: str
    max_seq_length: int
    do_lower_case: bool
    pooling_modes: tuple[str, ...]
    token_dimension: int
    normalize: bool
    pad_token_id: int


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (:class:`~semclust.errors.ModelError` if it is not one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelError(f"{path} is not a readable JSON file: {err}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} should hold a JSON object")
    return data


def _pooling_modes(cfg: dict[str, Any], where: Path) -> tuple[str, ...]:
    """The pooling modes of a ``Pooling`` config, new (``pooling_mode``) or legacy style."""
    if "pooling_mode" in cfg:
        raw = cfg["pooling_mode"]
        modes = (raw,) if isinstance(raw, str) else tuple(raw)
    else:
        modes = tuple(mode for key, mode in _LEGACY_POOLING_KEYS.items() if cfg.get(key))
        modes = modes or ("mean",)
    for mode in modes:
        if mode not in POOLING_MODES:
            raise ModelError(
                f"{where}: pooling mode {mode!r} is not supported by the ONNX backends "
                f"(supported: {', '.join(POOLING_MODES)}); use backend='torch'"
            )
    return modes


def read_model_config(root: Path, max_seq_override: int | None) -> ModelConfig:
    """Read the module list, pooling, truncation and lower-casing of a model folder."""
    transformer: Path | None = None
    pooling: dict[str, Any] | None = None
    pooling_file = root
    normalize = False
    modules_file = root / "modules.json"
    if modules_file.exists():
        try:
            modules = json.loads(modules_file.read_text(encoding="utf-8"))
            modules = sorted(modules, key=lambda m: int(m.get("idx", 0)))
        except (OSError, ValueError, TypeError, AttributeError) as err:
            raise ModelError(f"{modules_file} is not a readable module list: {err}") from None
        for i, module in enumerate(modules):
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            sub = root / str(module.get("path", ""))
            if kind == "Transformer" and i == 0:
                transformer = sub
            elif kind == "Pooling" and pooling is None:
                pooling_file = sub / "config.json"
                pooling = read_json(pooling_file)
            elif kind == "Normalize":
                normalize = True
            else:
                raise ModelError(
                    f"{modules_file}: module {i} is {module.get('type')!r}; the ONNX backends run "
                    "a Transformer followed by Pooling and Normalize only. Use backend='torch' "
                    "for this model"
                )
        if transformer is None or pooling is None:
            raise ModelError(
                f"{modules_file} should list a Transformer module first and a Pooling module; "
                "use backend='torch' for this model"
            )
    elif (root / "config.json").exists():
        # a plain Hugging Face model: sentence-transformers adds mean pooling, and so do we
        transformer, pooling = root, {"pooling_mode": "mean"}
    else:
        raise ModelError(
            f"{root} is not a sentence-transformers model folder (no modules.json or config.json)"
        )
    config_file = transformer / "config.json"
    if not config_file.exists():
        raise ModelError(f"{config_file} is missing: the transformer's configuration is needed")
    hf_config = read_json(config_file)
    sbert_file = transformer / "sentence_bert_config.json"
    sbert = read_json(sbert_file) if sbert_file.exists() else {}
    tok_file = transformer / "tokenizer_config.json"
    tok_config = read_json(tok_file) if tok_file.exists() else {}
    max_pos = hf_config.get("max_position_embeddings")
    max_seq = max_seq_override or sbert.get("max_seq_length")
    if not max_seq:
        candidates = [
            int(v)
            for v in (tok_config.get("model_max_length"), max_pos)
            if isinstance(v, (int, float)) and 0 < v < 1_000_000
        ]
        max_seq = min(candidates) if candidates else 512
    dimension = (
        pooling.get("embedding_dimension")
        or pooling.get("word_embedding_dimension")
        or hf_config.get("hidden_size")
    )
    if not dimension:
        raise ModelError(f"{pooling_file}: no embedding dimension (word_embedding_dimension)")
    pad_id = hf_config.get("pad_token_id")
    return ModelConfig(
        transformer_dir=str(transformer),
        max_seq_length=int(max_seq),
        do_lower_case=bool(sbert.get("do_lower_case", False)),
        pooling_modes=_pooling_modes(pooling, pooling_file),
        token_dimension=int(dimension),
        normalize=normalize,
        pad_token_id=int(pad_id) if isinstance(pad_id, int) else 0,
    )


def resolve_model(spec: str) -> Path:
    """The local folder of ``spec``: the bundled model, a folder, or a hub id (may download)."""
    local = local_model_path(spec)
    if local is not None:
        return local
    looks_like_path = spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or "\\" in spec
    if looks_like_path:
        raise ModelError(
            f"no model folder at {spec}: give the folder of a sentence-transformers model, "
            f"or a hub id such as {DEFAULT_MODEL!r}"
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:  # pragma: no cover - a dependency of sentence-transformers
        raise MissingDependencyError("huggingface_hub is needed to fetch hub models") from err
    ignore = ["onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "tf_model*", "flax_model*"]
    try:
        try:
            return Path(snapshot_download(spec, ignore_patterns=ignore, local_files_only=True))
        except Exception:
            return Path(snapshot_download(spec, ignore_patterns=ignore))
    except Exception as err:
        raise ModelError(
            f"could not find the embedding model {spec!r}: {err}. Give the name of a "
            "sentence-transformers model or the path of a local model folder."
        ) from None


def pool_tokens(hidden: np.ndarray, mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """sentence-transformers' pooling of right-padded token embeddings, modes concatenated."""
    rows = np.arange(hidden.shape[0])
    m = mask[:, :, None].astype(hidden.dtype)
    counts = np.clip(m.sum(axis=1), 1e-9, None)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(hidden[rows, mask.argmax(axis=1)])
        elif mode == "max":
            parts.append(np.where(m > 0, hidden, -np.inf).max(axis=1))
        elif mode == "mean":
            parts.append((hidden * m).sum(axis=1) / counts)
        elif mode == "mean_sqrt_len_tokens":
            parts.append((hidden * m).sum(axis=1) / np.sqrt(counts))
        elif mode == "weightedmean":
            w = m * np.arange(1, hidden.shape[1] + 1, dtype=hidden.dtype)[None, :, None]
            parts.append((hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None))
        else:  # lasttoken
            last = hidden.shape[1] - 1 - mask[:, ::-1].argmax(axis=1)
            parts.append(hidden[rows, last])
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
