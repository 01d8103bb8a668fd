"""Device, seeds, threads, optimiser, scheduler and precision for a run."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from powertrain.errors import PowertrainError
from powertrain.train.config import TrainConfig


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: the (first visible) GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PowertrainError(
            f"device {name!r} asked for, but torch sees no GPU; use device: auto or cpu"
        )
    return torch.device(name)


def set_threads(threads: int | None) -> int:
    """Set torch's CPU threads explicitly (one per core by default) and return the number."""
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.learning_rate,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: TrainConfig, optimizer, steps_per_epoch: int, max_epochs: int):
    """A per-step scheduler, or None."""
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, steps_per_epoch * max_epochs)
        )
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=steps_per_epoch * cfg.step_epochs, gamma=cfg.gamma
        )
    return None


def check_precision(precision: str, device: torch.device) -> None:
    if precision != "fp32" and device.type != "cuda":
        raise PowertrainError(
            f"precision {precision} is for GPUs; this study runs on the {device.type}: use fp32"
        )


def autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
