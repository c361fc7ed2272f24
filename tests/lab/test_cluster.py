"""The lab on a real local Ray cluster (``ray.init(num_cpus=2)``): runs, curves, cancel, a killed worker.

Marked ``ray``: needs the optional extra (requirements-ray.txt), which the test set-up installs.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from resnet.lab import cluster, pools
from resnet.lab.config import TrainConfig
from resnet.lab.store import RunInfo, RunStore

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

TINY = TrainConfig(depth=20, width=4, batch_size=16, steps=4, eval_every=2)
LONG = TrainConfig(depth=20, width=4, batch_size=16, steps=5000, eval_every=5000)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    cluster.init_local(2)
    pool = cluster.RayPool(tmp_path_factory.mktemp("ray") / "runs.sqlite", address="auto").start()
    yield pool
    pool.shutdown()
    ray.shutdown()


def _task_pid(pool: cluster.RayPool, run_id: int) -> int:
    """The PID of the Ray worker process training a run (on this machine's cluster)."""
    return ray.get(pool._channel.pids.remote())[run_id]


def _until(pool: cluster.RayPool, run_id: int, done, timeout: float = 300) -> RunInfo:
    """Poll the store (as the page does) until ``done(run)``."""
    deadline = time.monotonic() + timeout
    while not done(run := pool.store.get_run(run_id)):
        assert time.monotonic() < deadline, f"run {run_id} still {run.status} at step {run.steps_done}"
        time.sleep(0.1)
    return run


def test_two_runs_train_on_the_cluster_and_their_curves_land_in_the_store(pool):
    assert pool.workers == 2
    runs = pool.submit_many([TINY, TrainConfig(**{**TINY.__dict__, "shortcut": "none"})])
    assert all(s.created for s in runs)
    finished = pool.wait([s.run_id for s in runs], timeout=300)
    for run in finished:
        assert run.status == "done", run.error
        curve = pool.store.metrics(run.id)
        assert curve["step"] == [1, 2, 3, 4]  # every step streamed back
        assert curve["test_loss"][1] is not None and curve["test_loss"][3] is not None  # evaluations at 2 and 4
        weights = run.result["weights"]
        assert weights and os.path.isfile(weights) and os.path.isfile(weights[: -len(".safetensors")] + ".json")
    # the same configuration again is the same run (dedup in the app's store, as with local workers)
    again = pool.submit(TINY)
    assert again.run_id == runs[0].run_id and not again.created


def test_cancel_stops_a_run_on_the_cluster(pool):
    run_id = pool.submit(LONG).run_id
    _until(pool, run_id, lambda r: r.steps_done >= 2)
    assert pool.cancel(run_id) == "running"
    run = _until(pool, run_id, lambda r: r.status not in ("queued", "running"))
    assert run.status == "cancelled" and 2 <= run.steps_done < LONG.steps


def test_a_killed_ray_worker_leaves_an_interrupted_run_with_its_curve(pool):
    config = TrainConfig(**{**LONG.__dict__, "seed": 7})
    run_id = pool.submit(config).run_id
    _until(pool, run_id, lambda r: r.steps_done >= 2)
    pid = _task_pid(pool, run_id)
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    run = _until(pool, run_id, lambda r: r.status not in ("queued", "running"))
    assert run.status == "interrupted" and "Ray worker died" in run.error
    assert run.steps_done >= 2 and len(pool.store.metrics(run_id)["step"]) == run.steps_done


def test_an_unreachable_cluster_is_a_clear_error_or_falls_back_to_local_workers(tmp_path, monkeypatch):
    """Ray's client answers an unreachable head with ConnectionError after ~30 s: stood in for here."""
    calls = []

    def unreachable(*args, **kwargs):
        calls.append(kwargs.get("address"))
        raise ConnectionError("ray client connection timeout")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # this process is connected to the test cluster
    monkeypatch.setattr(ray, "init", unreachable)
    monkeypatch.setenv(cluster.ENV_RAY_ADDRESS, "ray://127.0.0.1:1")
    with pytest.raises(cluster.ClusterUnavailable, match=r"ray://127\.0\.0\.1:1 cannot be reached \(ConnectionError\)"):
        pools.pool_for(tmp_path / "runs.sqlite")
    with pytest.raises(cluster.ClusterUnavailable):  # the next page run is told at once, not after 30 s more
        pools.pool_for(tmp_path / "runs.sqlite")
    assert calls == ["ray://127.0.0.1:1"]

    monkeypatch.setenv(cluster.ENV_RAY_FALLBACK, "local")
    fallback = pools.pool_for(tmp_path / "runs.sqlite")  # a local pool, shut down after the test (tests/conftest.py)
    assert isinstance(fallback, pools.JobPool) and fallback.store.address == str(tmp_path / "runs.sqlite")
    assert pools.pool_for(tmp_path / "runs.sqlite") is fallback  # one pool per store, whichever back end


def test_an_app_restart_finds_the_runs_of_a_dead_app_interrupted(pool, monkeypatch):
    """The app dies mid-run: Ray ends its driver's tasks, the run's lease lapses, the next app marks it."""
    from resnet.lab.store import LEASE_S

    run_id = pool.submit(TrainConfig(**{**LONG.__dict__, "seed": 11})).run_id
    _until(pool, run_id, lambda r: r.steps_done >= 2)
    ref = next(ref for ref, rid in pool._tasks.items() if rid == run_id)
    pool._stop.set()  # the dead app: no more dispatching, no more heartbeats…
    pool._dispatcher.join()
    ray.cancel(ref, force=True)  # …and Ray ends its tasks
    pool._tasks.clear()
    assert pool.store.get_run(run_id).status == "running"

    later = pool.store.clock() + LEASE_S + 1
    restarted = cluster.RayPool(RunStore(pool.store.address, clock=lambda: later), address="auto").start()
    try:
        run = restarted.store.get_run(run_id)
        assert run.status == "interrupted" and run.steps_done >= 2
    finally:
        restarted._stop.set()
        restarted._dispatcher.join()
    pool.start()  # the module's pool dispatches again for any later test
