"""What every pool of training workers is: a store, ``submit``, and what it does through the store alone.

``resnet.lab.pools.JobPool`` (local worker processes) and ``resnet.lab.cluster.RayPool``
(Ray tasks) both derive from ``QueuedPool``; ``relative_cost`` orders a comparison's runs
in the queue.
"""

from __future__ import annotations

import time
from typing import Iterable, NamedTuple

from .config import TrainConfig
from .store import ACTIVE, RunInfo, RunStore


class Submitted(NamedTuple):
    """A submitted configuration's run, and whether this submission created it (else it was there)."""

    run_id: int
    created: bool


class QueuedPool:
    """What every pool does through its store alone: submit several, cancel, queue position, wait.

    A pool (``resnet.lab.pools.JobPool``, ``resnet.lab.cluster.RayPool``) has a ``store``
    and its own ``submit``, which queues one configuration and sees that it gets trained.
    """

    store: RunStore

    def start(self) -> QueuedPool:
        """Start training what is queued (idempotent); the pool."""
        raise NotImplementedError

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop; runs still training end "interrupted", their curves kept."""
        raise NotImplementedError

    def submit(self, config: TrainConfig, owner: str | None = None) -> Submitted:
        """Queue ``config`` for ``owner`` (a browser session's hash, None: nobody's); its run."""
        raise NotImplementedError

    def submit_many(self, configs: Iterable[TrainConfig], owner: str | None = None) -> list[Submitted]:
        """Queue several configs for ``owner``; their runs in the given order.

        The costliest are queued first so the workers finish a comparison together
        (with FIFO order, two small runs first leave one worker alone on a big one).
        """
        configs = list(configs)
        order = sorted(range(len(configs)), key=lambda i: -relative_cost(configs[i]))
        submitted = {i: self.submit(configs[i], owner) for i in order}
        return [submitted[i] for i in range(len(configs))]

    def cancel(self, run_id: int) -> str:
        """Cancel a queued or running run; the resulting status."""
        return self.store.request_cancel(run_id)

    def queue_position(self, run_id: int) -> int | None:
        return self.store.queue_position(run_id)

    def wait(self, run_ids: Iterable[int], timeout: float) -> list[RunInfo]:
        """Poll until none of ``run_ids`` is queued or running; ``TimeoutError`` after ``timeout`` s."""
        run_ids = list(run_ids)
        deadline = time.monotonic() + timeout
        while True:
            runs = [self.store.get_run(r) for r in run_ids]
            if all(r.status not in ACTIVE for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"runs still active after {timeout:g} s: {[r.id for r in runs if r.status in ACTIVE]}")
            time.sleep(0.1)



def relative_cost(config: TrainConfig) -> float:
    """Rough training cost for ordering: conv work grows with depth, width² and pixels."""
    return config.steps * config.batch_size * config.depth * config.width**2 * config.image_size**2

