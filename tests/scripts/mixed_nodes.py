"""One task of ``srun -N 2 -n 2 python mixed_nodes.py``: node 0 (rank 0) reads its CPU with a counter,
node 1 (rank 1) only estimates its CPU. Rank 0 serves Prometheus metrics and logs to MLflow, and after
each evaluation writes down what those live series said about how the CPU's joules were obtained (the
run's sum holds node 1's estimate from the first evaluation on). ``--out/rank-N.json``."""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from pathlib import Path

import powertrain
from powertrain.loggers.observe import Observers, observed
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.metrics import MetricsEndpoint
from powertrain.store import open_store
from powertrain.tracking import ranks
from tests.fakes.meters import ConstantPowerMeter

EVALUATIONS = 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rank = int(os.environ["SLURM_PROCID"])
    ranks.machine = lambda: f"node-{rank}"  # two nodes' tasks on this one machine: two machines
    method = Method.COUNTER if rank == 0 else Method.ESTIMATE
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, time.monotonic, method)}
    )
    seen: dict = {"rank": rank, "prometheus": [], "mlflow": []}
    endpoint = MetricsEndpoint(0) if rank == 0 else None
    store = open_store(args.db)
    db = observed(store, Observers([endpoint])) if endpoint else store
    try:
        with powertrain.track(
            "mixed", {"lr": 0.1}, 0, 0.99, db=db, detection=meters, log_to=["mlflow"]
        ) as run:
            for i in range(EVALUATIONS):
                time.sleep(0.2)
                run.evaluate(val_accuracy=0.1 * (i + 1), step=i + 1)
                if endpoint is not None:
                    seen["prometheus"].append(methods(endpoint.url))
                    seen["mlflow"].append(mlflow_measurement(run.run_id))
        seen["outcome"] = run.outcome.status.value if run.outcome else None
    finally:
        if endpoint is not None:
            endpoint.close()
        store.close()
    Path(args.out, f"rank-{rank}.json").write_text(json.dumps(seen))


def methods(url: str) -> list[str]:
    """The ``method`` labels of the CPU's energy series served now."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return sorted(
        line.split('method="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("powertrain_energy_joules_total{") and 'component="cpu"' in line
    )


def mlflow_measurement(run_id: int) -> str | None:
    """The MLflow run's ``powertrain.measurement`` tag now (the loggers' thread given a second)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for _ in range(20):
        time.sleep(0.25)
        found = client.get_experiment_by_name("mixed")
        runs = client.search_runs([found.experiment_id]) if found else []
        for r in runs:
            if r.data.tags.get("powertrain.run_id") == str(run_id):
                return r.data.tags.get("powertrain.measurement")
    return None


if __name__ == "__main__":
    main()
