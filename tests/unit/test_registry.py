"""The generic registry, and third-party data sets, models and meters through entry points."""

from __future__ import annotations

import sys
import textwrap

import pytest

from powertrain.data.registry import DATASETS
from powertrain.errors import PowertrainError
from powertrain.meters import detect
from powertrain.meters.base import Component
from powertrain.models.registry import MODELS
from powertrain.registry import Registry


def test_register_by_call_or_decorator_and_refuse_a_duplicate():
    reg = Registry("widget")
    reg.register("a", len)

    @reg.register("b")
    def b():
        return "b"

    assert reg.get("a") is len and reg.get("b") is b and reg.names() == ["a", "b"]
    with pytest.raises(PowertrainError, match="widget 'a' is registered already"):
        reg.register("a", max)


def test_an_unknown_name_lists_the_names_there_are():
    reg = Registry("widget")
    reg.register("one", len)
    reg.register("two", len)
    with pytest.raises(PowertrainError, match="unknown widget 'three'; choose from one, two"):
        reg.get("three")


def test_a_string_is_imported_on_first_use():
    reg = Registry("widget")
    reg.register("dumps", "json:dumps")
    import json

    assert reg.get("dumps") is json.dumps


def test_built_ins_register_through_the_registries():
    assert {"digits", "fashion-mnist", "cifar10", "celeba", "pamap2", "mnist-5k"} <= set(DATASETS)
    assert {"mlp", "small-cnn", "resnet18", "sensor-cnn"} <= set(MODELS)
    assert set(detect.BACKENDS) <= set(detect.METERS)


PLUGIN = """
    import torch
    from torch import nn

    from powertrain.data import Dataset, Split, Task
    from powertrain.meters.base import MeterError

    def load(size: int = 40):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(size, 4, generator=g)
        y = (x[:, 0] > 0).long()
        s = Split(x, {"sign": y})
        return Dataset("plugin", (4,), {"sign": Task("sign", 2)}, s, s, s)

    def build(input_shape, num_outputs, width: int = 8):
        return nn.Sequential(nn.Linear(input_shape[0], width), nn.ReLU(), nn.Linear(width, num_outputs))

    def open_meter(component, settings):
        raise MeterError("the plugin's hardware is not here")

    open_meter.components = ("gpu",)
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A fake installed distribution: a module and a dist-info folder with entry points."""
    (tmp_path / "fake_powertrain_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "fake_powertrain_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-powertrain-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[powertrain.datasets]\nplugin-data = fake_powertrain_plugin:load\n\n"
        "[powertrain.models]\nplugin-net = fake_powertrain_plugin:build\n"
        "broken-net = fake_powertrain_plugin_missing:build\n\n"
        "[powertrain.meters]\nplugin-meter = fake_powertrain_plugin:open_meter\n"
        "broken-meter = fake_powertrain_plugin_missing:open_meter\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("fake_powertrain_plugin", None)


def test_entry_points_are_read_lazily_when_a_name_is_first_looked_up(plugin):
    data = Registry("data set", group="powertrain.datasets")
    data.register("digits", "powertrain.data.digits:load")
    assert "fake_powertrain_plugin" not in sys.modules
    dataset = data.get("plugin-data")()
    assert dataset.input_shape == (4,) and "plugin-data" in data.names()
    assert data.origin("plugin-data") == "the package fake-powertrain-plugin"


def test_a_third_party_name_that_clashes_with_a_built_in_is_refused(plugin):
    models = Registry("model", group="powertrain.models")
    models.register("plugin-net", len)
    with pytest.raises(PowertrainError, match="'plugin-net' is registered already"):
        models.names()


def test_a_broken_entry_point_says_which_package_it_came_from(plugin):
    models = Registry("model", group="powertrain.models")
    with pytest.raises(PowertrainError, match="fake-powertrain-plugin.*cannot be loaded"):
        models.get("broken-net")


def test_a_third_party_model_and_data_set_in_a_study(plugin, monkeypatch):
    from powertrain.data import registry as data_registry
    from powertrain.models import registry as model_registry
    from powertrain.study.config import parse_study
    from powertrain.typed import ConfigError

    monkeypatch.setattr(data_registry, "DATASETS", _fresh(DATASETS))
    monkeypatch.setattr(model_registry, "MODELS", _fresh(MODELS))
    study = {
        "name": "p",
        "task": {"dataset": "plugin-data", "model": "plugin-net", "target_accuracy": 0.8},
        "grid": {"learning_rate": [0.1]},
    }
    assert parse_study(study).task.model == "plugin-net"
    study["task"]["model_options"] = {"width": "wide"}
    with pytest.raises(ConfigError, match="task.model_options.width: expected a whole number"):
        parse_study(study)
    model = model_registry.build_model("plugin-net", (4,), 2, width=3)
    assert model[0].out_features == 3


def test_a_third_party_meter_is_tried_for_its_components(plugin, monkeypatch):
    monkeypatch.setattr(detect, "METERS", _fresh(detect.METERS))
    found = detect.detect_meters(["plugin-meter", "estimate"])
    assert set(found.meters) == {Component.CPU, Component.RAM}
    (reason,) = [u.reason for u in found.unavailable if u.backend == "plugin-meter"]
    assert "the plugin's hardware is not here" in reason
    with pytest.raises(PowertrainError, match="unknown meter 'nope'; choose from nvml, rapl"):
        detect.detect_meters(["nope"])


def test_a_broken_third_party_meter_does_not_stop_detection(plugin, monkeypatch):
    monkeypatch.setattr(detect, "METERS", _fresh(detect.METERS))
    found = detect.detect_meters()
    assert Component.CPU in found.meters  # the estimate, at least
    reasons = {u.backend: u.reason for u in found.unavailable}
    assert "fake-powertrain-plugin" in reasons["broken-meter"]
    assert "cannot be loaded" in reasons["broken-meter"]


def _fresh(registry: Registry) -> Registry:
    """A registry with the same built-ins whose entry points are read again."""
    fresh = Registry(registry.kind, registry.group)
    for name, origin in registry._origins.items():  # not names(): the globals stay unread
        if origin == "powertrain":
            fresh.register(name, registry.get(name))
    return fresh
