from __future__ import annotations

import pytest
import torch

from powertrain.errors import PowertrainError
from powertrain.models.registry import build_model
from powertrain.models.resnet import load_torchvision_state_dict


@pytest.mark.parametrize(
    ("name", "shape", "options"),
    [
        ("mlp", (1, 8, 8), {"hidden": [32]}),
        ("small-cnn", (1, 28, 28), {"channels": 4}),
        ("resnet18", (3, 32, 32), {"stem": "cifar", "width": 0.125}),
        ("resnet18", (3, 64, 64), {"stem": "imagenet", "width": 0.125}),
        ("sensor-cnn", (27, 64), {"channels": 8}),
    ],
)
def test_models_map_inputs_to_outputs_and_expose_features_and_head(name, shape, options):
    model = build_model(name, shape, 7, **options)
    x = torch.randn(3, *shape)
    assert model(x).shape == (3, 7)
    assert model.features(x).shape == (3, model.feature_dim)
    assert model.head.out_features == 7


def test_resnet18_matches_torchvision_parameter_count():
    model = build_model("resnet18", (3, 224, 224), 1000)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's resnet18


def test_torchvision_format_state_dict_loads_and_a_different_head_is_left_alone(tmp_path):
    source = build_model("resnet18", (3, 32, 32), 1000, width=0.125)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    target = build_model("resnet18", (3, 32, 32), 10, width=0.125)
    result = load_torchvision_state_dict(target, path)
    assert result["skipped"] == ["fc.weight", "fc.bias"]
    assert torch.equal(target.layer3[1].conv2.weight, source.layer3[1].conv2.weight)


def test_a_state_dict_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "mlp.pth"
    torch.save(build_model("mlp", (1, 8, 8), 10).state_dict(), path)
    with pytest.raises(PowertrainError, match="does not fit this model"):
        load_torchvision_state_dict(build_model("resnet18", (3, 32, 32), 10), path)


def test_checkpoints_with_code_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "hook": print}, path)  # needs unpickling a function
    with pytest.raises(PowertrainError, match="cannot load weights"):
        load_torchvision_state_dict(build_model("resnet18", (3, 32, 32), 10), path)


def test_bad_model_options():
    with pytest.raises(PowertrainError, match="no option"):
        build_model("mlp", (1, 8, 8), 10, depth=3)
    with pytest.raises(PowertrainError, match="stem"):
        build_model("resnet18", (3, 32, 32), 10, stem="vit")
