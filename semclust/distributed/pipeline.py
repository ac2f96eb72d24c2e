"""The Ray Data stages of a distributed build: read parts, chunk slices, embed and write shards.

Each stage is a plain function or class that runs in a Ray worker; :func:`run_pipeline` wires
them into one streaming Ray Data pipeline::

    parts (driver) -> read_rows (tasks: semclust.read)   -> one row per slice of a part
                   -> chunk_row (tasks: chunk_document)  -> the slice's chunks and their texts
                   -> EmbedShards (actor pool, one model per actor; consults the embedding
                      cache; writes the slice's shard into the build folder)

A bad input file is not raised inside the worker (where Ray would wrap it) but sent on as an
``error`` row that the driver raises as the same :class:`~semclust.errors.InputError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from semclust import errors
from semclust.chunking import chunk_document, chunk_spans
from semclust.distributed.inputs import InputFile, Part, read_part
from semclust.distributed.shards import doc_from_json, doc_to_json, shard_name, write_shard
from semclust.embeddings import Embedder, EmbeddingCache, embed_with_cache, get_embedder
from semclust.errors import EmbeddingMismatchError, InputError

__all__ = ["EmbedShards", "ModelSpec", "chunk_row", "read_rows", "run_pipeline"]

#: What the workers build their model from: an :class:`Embedder` (shipped as it is) or
#: ``{"name", "backend", "options"}`` for :func:`get_embedder`.
ModelSpec = Embedder | Mapping[str, Any]
_MODELS: dict[str, Embedder] = {}  # one model per worker process


def load_model(spec: ModelSpec) -> Embedder:
    """The worker's model for ``spec`` (loaded once per process)."""
    if isinstance(spec, Embedder):
        return spec
    key = json.dumps(spec, sort_keys=True)
    if key not in _MODELS:
        _MODELS[key] = get_embedder(spec["name"], backend=spec["backend"], **dict(spec.get("options") or {}))
    return _MODELS[key]


def part_row(part: Part, done: set[int]) -> dict[str, Any]:
    """The pipeline's input row for a part whose slices ``done`` have shards already."""
    return {
        "spec": json.dumps({"index": part.index, "key": part.key, "files": [asdict(f) for f in part.files]}),
        "done": json.dumps(sorted(done)),
    }


def _error_row(err: InputError, index: int) -> dict[str, Any]:
    data = {"class": type(err).__name__, "reason": err.reason, "path": err.path, "line": err.line,
            "field": err.field, "part": index}
    return {"shard": "", "payload": "", "error": json.dumps(data)}


def raise_error_row(text: str) -> None:
    """Raise the :class:`InputError` an ``error`` row describes, as the reader raised it."""
    data = json.loads(text)
    cls = getattr(errors, data["class"], InputError)
    if not (isinstance(cls, type) and issubclass(cls, InputError)):
        cls = InputError
    raise cls(data["reason"], path=data["path"], line=data["line"], field=data["field"])


def read_rows(row: dict[str, Any], *, options: Mapping[str, Any], batch_size: int) -> list[dict[str, Any]]:
    """Read one part (a task): one row per slice of ``batch_size`` articles not done yet.
    The skipped records ride on the first slice; a part with no article has one empty slice.
    """
    spec = json.loads(row["spec"])
    part = Part(spec["index"], spec["key"], tuple(InputFile(**f) for f in spec["files"]))
    done = set(json.loads(row["done"]))
    try:
        docs, skipped = read_part(part, options)
    except InputError as err:
        return [_error_row(err, part.index)]
    n = max(1, -(-len(docs) // batch_size))
    out = []
    for s in range(n):
        if s in done:
            continue
        payload = {
            "docs": [doc_to_json(d) for d in docs[s * batch_size : (s + 1) * batch_size]],
            "skipped": [asdict(x) for x in skipped] if s == 0 else [],
        }
        out.append({"shard": shard_name(part.key, s, n), "payload": json.dumps(payload), "error": ""})
    return out


def chunk_row(row: dict[str, Any], *, model: ModelSpec, chunking: Mapping[str, Any]) -> dict[str, Any]:
    """Chunk one slice (a task) with the store's chunking settings; adds its chunk texts and
    each article's chunks (:func:`~semclust.chunking.chunk_spans`), so the commit does not chunk
    them again.
    """
    if row["error"]:
        return {**row, "texts": "[]", "chunks": "[]"}
    tokenizer = load_model(model).tokenizer
    texts: list[str] = []
    spans: list[dict[str, Any]] = []
    for d in json.loads(row["payload"])["docs"]:
        doc = doc_from_json(d)
        chunks = chunk_document(
            doc,
            tokenizer,
            max_tokens=int(chunking["max_tokens"]),
            overlap=int(chunking["overlap"]),
            title_context=bool(chunking["title_context"]),
            language=str(chunking["language"]),
        )
        texts.extend(c.embed_text for c in chunks)
        spans.append({"id": doc.id, "chars": len(doc.text), **chunk_spans(chunks)})
    return {**row, "texts": json.dumps(texts), "chunks": json.dumps(spans)}


class EmbedShards:
    """The embedding stage (one instance per actor, one model each): embeds a slice's chunk
    texts through the embedding cache and writes the slice's shard.
    """

    def __init__(self, model: ModelSpec, fingerprint: str, cache: bool | str | None, shards: str) -> None:
        self.model = load_model(model)
        if self.model.fingerprint != fingerprint:
            raise EmbeddingMismatchError(
                f"the model {self.model.name!r} on this Ray node gives other vectors than the store's "
                f"(fingerprint {self.model.fingerprint} != {fingerprint}); install the same model and "
                "semclust version on every node"
            )
        self.cache: EmbeddingCache | None = (
            EmbeddingCache() if cache is True else EmbeddingCache(cache) if isinstance(cache, str) else None
        )
        self.shards = Path(shards)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Embed and write the shards of a batch of slices; one summary row per slice."""
        out: dict[str, list[Any]] = {"shard": [], "error": [], "articles": [], "chunks": [], "embedded": []}
        for name, payload, error, texts_json, chunks_json in zip(
            batch["shard"], batch["payload"], batch["error"], batch["texts"], batch["chunks"]
        ):
            n_docs = n_chunks = embedded = 0
            if not error:
                data = json.loads(str(payload))
                texts = json.loads(str(texts_json))
                vectors, embedded = embed_with_cache(self.model, texts, self.cache)
                write_shard(self.shards, str(name), data["docs"], data["skipped"], texts, vectors,
                            chunks=json.loads(str(chunks_json)))
                n_docs, n_chunks = len(data["docs"]), len(texts)
            for key, value in (("shard", str(name)), ("error", str(error)), ("articles", n_docs),
                               ("chunks", n_chunks), ("embedded", embedded)):
                out[key].append(value)
        return {k: np.array(v) for k, v in out.items()}


def run_pipeline(
    ray: Any,
    rows: list[dict[str, Any]],
    *,
    model: ModelSpec,
    fingerprint: str,
    chunking: Mapping[str, Any],
    options: Mapping[str, Any],
    batch_size: int,
    cache: bool | str | None,
    shards: Path,
    workers: int,
    cpus_per_worker: float,
    gpus_per_worker: float,
    on_shard: Callable[[dict[str, Any]], None],
) -> dict[str, int]:
    """Run the stages over ``rows`` (one per part) and call ``on_shard`` per finished shard.
    Raises the first bad input file's :class:`InputError` (after stopping the pipeline).
    """
    # Ray retries a task whose worker died (3 times) and restarts a dead actor, retrying its
    # slice (Ray Data's defaults for map tasks and actor pools).
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    ds = ds.flat_map(read_rows, fn_kwargs={"options": dict(options), "batch_size": batch_size}, num_cpus=0.1)
    ds = ds.repartition(target_num_rows_per_block=1)  # one slice a block: slices spread over workers
    ds = ds.map(chunk_row, fn_kwargs={"model": model, "chunking": dict(chunking)}, num_cpus=0.1)
    ds = ds.map_batches(
        EmbedShards,
        batch_size=1,
        batch_format="numpy",
        # up to `workers` actors: fewer when there are fewer slices (Ray warns about idle ones)
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
        fn_constructor_kwargs={"model": model, "fingerprint": fingerprint, "cache": cache,
                               "shards": str(shards)},
        num_cpus=cpus_per_worker,
        **({"num_gpus": gpus_per_worker} if gpus_per_worker else {}),
    )
    totals = {"shards": 0, "articles": 0, "chunks": 0, "embedded": 0}
    started = time.perf_counter()
    for row in ds.iter_rows():
        if row["error"]:
            raise_error_row(str(row["error"]))
        for key in ("articles", "chunks", "embedded"):
            totals[key] += int(row[key])
        totals["shards"] += 1
        on_shard({**totals, "seconds": time.perf_counter() - started})
    return totals
