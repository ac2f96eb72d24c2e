"""The ONNX Runtime embedding backends: ``"onnx"`` (float32) and ``"onnx-int8"``.

A sentence-transformers model's transformer is exported to ONNX **once** per model and
quantisation setting, into ``default_cache_dir() / "onnx"`` (``$SEMCLUST_CACHE_DIR/onnx`` when
that is set). The export folder holds ``model.onnx`` and a ``manifest.json`` (format version,
source model digest, export and quantisation settings, library versions). Exporting imports
torch and transformers and reads only local files; using a cached export imports neither (only
onnxruntime, ``tokenizers`` and numpy), which is what makes the first vector fast.

``onnx-int8`` is dynamic quantisation with onnxruntime: int8 weights (``QInt8``, symmetric,
one scale per output channel), activations quantised to uint8 at run time, the configuration
that uses the VNNI instructions of recent x86 CPUs. Tokenisation uses the model's own
``tokenizer.json``; pooling and truncation follow the model's sentence-transformers
configuration (``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``).
Vectors are float32 and unit-length, like every semclust backend's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semclust._disk import fsync_file
from semclust.embeddings.base import (
    _BUNDLED_ALIASES,
    DEFAULT_MODEL,
    HFTokenizer,
    _file_digest,
    _local_model_path,
    _model_files_digest,
    _quiet_transformers,
)
from semclust.errors import InvalidArgumentError, MissingDependencyError, ModelError

__all__ = ["EXPORT_FORMAT_VERSION", "POOLING_MODES", "OnnxEmbedder"]

#: Version of an export folder's layout; another version is exported afresh beside it.
EXPORT_FORMAT_VERSION = 1
#: Pooling modes of sentence-transformers' ``Pooling`` module that this backend computes.
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
_LEGACY_POOLING_KEYS = {  # sentence-transformers' old boolean keys, in its concatenation order
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_OPSET = 17
# int8 settings: what the export folder's key and the fingerprint cover.
_INT8_SETTINGS: dict[str, Any] = {
    "method": "onnxruntime.quantize_dynamic",
    "weight_type": "QInt8",
    "activation_type": "QUInt8",
    "per_channel": True,
    "reduce_range": False,
    "op_types": ["Gather", "MatMul"],
    "matmul_const_b_only": True,
}
_GRAPH_LEVELS = ("disable", "basic", "extended", "all")
# Texts tokenised at a time when ``tokenize_ahead`` overlaps tokenising with the model.
_TOKENIZE_GROUP = 256


@dataclass(frozen=True)
class _ModelConfig:
    """What a sentence-transformers model folder says about its pipeline."""

    transformer_dir: str
    max_seq_length: int
    do_lower_case: bool
    pooling_modes: tuple[str, ...]
    token_dimension: int
    normalize: bool
    pad_token_id: int


def _read_json(path: Path) -> dict[str, Any]:
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


def _read_model_config(root: Path, max_seq_override: int | None) -> _ModelConfig:
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
                pooling = _read_json(pooling_file)
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
    hf_config = _read_json(config_file)
    sbert_file = transformer / "sentence_bert_config.json"
    sbert = _read_json(sbert_file) if sbert_file.exists() else {}
    tok_file = transformer / "tokenizer_config.json"
    tok_config = _read_json(tok_file) if tok_file.exists() else {}
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
    return _ModelConfig(
        transformer_dir=str(transformer),
        max_seq_length=int(max_seq),
        do_lower_case=bool(sbert.get("do_lower_case", False)),
        pooling_modes=_pooling_modes(pooling, pooling_file),
        token_dimension=int(dimension),
        normalize=normalize,
        pad_token_id=int(pad_id) if isinstance(pad_id, int) else 0,
    )


def _resolve_model(spec: str) -> Path:
    """The local folder of ``spec``: the bundled model, a folder, or a hub id (may download)."""
    local = _local_model_path(spec)
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


def _library_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("semclust", "onnxruntime", "onnx", "torch", "transformers", "tokenizers", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def _drop_preprocessing_hint(record: logging.LogRecord) -> bool:
    """Drop the quantiser's advice to pre-process (it is meant for static quantisation)."""
    return not str(record.msg).startswith("Please consider to run pre-processing")


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporters' warnings and progress bars without configuring logging.

    onnxruntime's quantiser logs through the root logger, which would install a stderr handler
    (``logging.basicConfig``) when the application has none; a NullHandler held meanwhile
    prevents that and is removed after.
    """
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    root.addFilter(_drop_preprocessing_hint)
    try:
        with warnings.catch_warnings(), _quiet_transformers():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(_drop_preprocessing_hint)
        if guard is not None:
            root.removeHandler(guard)


def _export_fp32(transformer_dir: Path, target: Path) -> list[str]:
    """Export the transformer's token embeddings to ONNX; return the graph's input names."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as err:
        raise MissingDependencyError(
            f"exporting a model to ONNX needs torch and transformers ({err}); run "
            "`pip install sentence-transformers`, or use a machine where the export is cached"
        ) from err
    import inspect

    try:
        try:
            model = AutoModel.from_pretrained(
                str(transformer_dir), local_files_only=True, attn_implementation="eager"
            )
        except (TypeError, ValueError):
            model = AutoModel.from_pretrained(str(transformer_dir), local_files_only=True)
    except Exception as err:
        raise ModelError(f"could not load the transformer in {transformer_dir}: {err}") from err
    model = model.float().eval()
    params = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in params else [])

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs)), return_dict=True)[0]

    # an example with padding, so that nothing about batch or length is traced as a constant
    ids = torch.tensor([[101 + (7 * i) % 900 for i in range(16)]] * 2, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    example = (ids, mask, torch.zeros_like(ids))[: len(names)]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]}
    # a check on another shape (and padding), computed before exporting: exporting leaves the
    # torch model in a state that gives other outputs
    check = torch.tensor([[101, 2023, 2003, 1037, 3231, 102, 0], [101, 2178, 102, 0, 0, 0, 0]] * 2)
    check = check.clamp(max=int(getattr(model.config, "vocab_size", 30000)) - 1)
    check_mask = (torch.arange(7)[None, :] < torch.tensor([6, 3, 6, 3])[:, None]).long()
    feed = (check, check_mask, torch.zeros_like(check))[: len(names)]
    with torch.no_grad():
        expected = TokenEmbeddings(model)(*feed).numpy()
    kwargs: dict[str, Any] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: deterministic, no onnxscript needed
    try:
        with torch.no_grad():
            torch.onnx.export(
                TokenEmbeddings(model),
                example,
                str(target),
                input_names=names,
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=_OPSET,
                do_constant_folding=True,
                **kwargs,
            )
    except Exception as err:
        raise ModelError(f"could not export {transformer_dir} to ONNX: {err}; use backend='torch'") from err
    import onnxruntime as ort  # type: ignore[import-untyped]

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(target), sess_options=opts, providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(names, feed)})[0]
    keep = check_mask.numpy().astype(bool)
    if got.shape != expected.shape or not np.allclose(got[keep], expected[keep], atol=1e-3):
        raise ModelError(
            f"the ONNX export of {transformer_dir} does not reproduce the model's outputs; "
            "use backend='torch' for this model"
        )
    return names


def _quantize(source: Path, target: Path, settings: dict[str, Any]) -> None:
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=bool(settings["per_channel"]),
        reduce_range=bool(settings["reduce_range"]),
        op_types_to_quantize=list(settings["op_types"]),
        extra_options={"MatMulConstBOnly": settings["matmul_const_b_only"]},
    )


def _valid_export(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete export folder, else ``None``."""
    try:
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        size = (folder / "model.onnx").stat().st_size
    except (OSError, ValueError):
        return None
    if manifest.get("format_version") != EXPORT_FORMAT_VERSION or manifest.get("model_bytes") != size:
        return None
    return manifest


def _usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _sort_batches(
    lengths: np.ndarray, *, batch_size: int, batch_tokens: int | None, sort_by_length: bool
) -> list[np.ndarray]:
    """Split positions into batches: longest first, each at most ``batch_tokens`` padded tokens."""
    order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(len(lengths))
    batches: list[np.ndarray] = []
    i, n = 0, len(order)
    while i < n:
        j, longest = i, 0
        while j < n and j - i < batch_size:
            longest_next = max(longest, int(lengths[order[j]]))
            if batch_tokens is not None and j > i and longest_next * (j - i + 1) > batch_tokens:
                break
            longest = longest_next
            j += 1
        batches.append(order[i:j])
        i = j
    return batches


def _pool(hidden: np.ndarray, mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
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


class OnnxEmbedder:
    """Embeddings from a sentence-transformers model run with onnxruntime.

    Args:
        model: ``"all-MiniLM-L6-v2"`` (the bundled copy, offline), another hub id (may download
            it), or a local folder of a sentence-transformers model.
        quantize: int8 dynamic quantisation (backend ``"onnx-int8"``); ``False`` for float32
            (backend ``"onnx"``).
        per_channel: int8 weights with one scale per output channel (``False``: one per
            tensor; on all-MiniLM-L6-v2 mean cosine to float32 falls from 0.994 to 0.958).
        export_dir: Folder of the exported models; default ``default_cache_dir() / "onnx"``.
        max_seq_length: Override the model's own token limit.
        batch_size: At most this many texts per forward pass. Default: 1 for int8, whose
            activations are quantised with one scale per batch, so that a text's vector does
            not depend on the texts batched with it (it is also closer to float32, and as fast
            on passages); 64 for float32.
        batch_tokens: At most this many tokens (padding included) per forward pass; ``None``
            for batches of ``batch_size`` texts whatever their length.
        sort_by_length: Batch texts of similar length together (less padding).
        threads: CPU threads to use; ``None`` for all the CPUs this process may run on.
        parallel_batches: Run ``threads`` batches at once, one thread each; ``False`` runs one
            batch at a time on ``threads`` onnxruntime (intra-op) threads.
        spinning: Let idle onnxruntime intra-op threads spin (faster on an idle machine,
            slower on a busy one); only with ``parallel_batches=False``.
        graph_optimization: onnxruntime graph optimisation: ``"disable"``, ``"basic"``,
            ``"extended"`` or ``"all"``.
        memory_arena: onnxruntime's CPU memory arena.
        tokenize_ahead: Tokenise the next group of texts on a thread while the model runs.
        lock_timeout: Seconds to wait for another process exporting the same model.

    The model's configuration and tokenizer load at once; the export (first use only) and the
    onnxruntime session are made on the first :meth:`embed`.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        quantize: bool = True,
        per_channel: bool = True,
        export_dir: str | os.PathLike[str] | None = None,
        max_seq_length: int | None = None,
        batch_size: int | None = None,
        batch_tokens: int | None = 512,
        sort_by_length: bool = True,
        threads: int | None = None,
        parallel_batches: bool = True,
        spinning: bool = False,
        graph_optimization: str = "all",
        memory_arena: bool = True,
        tokenize_ahead: bool = False,
        lock_timeout: float = 600.0,
    ) -> None:
        if batch_size is None:
            batch_size = 1 if quantize else 64
        if batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size}")
        if batch_tokens is not None and batch_tokens < 1:
            raise InvalidArgumentError(f"batch_tokens must be at least 1 or None, got {batch_tokens}")
        if threads is not None and threads < 1:
            raise InvalidArgumentError(f"threads must be at least 1 or None, got {threads}")
        if graph_optimization not in _GRAPH_LEVELS:
            raise InvalidArgumentError(
                f"graph_optimization must be one of {', '.join(_GRAPH_LEVELS)}, got {graph_optimization!r}"
            )
        if max_seq_length is not None and max_seq_length < 2:
            raise InvalidArgumentError(f"max_seq_length must be at least 2, got {max_seq_length}")
        spec = str(model)
        self.name = DEFAULT_MODEL if spec in _BUNDLED_ALIASES else spec
        self.quantize = quantize
        #: The int8 settings (``None`` for float32); part of the fingerprint and export key.
        self.quantization: dict[str, Any] | None = (
            {**_INT8_SETTINGS, "per_channel": per_channel} if quantize else None
        )
        self.backend = "onnx-int8" if quantize else "onnx"
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.sort_by_length = sort_by_length
        self.threads = threads or _usable_cpus()
        self.parallel_batches = parallel_batches
        self.spinning = spinning
        self.graph_optimization = graph_optimization
        self.memory_arena = memory_arena
        self.tokenize_ahead = tokenize_ahead
        self.lock_timeout = lock_timeout
        self._path = _resolve_model(spec)
        self._config = _read_model_config(self._path, max_seq_length)
        transformer = Path(self._config.transformer_dir)
        tok_file = transformer / "tokenizer.json"
        if not tok_file.exists():
            raise ModelError(
                f"{tok_file} is missing: the ONNX backends need the model's fast tokenizer file; "
                "use backend='torch' for this model"
            )
        from tokenizers import Tokenizer, normalizers

        counter = Tokenizer.from_file(str(tok_file))
        encoder = Tokenizer.from_file(str(tok_file))
        if self._config.do_lower_case:
            for tok in (counter, encoder):
                steps = [normalizers.Lowercase()] + ([tok.normalizer] if tok.normalizer else [])
                tok.normalizer = normalizers.Sequence(steps)
        self._tokenizer = HFTokenizer(counter)
        encoder.no_padding()
        encoder.enable_truncation(max_length=self._config.max_seq_length)
        self._encoder = encoder
        if export_dir is None:
            from semclust.embeddings.cache import default_cache_dir

            self._export_root = default_cache_dir() / "onnx"
        else:
            self._export_root = Path(export_dir).expanduser()
        self._source_digest = self._transformer_digest(transformer)
        self._fingerprint = self._make_fingerprint(max_seq_length)
        self._session: Any = None
        self._input_names: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OnnxEmbedder({self.name!r}, backend={self.backend!r})"

    # -- identity ---------------------------------------------------------------------------

    @staticmethod
    def _transformer_digest(transformer: Path) -> str:
        """Digest of what the ONNX graph depends on: the transformer's config and weights."""
        h = hashlib.sha256(b"semclust-onnx-source|")
        h.update((transformer / "config.json").read_bytes())
        weights = sorted(transformer.glob("*.safetensors")) + sorted(transformer.glob("pytorch_model*.bin"))
        if not weights:
            raise ModelError(f"{transformer} holds no weights (*.safetensors or pytorch_model.bin)")
        for w in weights:
            _file_digest(w, h)
        return h.hexdigest()[:32]

    def _make_fingerprint(self, max_seq_override: int | None) -> str:
        h = hashlib.sha256(f"{self.backend}|normalize=1|".encode())
        if self.quantization is not None:
            scales = "per text" if self.batch_size == 1 else "per batch"
            h.update(json.dumps({**self.quantization, "activation_scales": scales}, sort_keys=True).encode())
        _model_files_digest(self._path, h)
        transformer = Path(self._config.transformer_dir)
        if transformer != self._path:
            _model_files_digest(transformer, h)
        settings = {k: v for k, v in asdict(self._config).items() if k != "transformer_dir"}
        h.update(json.dumps(settings, sort_keys=True).encode())
        h.update(f"|max_seq={max_seq_override}".encode())
        return h.hexdigest()[:32]

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        return self._config.token_dimension * len(self._config.pooling_modes)

    @property
    def tokenizer(self) -> HFTokenizer:
        """The model's own tokenizer (the one chunking counts with)."""
        return self._tokenizer

    @property
    def max_tokens(self) -> int:
        """Tokens of text per input, special tokens excluded."""
        return self._config.max_seq_length - self._tokenizer.num_special_tokens

    @property
    def fingerprint(self) -> str:
        """Digest of the model files, backend, quantisation, pooling and truncation."""
        return self._fingerprint

    @property
    def pooling_modes(self) -> tuple[str, ...]:
        """The pooling modes read from the model's ``Pooling`` configuration."""
        return self._config.pooling_modes

    # -- export -----------------------------------------------------------------------------

    @property
    def export_folder(self) -> Path:
        """Where this model's export (for this quantisation setting) is cached."""
        settings = {
            "format_version": EXPORT_FORMAT_VERSION,
            "opset": _OPSET,
            "quantization": self.quantization,
        }
        key = hashlib.sha256(
            (self._source_digest + json.dumps(settings, sort_keys=True)).encode()
        ).hexdigest()[:16]
        # named by content only: copies of a model (other pooling, say) share the export
        return self._export_root / f"{'int8' if self.quantize else 'fp32'}-{key}"

    def export(self) -> Path:
        """Export the model to ONNX unless it is cached; return the ``model.onnx`` file.

        Safe when several processes export the same model at once: one exports (into a
        temporary folder, renamed into place when complete), the others wait and reuse it.
        """
        folder = self.export_folder
        if _valid_export(folder) is not None:
            return folder / "model.onnx"
        from filelock import FileLock, Timeout

        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(folder) + ".lock", timeout=self.lock_timeout):
                if _valid_export(folder) is None:
                    self._export_into(folder)
        except Timeout:
            raise ModelError(
                f"another process has been exporting {self.name!r} to {folder} for over "
                f"{self.lock_timeout:.0f} s; wait for it, or delete {folder}.lock if it died"
            ) from None
        return folder / "model.onnx"

    def _export_into(self, folder: Path) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            tmp.chmod(0o755)  # like a folder made with mkdir, not mkdtemp's 0700
            with _quiet_export():
                fp32 = tmp / ("model.onnx" if not self.quantize else "fp32.onnx")
                inputs = _export_fp32(Path(self._config.transformer_dir), fp32)
                if self.quantize:
                    _quantize(fp32, tmp / "model.onnx", self.quantization or {})
                    fp32.unlink()
            model_file = tmp / "model.onnx"
            manifest = {
                "format_version": EXPORT_FORMAT_VERSION,
                "backend": self.backend,
                "model": self.name,
                "source_digest": self._source_digest,
                "opset": _OPSET,
                "inputs": inputs,
                "output": "token_embeddings",
                "quantization": self.quantization,
                "model_bytes": model_file.stat().st_size,
                "model_sha256": hashlib.sha256(model_file.read_bytes()).hexdigest(),
                "versions": _library_versions(),
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            for f in tmp.iterdir():
                fsync_file(f)
            if folder.exists():  # an incomplete or outdated export: replace it
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- running ----------------------------------------------------------------------------

    def _load(self) -> Any:
        if self._session is not None:
            return self._session
        with self._lock:
            if self._session is not None:
                return self._session
            path = self.export()
            try:
                import onnxruntime as ort  # type: ignore[import-untyped]
            except ImportError as err:
                raise MissingDependencyError(
                    "the ONNX backends need onnxruntime: `pip install onnxruntime`"
                ) from err
            opts = ort.SessionOptions()
            opts.graph_optimization_level = {
                "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            }[self.graph_optimization]
            opts.intra_op_num_threads = 1 if self.parallel_batches else self.threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.enable_cpu_mem_arena = self.memory_arena
            opts.log_severity_level = 3
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
            try:
                session = ort.InferenceSession(
                    str(path), sess_options=opts, providers=["CPUExecutionProvider"]
                )
            except Exception as err:
                raise ModelError(
                    f"onnxruntime could not load {path}: {err}; delete {path.parent} to export it again"
                ) from err
            self._input_names = frozenset(i.name for i in session.get_inputs())
            self._session = session
            return session

    def _run(self, session: Any, encodings: Sequence[Any], batch: np.ndarray) -> np.ndarray:
        width = max(len(encodings[k].ids) for k in batch)
        ids = np.full((len(batch), width), self._config.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, k in enumerate(batch):
            e = encodings[k].ids
            ids[row, : len(e)] = e
            mask[row, : len(e)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feed)[0]
        vecs = _pool(hidden, mask, self._config.pooling_modes)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.asarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` into unit-length float32 vectors."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if len(texts) == 0:
            return out
        session = self._load()
        texts = list(texts)
        size = _TOKENIZE_GROUP if self.tokenize_ahead else len(texts)
        starts = list(range(0, len(texts), size))
        bar: Any = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="embedding", unit="text")

        def run(start: int, encodings: Sequence[Any], batch: np.ndarray) -> None:
            out[start + batch] = self._run(session, encodings, batch)
            if bar is not None:
                bar.update(len(batch))

        workers = self.threads if self.parallel_batches else 1
        tokenizer = ThreadPoolExecutor(max_workers=1) if len(starts) > 1 else None
        runner = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            ahead: Future[list[Any]] | None = None
            for g, start in enumerate(starts):
                if ahead is not None:
                    encodings = ahead.result()
                else:
                    encodings = self._encoder.encode_batch(texts[start : start + size])
                if tokenizer is not None and g + 1 < len(starts):
                    nxt = starts[g + 1]
                    ahead = tokenizer.submit(self._encoder.encode_batch, texts[nxt : nxt + size])
                lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
                batches = _sort_batches(
                    lengths,
                    batch_size=self.batch_size,
                    batch_tokens=self.batch_tokens,
                    sort_by_length=self.sort_by_length,
                )
                if runner is None:
                    for batch in batches:
                        run(start, encodings, batch)
                else:
                    for done in [runner.submit(run, start, encodings, b) for b in batches]:
                        done.result()
        finally:
            for pool in (tokenizer, runner):
                if pool is not None:
                    pool.shutdown(wait=True)
            if bar is not None:
                bar.close()
        return out
