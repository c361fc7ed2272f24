"""The lab's runs on a Ray cluster: the stand-in for the local worker pool when one machine is not enough.

With ``RESNET_LAB_RAY_ADDRESS`` set (``auto``, ``ray://head:10001``, or ``local`` for a
cluster of this machine's cores started in-process) ``resnet.lab.pools.pool_for`` hands
the page a ``RayPool`` instead of a ``resnet.lab.pools.JobPool``. Nothing the user sees changes:

- the app keeps the run store; submitting queues a run there, deduplicated as before;
- a dispatcher thread in the app claims queued runs and starts each as a Ray task (one CPU,
  or ``RESNET_LAB_RAY_GPUS`` GPUs) running ``resnet.lab.train.train``, the same loop;
- the task streams its metrics to a small Ray actor (``_Channel``), and the dispatcher
  copies them into the store every ``POLL_S``, heartbeats the run's lease and passes
  cancel requests back (the task asks at every flush);
- the task returns its result and its final weights' files, which the app writes where
  a local worker would have (``resnet.paths.trained_weights_path``), for the Feature maps page;
- a Ray worker or node that dies mid-run: the run is "interrupted", its curve kept; the
  app dying: Ray ends the driver's tasks and the store's lease marks its runs interrupted.

A cluster that cannot be reached raises ``ClusterUnavailable`` (a ``StoreError``, which
the page shows as it shows a store problem), or, with ``RESNET_LAB_RAY_FALLBACK=local``,
falls back to local workers. Ray is an optional extra (requirements-ray.txt), imported
only when the setting is on.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from functools import lru_cache
from typing import Any, NamedTuple

from ..paths import REPO_ROOT, trained_weights_path
from .config import StepMetrics, TrainConfig, TrainResult
from .procs import limit_threads
from .queued import QueuedPool, Submitted
from .store import RunStore, StoreError
from .worker import FLUSH_S

ENV_RAY_ADDRESS = "RESNET_LAB_RAY_ADDRESS"
ENV_RAY_FALLBACK = "RESNET_LAB_RAY_FALLBACK"  # "local": use local workers when the cluster is unreachable
ENV_RAY_GPUS = "RESNET_LAB_RAY_GPUS"  # GPUs per run (default 0: one CPU each)
POLL_S = 0.5  # the dispatcher copies metrics, heartbeats and checks for cancel this often
# A failed connection takes Ray's client ~30 s (measured with ray://127.0.0.1:1): page runs
# in that window get the same answer at once instead of waiting again.
RETRY_AFTER_S = 60.0
NAMESPACE = "resnet-lab"
_log = logging.getLogger(__name__)


class ClusterUnavailable(StoreError):
    """The Ray cluster named by ``RESNET_LAB_RAY_ADDRESS`` cannot be reached."""


def ray_address() -> str | None:
    """The configured cluster address, or None for the embedded default (local workers)."""
    return os.environ.get(ENV_RAY_ADDRESS) or None


class RayPool(QueuedPool):
    """Runs of one store trained as Ray tasks; the same methods as ``resnet.lab.pools.JobPool``."""

    def __init__(self, store: RunStore | str | Path | None = None, *, address: str, threads: int = 1) -> None:
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.address = address
        self.threads = threads
        self.workers = 0  # the cluster's CPUs, known once connected
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._channel: Any = None
        self._tasks: dict[Any, int] = {}  # ObjectRef → run id
        self._run_labels: dict[int, str] = {}
        self._unreachable: tuple[float, str] | None = None  # (until when, why)

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> RayPool:
        """Connect (idempotent), mark runs orphaned by a dead app interrupted, start dispatching."""
        with self._lock:
            if self._dispatcher is not None and self._dispatcher.is_alive():
                return self
            ray = _ray()
            if self._unreachable is not None and time.monotonic() < self._unreachable[0]:
                raise ClusterUnavailable(self._unreachable[1])
            try:
                if not ray.is_initialized():
                    if self.address == "local":
                        init_local()
                    else:
                        ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False,
                                 runtime_env=_runtime_env(ship_code=True))
            except Exception as exc:  # ConnectionError, a bad address, a version mismatch…
                why = f"the Ray cluster at {self.address} cannot be reached ({type(exc).__name__})"
                self._unreachable = (time.monotonic() + RETRY_AFTER_S, why)
                raise ClusterUnavailable(why) from exc
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
            self._channel = _remote().channel.options(num_cpus=0).remote()
            self.store.interrupt_orphans()
            self._stop.clear()
            self._dispatcher = threading.Thread(target=self._dispatch, name="resnet-ray-dispatcher", daemon=True)
            self._dispatcher.start()
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop dispatching; runs in flight are cancelled on the cluster and marked interrupted."""
        self._stop.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout)
        for ref, run_id in list(self._tasks.items()):
            if _ray().is_initialized():  # at exit Ray's own handler may have disconnected first: its tasks end with it
                _ray().cancel(ref, force=True)
            self.store.fail_run(run_id, "the app stopped while it trained", status="interrupted")
        self._tasks.clear()
        self._dispatcher = None

    @property
    def worker_pids(self) -> list[int]:
        """The Ray worker processes training this pool's runs now (on this machine's cluster: real PIDs)."""
        if self._channel is None:
            return []
        return sorted(_ray().get(self._channel.pids.remote()).values())

    # -- runs (as a JobPool) ---------------------------------------------------------

    def submit(self, config: TrainConfig, owner: str | None = None) -> Submitted:
        """Queue ``config`` for ``owner`` in the store (deduplicated); the dispatcher starts it on the cluster."""
        self.start()
        return Submitted(*self.store.enqueue(config, owner))

    # -- the dispatcher (a thread of the app) -----------------------------------------

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            try:
                self._dispatch_once()
            except StoreError as exc:  # a full disk for a moment: the page reports it; try again
                _log.warning("run store error in the Ray dispatcher: %s", exc)
            except Exception as exc:  # the cluster went away: runs in flight are lost, curves kept
                _log.warning("Ray cluster error: %s", exc)
                for run_id in self._tasks.values():
                    self.store.fail_run(run_id, f"the Ray cluster failed ({type(exc).__name__})", status="interrupted")
                self._tasks.clear()
            self._stop.wait(POLL_S)

    def _dispatch_once(self) -> None:
        ray = _ray()
        # Start queued runs while the cluster has a CPU free for them.
        while len(self._tasks) < self.workers:
            claimed = self.store.claim_next(os.getpid())
            if claimed is None:
                break
            run_id, config = claimed
            gpus = float(os.environ.get(ENV_RAY_GPUS) or 0)
            ref = _remote().train_task.options(num_cpus=1, num_gpus=gpus, max_retries=0).remote(
                config, run_id, self._channel, self.threads)
            self._tasks[ref] = run_id
            self._run_labels[run_id] = TrainConfig.from_dict(config).label
        # Stream: metrics into the store, leases renewed, cancel requests out.
        for run_id, rows in ray.get(self._channel.drain.remote()).items():
            self.store.add_metrics(run_id, [StepMetrics(*row) for row in rows])
        running = list(self._tasks.values())
        for run_id in running:
            self.store.heartbeat(run_id)
        ray.get(self._channel.set_cancel.remote([r for r in running if self.store.cancel_requested(r)]))
        # Collect the runs that ended.
        done, _ = ray.wait(list(self._tasks), num_returns=len(self._tasks), timeout=0) if self._tasks else ([], [])
        for ref in done:
            self._collect(ref, self._tasks.pop(ref))

    def _collect(self, ref: Any, run_id: int) -> None:
        """Record a finished task's result (and its weights' files), or how it failed."""
        ray = _ray()
        for run, rows in ray.get(self._channel.drain.remote()).items():  # the last steps before it ended
            self.store.add_metrics(run, [StepMetrics(*row) for row in rows])
        try:
            outcome = ray.get(ref)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.TaskCancelledError,
                ray.exceptions.ActorDiedError, ray.exceptions.LocalRayletDiedError) as exc:
            self.store.fail_run(run_id, f"its Ray worker died ({type(exc).__name__})", status="interrupted")
            return
        except ray.exceptions.RayTaskError as exc:  # the training raised: the run failed, like a local worker's
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            self.store.fail_run(run_id, f"{type(cause).__name__}: {cause}")
            return
        result = TrainResult(**{**outcome["result"], "skipped_files": tuple(outcome["result"]["skipped_files"])})
        if outcome["files"]:
            target = trained_weights_path(self.store.address, run_id, self._run_labels.get(run_id, "run"))
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                for suffix, data in outcome["files"].items():
                    target.with_suffix(suffix).write_bytes(data)
                result = TrainResult(**{**result.to_dict(), "skipped_files": result.skipped_files, "weights": str(target)})
            except OSError as exc:  # a full disk must not cost the run its curve and result
                _log.warning("could not save run %d's weights: %s", run_id, exc)
                result = TrainResult(**{**result.to_dict(), "skipped_files": result.skipped_files, "weights": None})
        self.store.finish_run(run_id, result)


def init_local(num_cpus: int | None = None) -> None:
    """Start a Ray cluster of this machine's cores (or ``num_cpus``) inside this process."""
    _ray().init(num_cpus=num_cpus, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False,
                runtime_env=_runtime_env(ship_code=False))


def _runtime_env(ship_code: bool) -> dict[str, Any]:
    """Ray's runtime environment for the tasks: the ``resnet`` package on every worker.

    On a remote cluster the package is uploaded (it is code only: assets stay in the app);
    in a cluster started by this process the workers import it from the repo.
    """
    if ship_code:
        return {"py_modules": [str(REPO_ROOT / "resnet")]}
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}}


# ---------------------------------------------------------------------------------
# On the cluster
# ---------------------------------------------------------------------------------


def _ray():
    """Ray, imported only when the lab is pointed at a cluster (it is an optional extra)."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterUnavailable(f"{ENV_RAY_ADDRESS} is set but Ray is not installed (pip install -r requirements-ray.txt)") from exc
    return ray


class _Channel:
    """A Ray actor: metrics from the tasks to the app, cancel requests from the app to the tasks."""

    def __init__(self) -> None:
        self.metrics: dict[int, list[tuple]] = {}
        self.cancelled: set[int] = set()
        self.worker_pids: dict[int, int] = {}

    def report(self, run_id: int, rows: list[tuple], pid: int) -> bool:
        """A task's new steps; the answer: has the run been cancelled?"""
        self.metrics.setdefault(run_id, []).extend(rows)
        self.worker_pids[run_id] = pid
        return run_id in self.cancelled

    def drain(self) -> dict[int, list[tuple]]:
        out, self.metrics = self.metrics, {}
        return out

    def set_cancel(self, run_ids: list[int]) -> None:
        self.cancelled = set(run_ids)

    def pids(self) -> dict[int, int]:
        return dict(self.worker_pids)


def _train_task(config: dict[str, Any], run_id: int, channel: Any, threads: int) -> dict[str, Any]:
    """A Ray task: train one run on a worker; metrics go to ``channel``; returns result + weights' files."""
    limit_threads(threads)
    # Deferred on purpose: Paddle loads on the Ray worker, never in the app through this module.
    from .train import train

    reporter = _TaskReporter(_ray(), channel, run_id)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.safetensors"
        result = train(TrainConfig.from_dict(config), on_step=reporter.on_step, should_stop=reporter.should_stop,
                       save_weights=path)
        reporter.flush()
        files = {p.suffix: p.read_bytes() for p in Path(tmp).iterdir()} if result.weights else {}
    return {"result": {**result.to_dict(), "skipped_files": list(result.skipped_files)}, "files": files}


class _TaskReporter:
    """Inside a task: batches metrics to the channel every flush; the answer says "cancelled?"."""

    def __init__(self, ray: Any, channel: Any, run_id: int) -> None:
        self.ray, self.channel, self.run_id = ray, channel, run_id
        self.pending: list[tuple] = []
        self.last_flush = 0.0
        self.cancelled = False

    def on_step(self, m: StepMetrics) -> None:
        self.pending.append((m.step, m.wall_s, m.train_loss, m.test_loss, m.test_acc))
        if m.step == 1 or m.test_loss is not None or time.monotonic() - self.last_flush >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self.cancelled = self.ray.get(self.channel.report.remote(self.run_id, self.pending, os.getpid()))
        self.pending = []
        self.last_flush = time.monotonic()

    def should_stop(self) -> bool:
        return self.cancelled


class _Remote(NamedTuple):
    channel: Any  # ray.remote(_Channel)
    train_task: Any  # ray.remote(_train_task)


@lru_cache(maxsize=1)
def _remote() -> _Remote:
    """The actor class and the task, made remote on first use (Ray is imported only then)."""
    ray = _ray()
    return _Remote(ray.remote(_Channel), ray.remote(_train_task))
