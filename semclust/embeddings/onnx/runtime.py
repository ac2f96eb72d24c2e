"""The ONNX Runtime embedder: tokenise, batch, run the exported graph, pool, normalise.

Using a cached export imports neither torch nor transformers (only onnxruntime, ``tokenizers``
and numpy), which is what makes the first vector fast. Tokenisation uses the model's own
``tokenizer.json``; pooling and truncation follow the model's sentence-transformers
configuration (:mod:`semclust.embeddings.onnx.config`). Vectors are float32 and unit-length,
like every semclust backend's.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from semclust.embeddings.base import DEFAULT_MODEL, HFTokenizer
from semclust.embeddings.cache_dir import default_cache_dir
from semclust.embeddings.model_files import canonical_name, file_digest, model_files_digest
from semclust.embeddings.onnx.config import ModelConfig, pool_tokens, read_model_config, resolve_model
from semclust.embeddings.onnx.export import INT8_SETTINGS, ensure_export, export_folder
from semclust.errors import InvalidArgumentError, MissingDependencyError, ModelError

__all__ = ["EXPORT_SUBDIR", "GRAPH_LEVELS", "OnnxEmbedder", "sort_batches", "usable_cpus"]

#: Folder of the exports under the cache folder.
EXPORT_SUBDIR = "onnx"
#: onnxruntime graph optimisation levels, by the names ``graph_optimization`` takes.
GRAPH_LEVELS = ("disable", "basic", "extended", "all")
# Texts tokenised at a time when ``tokenize_ahead`` overlaps tokenising with the model.
_TOKENIZE_GROUP = 256
# Norms below this are treated as this when normalising (an all-zero vector stays zero).
_MIN_NORM = 1e-12


def _check_options(
    batch_size: int,
    batch_tokens: int | None,
    threads: int | None,
    graph_optimization: str,
    max_seq: int | None,
) -> None:
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size}")
    if batch_tokens is not None and batch_tokens < 1:
        raise InvalidArgumentError(f"batch_tokens must be at least 1 or None, got {batch_tokens}")
    if threads is not None and threads < 1:
        raise InvalidArgumentError(f"threads must be at least 1 or None, got {threads}")
    if graph_optimization not in GRAPH_LEVELS:
        raise InvalidArgumentError(
            f"graph_optimization must be one of {', '.join(GRAPH_LEVELS)}, got {graph_optimization!r}"
        )
    if max_seq is not None and max_seq < 2:
        raise InvalidArgumentError(f"max_seq_length must be at least 2, got {max_seq}")


def _tokenizers(transformer: Path, config: ModelConfig) -> tuple[HFTokenizer, Any]:
    """The token counter chunking uses and the encoder fed to the model (truncating)."""
    tok_file = transformer / "tokenizer.json"
    if not tok_file.exists():
        raise ModelError(
            f"{tok_file} is missing: the ONNX backends need the model's fast tokenizer file; "
            "use backend='torch' for this model"
        )
    from tokenizers import Tokenizer, normalizers

    counter = Tokenizer.from_file(str(tok_file))
    encoder = Tokenizer.from_file(str(tok_file))
    if config.do_lower_case:
        for tok in (counter, encoder):
            steps = [normalizers.Lowercase()] + ([tok.normalizer] if tok.normalizer else [])
            tok.normalizer = normalizers.Sequence(steps)
    encoder.no_padding()
    encoder.enable_truncation(max_length=config.max_seq_length)
    return HFTokenizer(counter), encoder


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def sort_batches(
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
        _check_options(batch_size, batch_tokens, threads, graph_optimization, max_seq_length)
        spec = str(model)
        self.name = canonical_name(spec)
        self.quantize = quantize
        #: The int8 settings (``None`` for float32); part of the fingerprint and export key.
        self.quantization: dict[str, Any] | None = (
            {**INT8_SETTINGS, "per_channel": per_channel} if quantize else None
        )
        self.backend = "onnx-int8" if quantize else "onnx"
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.sort_by_length = sort_by_length
        self.threads = threads or usable_cpus()
        self.parallel_batches = parallel_batches
        self.spinning = spinning
        self.graph_optimization = graph_optimization
        self.memory_arena = memory_arena
        self.tokenize_ahead = tokenize_ahead
        self.lock_timeout = lock_timeout
        self._path = resolve_model(spec)
        self._config = read_model_config(self._path, max_seq_length)
        transformer = Path(self._config.transformer_dir)
        self._tokenizer, self._encoder = _tokenizers(transformer, self._config)
        root = default_cache_dir() / EXPORT_SUBDIR if export_dir is None else Path(export_dir).expanduser()
        self._export_root = root
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
            file_digest(w, h)
        return h.hexdigest()[:32]

    def _make_fingerprint(self, max_seq_override: int | None) -> str:
        h = hashlib.sha256(f"{self.backend}|normalize=1|".encode())
        if self.quantization is not None:
            scales = "per text" if self.batch_size == 1 else "per batch"
            h.update(json.dumps({**self.quantization, "activation_scales": scales}, sort_keys=True).encode())
        model_files_digest(self._path, h)
        transformer = Path(self._config.transformer_dir)
        if transformer != self._path:
            model_files_digest(transformer, h)
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
        return export_folder(self._export_root, self._source_digest, self.quantization)

    def export(self) -> Path:
        """Export the model to ONNX unless it is cached; return the ``model.onnx`` file.

        Safe when several processes export the same model at once: one exports (into a
        temporary folder, renamed into place when complete), the others wait and reuse it.
        """
        about = {"backend": self.backend, "model": self.name, "source_digest": self._source_digest}
        return ensure_export(
            self.export_folder,
            Path(self._config.transformer_dir),
            self.quantization,
            about,
            lock_timeout=self.lock_timeout,
        )

    # -- running ----------------------------------------------------------------------------

    def _load(self) -> Any:
        if self._session is not None:
            return self._session
        with self._lock:
            if self._session is not None:
                return self._session
            path = self.export()
            try:
                import onnxruntime as ort
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
        vecs = pool_tokens(hidden, mask, self._config.pooling_modes)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.asarray(vecs / np.maximum(norms, _MIN_NORM), dtype=np.float32)

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
                batches = sort_batches(
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
