"""Weights holding NaN or ±inf are refused when they load (code ``not_finite``), and the
Feature maps page says so in words instead of failing later in the class-activation map
with an uncaught ValueError (issue 12)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import safetensors.numpy

from resnet.lab import shipped
from resnet.model.weights import WeightsError, load_trained
from tests.helpers import open_page


def poisoned_copy(folder, name: str, value: float) -> tuple[str, str]:
    """A shipped model copied into ``folder`` with one value of one tensor set to ``value``; (file, key)."""
    source = shipped.shipped_models()[0]
    state = safetensors.numpy.load_file(str(source))
    key = next(k for k in sorted(state) if k.endswith("conv1.weight"))
    state[key] = state[key].copy()
    state[key].flat[0] = value
    target = folder / name
    safetensors.numpy.save_file(state, str(target))
    shutil.copy(source.with_suffix(".json"), target.with_suffix(".json"))
    return target.name, key


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_at_load(tmp_path, value):
    name, key = poisoned_copy(tmp_path, "poisoned.safetensors", value)
    with pytest.raises(WeightsError) as info:
        load_trained(tmp_path / name)
    assert info.value.code == "not_finite"
    assert (info.value.values["tensor"], info.value.values["n"]) == (key, 1)


def test_the_feature_maps_page_says_the_weights_are_not_finite(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    name, key = poisoned_copy(folder, "diverged.safetensors", np.nan)
    monkeypatch.setenv("RESNET_LAB_WEIGHTS_DIR", str(folder))
    at = open_page("pages/feature_maps.py", lang="en", weights="local", file=name)
    errors = " ".join(e.value for e in at.error)
    assert "NaN or infinite" in errors and "diverged" in errors
    assert json.loads((folder / "diverged.json").read_text())  # the sidecar was read: the refusal is the tensors'
