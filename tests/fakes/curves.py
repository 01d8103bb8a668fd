"""Made-up stored studies for search tests: runs whose accuracy rises with the energy spent."""

from __future__ import annotations

import math

from powertrain.records import CENSORED, REACHED, EvalPoint, RunOutcome
from powertrain.store.memory import MemoryStore
from powertrain.study.plan import RunSpec

ESTIMATE = {"cpu": {"meter": "estimate", "method": "estimate", "estimated": True}}


def curve_points(rate: float, joules_per_eval: float, target: float, evals: int) -> list[EvalPoint]:
    """Accuracy 0.1 + 0.85 (1 - exp(-rate step)), evaluated every 100 steps until the target."""
    points = []
    for i in range(evals):
        step = 100 * (i + 1)
        acc = 0.1 + 0.85 * (1 - math.exp(-rate * step))
        energy = joules_per_eval * (i + 1)
        points.append(
            EvalPoint(i, step, (i + 1) / 4, step * 32, 1.0, acc, energy / 10, {"cpu": energy})
        )
        if acc >= target:
            break
    return points


def add_run(
    store,
    study,
    setup,
    seed,
    rate,
    joules_per_eval,
    target=0.86,
    evals=16,
    faults=(),
    provenance=ESTIMATE,
    key=None,
) -> None:
    points = curve_points(rate, joules_per_eval, target, evals)
    key = key or f"{sorted(setup.items())}-{seed}"
    spec = RunSpec(study, key, setup, {}, seed)
    run_id = store.begin_run(spec, {"host": "h", "cpu_model": "X"}, provenance)
    for p in points:
        store.add_eval_point(run_id, p)
    last = points[-1]
    reached = last.val_accuracy >= target
    total = last.total_energy_j + 0.5  # the test evaluation after the last point
    store.finish_run(
        run_id,
        RunOutcome(
            REACHED if reached else CENSORED,
            "target reached" if reached else "max epochs",
            total,
            {"cpu": total},
            last.elapsed_s,
            last.step,
            last.val_accuracy,
            last.val_accuracy,
            last.total_energy_j if reached else None,
            last.elapsed_s if reached else None,
            last.step if reached else None,
            faults=list(faults),
        ),
    )


def made_up_study(store=None, study="made-up", setups=12, seeds=3, jitter=0.15):
    """``setups`` setups, learning rates and energy per evaluation varying; some never reach 0.86."""
    store = store or MemoryStore()
    store.save_study(study, {"name": study, "task": {"target_accuracy": 0.86}})
    for i in range(setups):
        setup = {"batch_size": 16 * 2 ** (i % 4), "learning_rate": 0.001 * 3 ** (i // 4)}
        for seed in range(seeds):
            rate = 0.0004 * (1 + i % 5) * (1 + jitter * math.sin(7 * i + 3 * seed))
            add_run(store, study, setup, seed, rate, 2.0 + (i * 7 % 5), evals=16)
    return store


def diverged_trace() -> str:
    """A CSV of an accuracy over four learning rates x two seeds, three of which rise, then collapse
    below their first evaluation (diverged): most runs fall, yet each starts at 0.3."""
    rows = ["seed,epoch,energy_j,val_accuracy,lr"]
    curves = {0.01: [0.3, 0.5, 0.7, 0.8], 0.3: [0.3, 0.5, 0.2, 0.1], 1.0: [0.3, 0.4, 0.1, 0.1]}
    curves[3.0] = [0.3, 0.35, 0.1, 0.1]
    for lr, curve in curves.items():
        rows += [
            f"{seed},{e},{100 * e},{a},{lr}" for seed in (1, 2) for e, a in enumerate(curve, 1)
        ]
    return "\n".join(rows) + "\n"
