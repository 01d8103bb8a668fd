"""Saving a trained model's weights, and starting a model from pretrained ones.

Checkpoints are plain state dicts, loaded with ``weights_only=True``: a file that holds anything but
tensors is refused. torchvision's ResNet-18 files load into ``resnet18`` models, whose names match.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import nn

from powertrain.errors import PowertrainError

HEAD_PREFIXES = ("head.", "fc.")  # our models' classifier; torchvision ResNet's


def save_state_dict(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write atomically (a file next to it, then rename), so a killed process never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(model.state_dict(), partial)
    os.replace(partial, path)
    return path


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused an object that would run code
        raise PowertrainError(
            f"cannot load weights from {path}: it holds more than tensors, and powertrain loads "
            "checkpoints with weights_only=True; save the model's state_dict() alone"
        ) from None
    except (OSError, RuntimeError, EOFError) as exc:
        raise PowertrainError(f"cannot load weights from {path}: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PowertrainError(f"{path} does not hold a state dict")
    return state


def load_pretrained(model: nn.Module, path: str | os.PathLike) -> dict[str, list[str]]:
    """Load every weight but a classifier of another size (the downstream task differs); any other
    mismatch is an error. Returns the keys left as initialised."""
    state = read_state_dict(path)
    own = model.state_dict()
    skipped = [
        k
        for k in state
        if k.startswith(HEAD_PREFIXES) and k in own and state[k].shape != own[k].shape
    ]
    for key in skipped:
        del state[key]
    for key, value in state.items():
        if key in own and value.shape != own[key].shape:
            raise PowertrainError(
                f"{path}: {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}"
            )
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in skipped]
    if missing or unexpected:
        raise PowertrainError(
            f"{path} does not fit this model ({type(model).__name__}): missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    return {"skipped": skipped}


def freeze_backbone(model: nn.Module) -> list[nn.Parameter]:
    """Freeze everything but the classifier; return the classifier's parameters (what to train)."""
    for p in model.parameters():
        p.requires_grad_(False)
    head = list(model.head.parameters())
    for p in head:
        p.requires_grad_(True)
    return head
