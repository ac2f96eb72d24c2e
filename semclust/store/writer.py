"""A store's writes: plan the upserts, duplicates and promotions, embed the new chunks, write the
new vector snapshot, then commit the rows and the generation together.

The order is what makes a write atomic: the snapshot of the new generation is written (flushed,
then renamed into place) *inside* the SQLite write transaction and before its commit, and the
commit records the rows together with the new generation number. A crash before the commit
leaves the previous generation committed (the new snapshot folder is a leftover the next writer
removes); a crash after it leaves the new one. A generation is never reused: the next one is past
every snapshot folder on disk, committed or not.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semclust._disk import now_iso
from semclust._types import AddReport, Document
from semclust.chunking import Chunk, ChunksFn, chunk_document
from semclust.embeddings import Embedder
from semclust.embeddings.cache import EmbeddingCache, embed_with_cache
from semclust.errors import InputError, InvalidArgumentError, NotFoundError, StoreError
from semclust.ingest.limits import MAX_TEXT_CHARS
from semclust.search.related import ListsFn, update_related
from semclust.store.catalog import Catalog, DocRow, NewChunk
from semclust.store.manifest import ChunkSettings
from semclust.store.views import SnapshotViews
from semclust.vectors.snapshot import Snapshot

__all__ = [
    "Plan",
    "WriteTarget",
    "apply_write",
    "check_articles",
    "check_deletable",
    "collect_batch",
    "embed_text",
    "plan_write",
]


@dataclass
class WriteTarget:
    """What a write needs from its store."""

    catalog: Catalog
    views: SnapshotViews
    chunking: ChunkSettings
    index_factory: str
    index_threshold: int | None
    related_k: int
    dimension: int
    embedder: Callable[[], Embedder]  # loaded on first use: a delete never loads the model
    cache: EmbeddingCache | None
    ivf_threshold: int | None = None
    related_lists: ListsFn | None = None  # None: computed in this process
    chunks: ChunksFn | None = None  # None: every article is chunked in this process


@dataclass
class Plan:
    """What a write changes, worked out inside one read of the committed state."""

    base: Snapshot
    generation: int
    next_chunk: int
    existing: dict[str, DocRow]
    deletes: list[str]
    rows_out: list[tuple[Document, str | None, str]] = field(default_factory=list)  # (doc, dup of, what)
    to_index: list[Document] = field(default_factory=list)
    promoted: list[DocRow] = field(default_factory=list)
    relink: dict[str, str] = field(default_factory=dict)
    removed_seqs: set[int] = field(default_factory=set)

    @property
    def changes_nothing(self) -> bool:
        """Whether committing the plan would change nothing."""
        return not self.rows_out and not self.deletes and not self.promoted


def _check_value(doc: Document, key: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(
            f"article {doc.id!r}: metadata must be JSON values, and {value!r} is not a JSON number "
            "(use null, or leave the field out)",
            field=key,
        )
    if isinstance(value, Mapping):
        for sub in value.values():
            _check_value(doc, key, sub)
    elif isinstance(value, (list, tuple)):
        for sub in value:
            _check_value(doc, key, sub)


def check_articles(docs: Mapping[str, Document]) -> None:
    """Refuse what a store cannot keep, before anything is written: metadata that is not JSON
    (objects, NaN, Infinity) and texts over :data:`semclust.ingest.limits.MAX_TEXT_CHARS` (the
    one article size limit; reading refuses them too); an
    :class:`~semclust.errors.InputError` names the article and the field.
    """
    for doc in docs.values():
        if len(doc.text) > MAX_TEXT_CHARS:
            raise InputError(
                f"article {doc.id!r} has {len(doc.text):,} characters, more than the "
                f"{MAX_TEXT_CHARS:,} a store takes; split it into parts (e.g. chapters) with ids "
                "of their own",
                field="text",
            )
        for key, value in doc.metadata.items():
            try:
                json.dumps(value, allow_nan=False)
            except ValueError:
                _check_value(doc, key, value)
                raise  # pragma: no cover - _check_value raised
            except TypeError:
                raise InputError(
                    f"article {doc.id!r}: metadata must be JSON values (str, number, bool, list, dict), "
                    f"got {type(value).__name__}",
                    field=key,
                ) from None


def collect_batch(docs: Iterable[Document]) -> tuple[dict[str, Document], list[str]]:
    """The batch by id (an id given twice keeps its last record) and the ids so replaced."""
    incoming: dict[str, Document] = {}
    replaced: dict[str, None] = {}
    for doc in docs:
        if doc.id in incoming:
            replaced[doc.id] = None
        incoming[doc.id] = doc
    return incoming, list(replaced)


def check_deletable(catalog: Catalog, ids: list[str], root: Path) -> None:
    """Raise :class:`~semclust.errors.NotFoundError` naming the ids the store does not hold."""
    if not ids:
        raise InvalidArgumentError("no ids given to delete")
    with catalog.read():
        known = catalog.get_many(ids)
    missing = [i for i in ids if i not in known]
    if missing:
        raise NotFoundError(
            f"no article with id {', '.join(map(repr, missing[:5]))} in store {root}; nothing deleted"
        )


def _plan_upserts(cat: Catalog, plan: Plan, upserts: Mapping[str, Document], gone: set[str],
                  report: AddReport) -> dict[str, str]:
    """Sort the upserts into unchanged, metadata-only, duplicates and articles to index."""
    canon_in_batch: dict[str, str] = {}
    for doc_id, doc in upserts.items():
        old = plan.existing.get(doc_id)
        if old is not None and doc_id not in gone:
            if old.doc == doc:
                report.unchanged.append(doc_id)
            else:
                plan.rows_out.append((doc, old.duplicate_of, "meta"))
                report.updated.append(doc_id)
            continue
        h = doc.text_hash
        canon = canon_in_batch.get(h) or cat.canonical_with_hash(h, exclude=gone | {doc_id})
        if canon is not None:
            plan.rows_out.append((doc, canon, "dup"))
            report.duplicates[doc_id] = canon
        else:
            canon_in_batch[h] = doc_id
            plan.rows_out.append((doc, None, "index"))
            plan.to_index.append(doc)
        (report.updated if old is not None else report.added).append(doc_id)
    return canon_in_batch


def _plan_promotions(cat: Catalog, plan: Plan, upserts: Mapping[str, Document], gone: set[str],
                     canon_in_batch: dict[str, str]) -> None:
    """Articles whose text goes away hand their role to their oldest duplicate."""
    for doc_id in sorted(gone):
        old = plan.existing.get(doc_id)
        if old is None or old.duplicate_of is not None:
            continue
        dups = [d for d in cat.duplicates_of(doc_id) if d not in gone and d not in upserts]
        if not dups:
            continue
        heir = canon_in_batch.get(old.text_hash)
        if heir is None:
            heir_row = cat.get_many([dups[0]])[dups[0]]
            plan.promoted.append(heir_row)
            plan.to_index.append(heir_row.doc)
            heir = heir_row.doc.id
            dups = dups[1:]
        for d in dups:
            plan.relink[d] = heir


def plan_write(target: WriteTarget, upserts: Mapping[str, Document], deletes: list[str],
               report: AddReport) -> Plan:
    """Work out what upserting ``upserts`` and deleting ``deletes`` changes (nothing written)."""
    cat = target.catalog
    base = target.views.latest()
    with cat.read():
        plan = Plan(base, cat.generation(), cat.next_chunk_id(), cat.get_many([*upserts, *deletes]), deletes)
        gone = set(deletes)  # ids whose current text leaves the store or changes
        for doc_id, doc in upserts.items():
            old = plan.existing.get(doc_id)
            if old is not None and (old.text_hash != doc.text_hash or old.doc.title != doc.title):
                gone.add(doc_id)
        canon_in_batch = _plan_upserts(cat, plan, upserts, gone, report)
        _plan_promotions(cat, plan, upserts, gone, canon_in_batch)
    plan.removed_seqs = {plan.existing[i].seq for i in gone if i in plan.existing}
    plan.removed_seqs |= {p.seq for p in plan.promoted}
    return plan


def embed_plan(target: WriteTarget, plan: Plan, report: AddReport, *, progress: bool,
               lap: Callable[[str], None]) -> tuple[list[Chunk], np.ndarray]:
    """Chunk and embed the articles the plan indexes (through the embedding cache); an article
    whose chunks ``target.chunks`` gives is not chunked again.
    """
    if not plan.to_index:
        return [], np.zeros((0, target.dimension), dtype=np.float32)
    from tqdm.auto import tqdm

    embedder = target.embedder()
    cfg = target.chunking
    chunks: list[Chunk] = []
    for doc in tqdm(plan.to_index, desc="chunking", unit="doc", disable=not progress):
        made = target.chunks(doc) if target.chunks is not None else None
        chunks.extend(
            made if made is not None else chunk_document(
                doc,
                embedder.tokenizer,
                max_tokens=cfg.max_tokens,
                overlap=cfg.overlap,
                title_context=cfg.title_context,
                language=cfg.language,
            )
        )
    lap("chunk")
    vectors, report.embedded = embed_with_cache(
        embedder, [c.embed_text for c in chunks], target.cache, progress=progress
    )
    lap("embed")
    return chunks, vectors


def embed_text(embedder: Embedder, cfg: ChunkSettings, cache: EmbeddingCache | None, text: str) -> np.ndarray:
    """The chunk vectors of a text that is not stored, chunked and embedded like an article."""
    chunks = chunk_document(
        Document(id="<text>", text=text.strip()),
        embedder.tokenizer,
        max_tokens=cfg.max_tokens,
        overlap=cfg.overlap,
        title_context=False,
        language=cfg.language,
    )
    vectors, _ = embed_with_cache(embedder, [c.embed_text for c in chunks], cache)
    return vectors


def _write_rows(cat: Catalog, plan: Plan, report: AddReport) -> dict[str, int]:
    """Delete, update and insert the article rows; returns the key of every indexed article."""
    now = now_iso()
    seq_of: dict[str, int] = {}
    for doc_id in plan.deletes:
        cat.delete_article(plan.existing[doc_id].seq)
        report.deleted.append(doc_id)
    for doc, dup_of, what in plan.rows_out:
        old = plan.existing.get(doc.id)
        if old is None:
            seq_of[doc.id] = cat.insert_doc(doc, dup_of, now)
            continue
        if what != "meta":
            cat.delete_chunks(old.seq)
        cat.update_doc(old.seq, doc, dup_of, now)
        seq_of[doc.id] = old.seq
    for p in plan.promoted:
        cat.make_canonical(p.seq, now)
        seq_of[p.doc.id] = p.seq
    for d, heir in plan.relink.items():
        cat.set_duplicate_of(d, heir)
    return seq_of


def next_generation(target: WriteTarget, plan: Plan) -> int:
    """The generation the write commits: past the committed one and past every snapshot folder
    on disk (a crashed writer's leftover is never taken for, or overwritten as, a new one).
    """
    return max([plan.generation, *target.views.folders()]) + 1


def write_snapshot(target: WriteTarget, plan: Plan, generation: int, vectors: np.ndarray,
                   chunk_ids: np.ndarray, seqs: np.ndarray, *, progress: bool) -> Snapshot:
    """Write the snapshot of ``generation``: the base's rows that stay, then the new ones."""
    base = plan.base
    removed = np.fromiter(plan.removed_seqs, dtype=np.int64, count=len(plan.removed_seqs))
    keep = ~np.isin(base.doc_seqs, removed)
    Snapshot.write(
        target.views.root,
        generation,
        np.concatenate([np.asarray(base.vectors)[keep], vectors]),
        np.concatenate([base.chunk_ids[keep], chunk_ids]),
        np.concatenate([base.doc_seqs[keep], seqs]),
        target.index_factory,
        base=base,
        auto_threshold=target.index_threshold,
        ivf_threshold=target.ivf_threshold,
        progress=progress,
    )
    return Snapshot.load(target.views.root, generation, target.dimension)


def commit(target: WriteTarget, plan: Plan, chunks: list[Chunk], vectors: np.ndarray, report: AddReport,
           *, progress: bool, lap: Callable[[str], None]) -> Snapshot:
    """One SQLite write transaction: the rows, the new snapshot, the related lists, and last the
    generation; committed together when the block ends.
    """
    cat = target.catalog
    with cat.write():
        if cat.generation() != plan.generation:  # pragma: no cover - the write lock prevents this
            raise StoreError("the store changed during the write; try again")
        seq_of = _write_rows(cat, plan, report)
        chunk_ids = np.arange(plan.next_chunk, plan.next_chunk + len(chunks), dtype=np.int64)
        seqs = np.array([seq_of[c.doc_id] for c in chunks], dtype=np.int64)
        cat.insert_chunks(
            NewChunk(cid, s, c.index, c.start, c.end)
            for cid, s, c in zip(chunk_ids.tolist(), seqs.tolist(), chunks)
        )
        generation = next_generation(target, plan)
        snap = write_snapshot(target, plan, generation, vectors, chunk_ids, seqs, progress=progress)
        lap("write")
        update_related(
            snap, set(seqs.tolist()), plan.removed_seqs, target.related_k, cat, target.related_lists
        )
        lap("related")
        cat.set_generation(generation, plan.next_chunk + len(chunks))
    return snap


def apply_write(target: WriteTarget, upserts: Mapping[str, Document], deletes: list[str],
                report: AddReport, *, progress: bool) -> Snapshot | None:
    """Plan, embed, write a new snapshot, then commit rows and generation together; returns the
    new snapshot (``None`` when nothing changed). Call while holding the write lock.
    """
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.timings[stage] = report.timings.get(stage, 0.0) + now - clock
        clock = now

    plan = plan_write(target, upserts, deletes, report)
    lap("plan")
    chunks, vectors = embed_plan(target, plan, report, progress=progress, lap=lap)
    report.chunks = len(chunks)
    if plan.changes_nothing:
        return None
    snap = commit(target, plan, chunks, vectors, report, progress=progress, lap=lap)
    # Committed. Old snapshots are no longer needed (open readers keep their mapped files).
    Snapshot.remove_others(target.views.root, snap.generation)
    target.views.offer(snap)  # readers of this Store need not open it again
    lap("commit")
    return snap
