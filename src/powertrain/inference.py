"""Inference energy: a trained model answering inputs in batches of several sizes, measured per 1,000.

Each batch size gets a warm-up batch (outside the measurement), then one monitor window over ``inputs``
inputs, cycling through the given examples. ``torch.inference_mode`` and ``model.eval()`` as in serving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from powertrain.monitor import Monitor


@dataclass(frozen=True)
class InferenceResult:
    batch_size: int
    inputs: int
    energy_j: float
    duration_s: float
    energy_by_component_j: dict[str, float]
    provenance: dict[str, dict]

    @property
    def energy_per_1000_j(self) -> float:
        return self.energy_j / self.inputs * 1000

    def to_dict(self) -> dict:
        return {**asdict(self), "energy_per_1000_j": self.energy_per_1000_j}


@torch.inference_mode()
def measure_inference(
    model: nn.Module,
    examples: torch.Tensor,
    batch_sizes: list[int],
    monitor: Monitor,
    inputs: int = 1000,
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> list[InferenceResult]:
    model.eval()
    run = forward or (lambda m, x: m(x))
    results = []
    for batch_size in batch_sizes:
        run(model, examples[:batch_size])  # warm-up: allocations and lazy initialisation
        done = 0
        window = f"inference-{batch_size}"
        monitor.begin(window)
        while done < inputs:
            take = min(batch_size, inputs - done)
            start = done % len(examples)
            batch = examples[start : start + take]
            if len(batch) < take:  # wrap round the examples
                batch = torch.cat([batch, examples[: take - len(batch)]])
            run(model, batch)
            done += take
        m = monitor.end(window)
        results.append(
            InferenceResult(
                batch_size,
                inputs,
                m.total_energy_j,
                m.duration_s,
                dict(m.energy_j),
                {c: p.to_dict() for c, p in m.provenance.items()},
            )
        )
    return results
