"""Inference energy: a trained model answering inputs in batches of several sizes, measured per 1,000.

Each batch size gets a warm-up batch (outside the measurement), then ``repeats`` monitor windows over
``inputs`` inputs each, cycling through the given examples, so every figure comes with its spread.
``torch.inference_mode`` and ``model.eval()`` as in serving.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from powertrain.monitor import Monitor


@dataclass(frozen=True)
class InferenceResult:
    batch_size: int
    inputs: int  # per repeat
    energy_per_1000_j_repeats: list[float]
    duration_s: float  # mean per repeat
    energy_by_component_j: dict[str, float]  # mean per repeat
    provenance: dict[str, dict]
    #: What its windows said about their figures (a counter reset; a window too short for what the
    #: meter resolves well: NVML's counter moves every 100 ms, 1,000 inputs may take milliseconds).
    faults: list[str] = field(default_factory=list)

    @property
    def energy_per_1000_j(self) -> float:
        return statistics.fmean(self.energy_per_1000_j_repeats)

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
    repeats: int = 3,
) -> list[InferenceResult]:
    model.eval()
    run = forward or (lambda m, x: m(x))
    results = []
    for batch_size in batch_sizes:
        run(model, examples[:batch_size])  # warm-up: allocations and lazy initialisation
        measurements = []
        for repeat in range(repeats):
            window = f"inference-{batch_size}-{repeat}"
            monitor.begin(window)
            done = 0
            while done < inputs:
                take = min(batch_size, inputs - done)
                start = done % len(examples)
                batch = examples[start : start + take]
                if len(batch) < take:  # wrap round the examples
                    batch = torch.cat([batch, examples[: take - len(batch)]])
                run(model, batch)
                done += take
            measurements.append(monitor.end(window))
        components = measurements[0].energy_j.keys()
        results.append(
            InferenceResult(
                batch_size,
                inputs,
                [m.total_energy_j / inputs * 1000 for m in measurements],
                statistics.fmean(m.duration_s for m in measurements),
                {c: statistics.fmean(m.energy_j[c] for m in measurements) for c in components},
                {c: p.to_dict() for c, p in measurements[0].provenance.items()},
                list(dict.fromkeys(f for m in measurements for f in m.faults)),
            )
        )
    return results
