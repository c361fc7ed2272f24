"""Getting ready for class: ``python -m resnet.prepare weights|warmup`` and the server's own warm-up.

Nothing downloads: the official URL is pointed at a local HTTP server on 127.0.0.1
(``tests.helpers.file_server``) serving a file the test makes. The warm-ups export
ResNet-18 (``RANDOM_DEFAULT`` is patched) instead of ResNet-50: the same code, faster.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading

import numpy as np
import pytest

from resnet.lab import service
from resnet.lab.config import config_key
from resnet.lab.presets import PRESETS, reference_seed_runs
from resnet.lab.store import RunStore
from resnet.model import weights
from resnet.paths import ENV_HOME, PROGRAM_SUBDIR
from resnet.prepare import background, tasks
from resnet.prepare.__main__ import main
from tests.helpers import Served, file_server, open_page

FAST_MODELS = "tests.prepare.service_targets:fast_models"


@pytest.fixture
def served_official(monkeypatch):
    """ResNet-18's official URL on a local server serving 200 kB of seeded bytes; yields (Served, data)."""
    data = np.random.default_rng(3).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    served = Served(data)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with file_server(served) as base:
        monkeypatch.setitem(weights.OFFICIAL, 18, (f"{base}/resnet18.pdparams", hashlib.md5(data).hexdigest()))
        yield served, data


def test_weights_command_downloads_resumes_and_says_where_to_copy(served_official, isolated_home, capsys):
    served, data = served_official
    served.cut_after = 2 * weights.DOWNLOAD_CHUNK  # the school network drops the first connection
    assert main(["weights", "--depth", "18"]) == 0
    out = capsys.readouterr().out
    path = isolated_home / "weights" / "resnet18.pdparams"
    assert path.read_bytes() == data and served.ranges == [None, f"bytes={2 * weights.DOWNLOAD_CHUNK}-"]
    assert "resnet18.pdparams:    0.2 / 0.2 MB  100%" in out  # the progress line (every 10 % in a log)
    assert f"resnet18.pdparams: ready, MD5 {hashlib.md5(data).hexdigest()} checked" in out
    assert str(path.parent) in out and ENV_HOME in out  # what to copy, and where it goes on the other machine
    assert main(["weights", "--depth", "18"]) == 0 and len(served.ranges) == 2  # already there: MD5 only


def test_weights_command_reports_a_bad_checksum_and_fails(served_official, monkeypatch, isolated_home, capsys):
    monkeypatch.setitem(weights.OFFICIAL, 18, (weights.OFFICIAL[18][0], "0" * 32))
    assert main(["weights", "--depth", "18"]) == 1
    out = capsys.readouterr().out
    assert "resnet18.pdparams: FAILED: The downloaded resnet18.pdparams does not match its published MD5" in out
    assert not list((isolated_home / "weights").iterdir())  # the bad bytes are gone, nothing else appeared


def test_weights_command_refuses_a_depth_without_official_weights(capsys):
    with pytest.raises(SystemExit):
        main(["weights", "--depth", "56"])
    assert "invalid choice: 56" in capsys.readouterr().err


def test_warmup_fills_a_fresh_home(monkeypatch, isolated_home):
    monkeypatch.setattr(tasks, "RANDOM_DEFAULT", (18, 0))
    out = io.StringIO()
    tasks.warm_up(out)
    text = out.getvalue()
    # every seed of every preset, a run two presets share (Degradation's ResNet-20 A is the ablations' baseline) once
    expected = len({config_key(run["config"]) for key in PRESETS for run in reference_seed_runs(key) or []})
    assert expected and len(RunStore().list_runs(source="reference")) == expected
    assert "shipped model resnet56_digits16.safetensors: ResNet-56 loads" in text
    assert "fast path for random ResNet-18, seed 0: predictor" in text and "NOTICE" not in text
    programs = [p for p in (isolated_home / PROGRAM_SUBDIR).iterdir() if p.is_dir()]
    assert len(programs) == 1 and json.loads((programs[0] / "key.json").read_text())["depth"] == 18
    tasks.warm_up(io.StringIO())  # again: nothing new is imported or exported
    assert len(RunStore().list_runs(source="reference")) == expected
    assert [p for p in (isolated_home / PROGRAM_SUBDIR).iterdir() if p.is_dir()] == programs


def test_warm_up_is_off_when_the_environment_says_so(monkeypatch):
    monkeypatch.setenv(background.ENV_WARMUP, "0")
    assert background.start_warm_up().result(timeout=1) == []


def test_first_feature_maps_run_after_start_finds_the_predictor_ready(monkeypatch, isolated_home):
    # issue 10: the export and predictor build of the fast path used to happen in the first visitor's run;
    # issue 20: the warm-up runs in the inference service, and the page's requests go to the process it warmed
    from pages.common import ui

    monkeypatch.setenv(background.ENV_WARMUP, "1")
    service.pool().stop()  # a fresh service: its first process is the one that warms up
    started = []  # the warm-up of ResNet-18 instead of ResNet-50: the same code, faster
    monkeypatch.setattr(ui, "start_warm_up", lambda: started.append(1) or background.start_warm_up(random_default=(18, 0)))
    ui.warm_up.clear()
    open_page("pages/cost.py")  # the server's first page run, on any page, starts the warm-up
    assert ui.warm_up().result(timeout=600) == ["predictor"] and started == [1]  # the same future: once per process
    warmed = service.call(FAST_MODELS)
    assert [backend for _, backend, _ in warmed] == ["predictor"]

    at = open_page("pages/feature_maps.py", weights="random", depth="18")
    assert service.call(FAST_MODELS) == warmed  # the page found the predictor built: no export, no build of its own
    assert any("predictor" in c.value for c in at.caption)


def test_a_model_built_while_another_thread_counts_shapes_gets_its_weights():
    # The Cost page counts shapes under paddle.LazyGuard, which is process-wide: without
    # the modes lock a model built meanwhile (the warm-up's, another session's) had
    # parameters with no memory. Here the build must wait for the guard, then be whole.
    from resnet.model import modes, resnet

    built = []
    with modes.shapes_only():
        builder = threading.Thread(target=lambda: built.append(resnet(18)))
        builder.start()
        builder.join(timeout=2)  # long enough for an unguarded build to finish inside the guard
    builder.join(timeout=120)
    assert all(t._is_initialized() for t in built[0].state_dict().values())
