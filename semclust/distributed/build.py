"""``build``: index files into a store on Ray, with the same result as ``Store.add(read(...))``."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semclust._types import AddReport
from semclust.distributed._ray import ray_session, semclust_errors
from semclust.distributed.inputs import expand_inputs, make_parts
from semclust.distributed.pipeline import ModelSpec, part_row, run_pipeline
from semclust.distributed.related import ray_related_lists
from semclust.distributed.shards import ShardArticles, ShardVectors, finished_shards, shard_name
from semclust.embeddings.base import Embedder
from semclust.embeddings.cache import EmbeddingCache, open_cache
from semclust.errors import InvalidArgumentError, StoreError
from semclust.search.related import ListsFn
from semclust.store.store import Store
from semclust.store.views import SNAPSHOTS_FOLDER

__all__ = ["DEFAULT_BATCH_SIZE", "BuildReport", "build", "build_folder"]

#: Articles per shard (and per call of an embedding worker) unless ``batch_size=`` says otherwise.
DEFAULT_BATCH_SIZE = 256
_FORMAT = 1  # of the shards; part of every part key


@dataclass
class BuildReport(AddReport):
    """The store's :class:`~semclust.AddReport` of the commit, plus what the Ray stages did.

    ``embedded`` counts the texts run through the model by the workers and at the commit
    (``embedded_at_commit``: 0 unless a shard lacks a text); ``shards`` were written by this
    run, ``shards_reused`` found from an earlier, stopped run.
    """

    shards: int = 0
    shards_reused: int = 0
    workers: int = 0
    embedded_at_commit: int = 0

    def __str__(self) -> str:
        return f"{super().__str__()} (Ray: {self.workers} workers, {self.shards} shards written, " \
            f"{self.shards_reused} reused)"


def build_folder(store: str | os.PathLike[str]) -> Path:
    """The folder beside ``store`` where a build keeps its shards until it commits."""
    root = Path(store).expanduser()
    return root.parent / f"{root.name}.build"


def _cluster_shape(
    ray: Any, num_workers: int | None, num_gpus: float | None, gpu_backend: bool
) -> tuple[int, float, float]:
    """``(workers, CPUs per worker, GPUs per worker)`` for the embedding actor pool."""
    res = ray.cluster_resources()
    cpus, gpus = float(res.get("CPU", 1)), float(res.get("GPU", 0))
    per_gpu = float(num_gpus) if num_gpus is not None else (1.0 if gpus >= 1 and gpu_backend else 0.0)
    if per_gpu < 0 or (per_gpu > 0 and gpus < per_gpu):
        raise InvalidArgumentError(f"num_gpus={num_gpus} per worker, but the Ray cluster has {gpus:g} GPUs")
    if num_workers is not None and num_workers < 1:
        raise InvalidArgumentError(f"num_workers must be at least 1, got {num_workers}")
    workers = num_workers or (int(gpus // per_gpu) if per_gpu else max(1, int(cpus)))
    # Leave one (logical) CPU for the read, split and chunk tasks that run beside the actors;
    # without it they could never be scheduled while the actors hold every CPU.
    return workers, (1.0 if per_gpu else min(1.0, max(0.05, (cpus - 1) / workers))), per_gpu


def _model_spec(model: Any, manifest: Mapping[str, Any], gpus: float) -> ModelSpec:
    if isinstance(model, Embedder):
        return model  # shipped to the workers as it is (it must pickle)
    m = manifest["model"]
    options: dict[str, Any] = {}
    if str(m["backend"]).startswith("onnx"):
        options["threads"] = 1  # one core per worker; the pool gives the parallelism
    elif gpus and m["backend"] in ("torch", "sentence-transformers"):
        options["device"] = "cuda"
    return {"name": m["name"], "backend": m["backend"], "options": options}


def build(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    store: str | os.PathLike[str],
    *,
    address: str | None = None,
    num_workers: int | None = None,
    batch_size: int | None = None,
    num_gpus: float | None = None,
    model: str | os.PathLike[str] | Embedder | None = None,
    backend: str | None = None,
    fields: Mapping[str, str] | None = None,
    clean: bool = True,
    furniture: Iterable[str] | None = None,
    skip_errors: bool = False,
    cache: bool | str | os.PathLike[str] = True,
    progress: bool = False,
    **store_options: Any,
) -> BuildReport:
    """Read, chunk and embed ``inputs`` on Ray and commit them into ``store`` (created if
    missing) in one generation; the result equals ``Store.open(store).add(read(inputs))``.

    Args:
        inputs: Files, folders or glob patterns (``"archive/part-*.jsonl.gz"``), read as
            :func:`semclust.read` reads them (same ids, cleaning, errors).
        store: The store folder. Shards are kept in :func:`build_folder` beside it until the
            commit; a build that stopped resumes from them. On a cluster both must be on
            storage that every node sees (e.g. NFS).
        address: ``None`` starts a local Ray on this machine's cores; ``"auto"`` or
            ``"ray://host:10001"`` joins a running cluster. A Ray already initialised in this
            process is used as it is.
        num_workers: Embedding actors (one model each); default one per CPU, or per GPU.
        batch_size: Articles per shard and per embedding call (default 256).
        num_gpus: GPUs per embedding actor (default 1 where the cluster has GPUs). Only the
            ``torch`` backend runs on a GPU; the ONNX backends stay on CPU.
        model, backend: For a new store, as in :meth:`Store.open`; an existing store uses its own.
        fields, clean, furniture, skip_errors: As in :func:`semclust.read`.
        cache: The embedding cache the workers and the commit consult (``True``: each node's
            default cache; a path; ``False``: none).
        progress: Show progress bars (shards embedded, then the commit's stages).
        **store_options: Other :meth:`Store.open` settings for a new store (``max_tokens``,
            ``overlap``, ``index``, ...).
    """
    size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    if size < 1:
        raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size}")
    from semclust.distributed._ray import import_ray

    import_ray()  # fail with the install hint before touching the store
    started = time.perf_counter()
    sources = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    files = expand_inputs(sources)
    with Store.open(store, model=model, backend=backend, cache=False, **store_options) as st:
        root, manifest = st.path, st.manifest
    options = {"fields": dict(fields) if fields else None, "clean": clean,
               "furniture": list(furniture) if furniture is not None else None, "skip_errors": skip_errors}
    settings = {"format": _FORMAT, "fingerprint": manifest["model"]["fingerprint"],
                "chunking": manifest["chunking"], "options": options, "batch_size": size}
    parts = make_parts(files, settings, max_files=size)
    shards_dir = build_folder(root) / "shards"
    rows, reused = _pending(parts, shards_dir)
    report = BuildReport()
    with ray_session(address) as ray:
        if rows:
            report.workers, report.shards, embedded = _run(
                ray, rows, manifest, model, options, settings, shards_dir,
                num_workers=num_workers, num_gpus=num_gpus, cache=cache, progress=progress,
            )
            report.embedded = embedded
        pipeline_s = time.perf_counter() - started
        add = _commit(ray, num_workers, root, parts, shards_dir, manifest, model, cache, progress)
    for f in dataclasses.fields(AddReport):  # the commit's report, as Store.add gave it
        if f.name not in ("embedded", "seconds", "timings"):
            setattr(report, f.name, getattr(add, f.name))
    report.embedded += add.embedded
    report.embedded_at_commit = add.embedded
    report.shards_reused = reused
    report.timings = {"ray": pipeline_s, **add.timings}
    shutil.rmtree(build_folder(root), ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _pending(parts: list[Any], shards_dir: Path) -> tuple[list[dict[str, Any]], int]:
    """The pipeline rows of the parts that lack shards, and how many shards already exist."""
    found = finished_shards(shards_dir)
    rows, reused = [], 0
    for part in parts:
        done = found.get(part.key, {})
        n = next(iter(done.values()), 0)
        reused += len(done)
        if not done or len(done) < n:
            rows.append(part_row(part, set(done)))
    return rows, reused


def _run(
    ray: Any, rows: list[dict[str, Any]], manifest: Mapping[str, Any], model: Any,
    options: Mapping[str, Any], settings: Mapping[str, Any], shards_dir: Path, *,
    num_workers: int | None, num_gpus: float | None, cache: Any, progress: bool,
) -> tuple[int, int, int]:
    """Run the Ray pipeline; ``(workers, shards written, texts embedded)``."""
    from tqdm.auto import tqdm

    worker_cache: bool | str | None = (
        cache if isinstance(cache, bool) else str(cache.path) if isinstance(cache, EmbeddingCache)
        else os.fspath(cache) if cache is not None else None
    )
    gpu_backend = manifest["model"]["backend"] in ("torch", "sentence-transformers")
    workers, cpus, gpus = _cluster_shape(ray, num_workers, num_gpus, gpu_backend)
    bar = tqdm(desc="embedding (Ray)", unit="chunk", disable=not progress)

    def on_shard(t: dict[str, Any]) -> None:
        bar.update(t["chunks"] - bar.n)
        bar.set_postfix(articles=t["articles"], shards=t["shards"], embedded=t["embedded"])

    try:
        with semclust_errors():
            totals = run_pipeline(
                ray, rows, model=_model_spec(model, manifest, gpus),
                fingerprint=str(manifest["model"]["fingerprint"]), chunking=manifest["chunking"],
                options=options, batch_size=int(settings["batch_size"]), cache=worker_cache,
                shards=shards_dir, workers=workers, cpus_per_worker=cpus, gpus_per_worker=gpus,
                on_shard=on_shard,
            )
    finally:
        bar.close()
    return workers, totals["shards"], totals["embedded"]


def _commit(
    ray: Any, num_workers: int | None, root: Path, parts: list[Any], shards_dir: Path,
    manifest: Mapping[str, Any], model: Any, cache: Any, progress: bool,
) -> AddReport:
    """Commit every part's shards into the store in one generation, with the related lists
    computed by Ray actors (one per CPU, or ``num_workers``).
    """
    workers, cpus, _ = _cluster_shape(ray, num_workers, 0.0, False)
    related, pool = ray_related_lists(
        ray, root / SNAPSHOTS_FOLDER, int(manifest["model"]["dimension"]), workers, cpus
    )
    try:
        with semclust_errors():
            return _add_shards(root, parts, shards_dir, manifest, model, cache, progress, related)
    finally:
        for actor in pool:
            ray.kill(actor)


def _add_shards(
    root: Path, parts: list[Any], shards_dir: Path, manifest: Mapping[str, Any], model: Any,
    cache: Any, progress: bool, related: ListsFn,
) -> AddReport:
    """Commit every part's shards into the store in one generation, through ``Store.add``
    (the related lists computed by ``related``).
    """
    found = finished_shards(shards_dir)
    shards: list[Path] = []
    for part in parts:
        done = found.get(part.key, {})
        n = next(iter(done.values()), 0)
        if not done or sorted(done) != list(range(n)):
            raise StoreError(
                f"the build of {root} has no complete shards for {part.files[0].path}; run it again"
            )
        shards.extend(shards_dir / shard_name(part.key, s, n) for s in range(n))
    vectors = ShardVectors(
        shards, str(manifest["model"]["fingerprint"]), int(manifest["model"]["dimension"]), open_cache(cache)
    )
    with Store.open(root, model=model if isinstance(model, Embedder) else None, cache=vectors,
                    progress=progress) as st:
        articles = ShardArticles(shards)
        return st.add(articles, progress=progress, related_lists=related, chunks=articles.chunks)
