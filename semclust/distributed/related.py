"""Related lists on Ray: the commit's heaviest stage at archive scale, run by a pool of actors.

A store precomputes every article's related list after a commit
(:mod:`semclust.search.related`). At a million chunks that is hours on one machine (one
batched index search per block of :data:`~semclust.search.related.RELATED_BLOCK` articles,
then exact scoring). The lists are independent per article, so :func:`ray_related_lists`
gives :meth:`semclust.Store.add` a ``related_lists=`` that sends the blocks to actors: each
actor maps the new snapshot from the store folder (which a cluster must share, as the build
folder) once per generation, computes the lists of the blocks it is given with
:func:`~semclust.search.related.related_lists`, and the driver writes them in order inside its
write transaction. The lists are those the driver would compute: the same blocks, the same
code, the same snapshot files.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from semclust.search.related import ListsFn, RelatedList, related_blocks, related_lists
from semclust.vectors.snapshot import Snapshot

__all__ = ["RelatedWorker", "ray_related_lists"]


class RelatedWorker:
    """An actor computing related lists from the snapshots under ``root``."""

    def __init__(self, root: str, dimension: int) -> None:
        self.root = Path(root)
        self.dimension = dimension
        self.snap: Snapshot | None = None

    def lists(self, generation: int, seqs: list[int], k: int) -> dict[int, RelatedList]:
        """The lists of ``seqs`` in snapshot ``generation`` (loaded once per generation)."""
        import faiss

        faiss.omp_set_num_threads(1)  # one core per actor: the pool gives the parallelism
        if self.snap is None or self.snap.generation != generation:
            self.snap = Snapshot.load(self.root, generation, self.dimension)
        return related_lists(self.snap, seqs, k)


def ray_related_lists(
    ray: Any, root: Path, dimension: int, workers: int, cpus_per_worker: float = 1.0
) -> tuple[ListsFn, list[Any]]:
    """A ``related_lists=`` for :meth:`semclust.Store.add` whose blocks run on ``workers``
    Ray actors reading the snapshots under ``root`` (the store's ``snapshots`` folder), and
    the actors (to ``ray.kill`` when the commit is done). Two blocks per actor are in flight
    at a time, so the driver holds only a few blocks' lists.
    """
    actor = ray.remote(num_cpus=cpus_per_worker)(RelatedWorker)
    pool = [actor.remote(str(root), dimension) for _ in range(max(1, workers))]

    def compute(snap: Snapshot, seqs: Sequence[int], k: int) -> Iterator[dict[int, RelatedList]]:
        pending: deque[Any] = deque()
        for i, block in enumerate(related_blocks(snap, seqs)):  # the driver's own blocks
            pending.append(pool[i % len(pool)].lists.remote(snap.generation, block, k))
            if len(pending) >= 2 * len(pool):
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())

    return compute, pool
