"""Trackers' overhead: the same tracked loop (``powertrain.track``: a small MLP on digits, an evaluation
every ``--steps`` steps) with no tracker, then logging to each tool (MLflow into a local SQLite store,
TensorBoard event files, W&B offline) and serving the Prometheus endpoint, side by side.

For each: the loop's wall time per evaluation point over the baseline's (what training waits: the
loggers write on their own thread, so this is the hand-over plus their share of the CPU), the time the
block's end waits for the tools to flush (start-up included: MLflow builds its tables, W&B starts its
service), and the loop's time ratio against the baseline. Median of ``--reps`` runs each.

    python benchmarks/trackers.py [--reps 3] [--points 100] [--steps 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from powertrain import track
from powertrain.data.registry import load_dataset
from powertrain.loggers.observe import observed
from powertrain.meters.detect import detect_meters
from powertrain.store import open_store

TOOLS = ("none", "mlflow", "tensorboard", "wandb", "prometheus")


def data():
    d = load_dataset("digits", seed=0)
    return d.train.x.reshape(-1, 64), d.train.y["digit"], d.val.x.reshape(-1, 64), d.val.y["digit"]


def one(
    tool: str, folder: Path, points: int, steps: int, detection, rep: int
) -> tuple[float, float]:
    """(the loop's seconds, the seconds the block's end took) for one tracked run."""
    xt, yt, xv, yv = data()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    log_to = {"mlflow": ["mlflow"], "tensorboard": [f"tensorboard:{folder / 'tb'}"]}.get(tool, [])
    log_to = ["wandb"] if tool == "wandb" else log_to
    endpoint = None
    with open_store(folder / f"store-{tool}.db") as store:
        db = store
        if tool == "prometheus":
            from powertrain.metrics import MetricsEndpoint

            endpoint = MetricsEndpoint(0)
            db = observed(store, endpoint)
        block = track(
            "bench", {"rep": rep}, 0, 1.0, db=db, detection=detection, device="cpu", log_to=log_to
        )
        with block as run:
            start = time.perf_counter()
            for point in range(points):
                for batch in torch.arange(steps * 32).remainder(len(xt)).split(32):
                    optimizer.zero_grad()
                    F.cross_entropy(model(xt[batch]), yt[batch]).backward()
                    optimizer.step()
                with torch.no_grad():
                    accuracy = float((model(xv).argmax(1) == yv).float().mean())
                run.evaluate(val_accuracy=min(accuracy, 0.99), step=point + 1)
            loop_s = time.perf_counter() - start
            start = time.perf_counter()
        end_s = time.perf_counter() - start
    if endpoint is not None:
        endpoint.close()
    return loop_s, end_s


def handover(tool: str, folder: Path, points: int) -> tuple[float, float]:
    """(µs per point on the training thread, µs per point on the loggers' thread): the observer of
    one run given ``points`` evaluation points directly (no training), then flushed."""
    from powertrain.loggers import loggers
    from powertrain.loggers.base import RunInfo
    from powertrain.records import EvalPoint, RunOutcome

    provenance = {"cpu": {"meter": "estimate", "method": "estimate", "estimated": True}}
    info = RunInfo("handover", f"key-{tool}", 1, {"lr": 0.1}, {"lr": 0.1}, 0, provenance)
    if tool == "prometheus":
        from powertrain.metrics import MetricsEndpoint

        observer = MetricsEndpoint(0)
    else:
        spec = {"tensorboard": f"tensorboard:{folder / 'tb'}"}.get(tool, tool)
        observer = loggers([spec])
    observer.run_begun(info)
    start = time.perf_counter()
    for i in range(points):
        observer.eval_point(1, EvalPoint(i, i, float(i), 0, None, 0.5, float(i), {"cpu": float(i)}))
    caller_s = time.perf_counter() - start
    observer.run_finished(1, RunOutcome("censored", "bench", 1.0, {"cpu": 1.0}, 1.0, points))
    start = time.perf_counter()
    observer.close()  # the loggers' thread: everything queued, written
    if tool == "prometheus":  # no thread of its own: the hand-over is the whole cost
        return caller_s / points * 1e6, None
    return caller_s / points * 1e6, (time.perf_counter() - start) / points * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5, help="training steps between evaluations")
    args = parser.parse_args()
    torch.set_num_threads(1)
    detection = detect_meters(["estimate"]).require()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.update(
            MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}",
            WANDB_MODE="offline",
            WANDB_DIR=str(folder),
            WANDB_SILENT="true",
        )
        times = {tool: [] for tool in TOOLS}
        for rep in range(args.reps):
            for tool in TOOLS:  # interleaved, so a change in the machine's load touches them alike
                times[tool].append(one(tool, folder, args.points, args.steps, detection, rep))
        direct = {tool: handover(tool, folder, 10 * args.points) for tool in TOOLS[1:]}
    detection.close()
    base = statistics.median(loop for loop, _ in times["none"])
    load = os.getloadavg()
    print(
        f"{args.points} evaluation points, {args.steps} steps of a 64-32-10 MLP each, "
        f"median of {args.reps}; load average {load[0]:.1f} on {os.cpu_count()} cores"
    )
    print("loop: the tracked loop's seconds; µs/point: its extra time per evaluation point over no")
    print("tracker; ratio: against no tracker; end s: what the block's end waited for the tools.")
    print(
        "hand-over / written: µs per point on the training thread and on the loggers' own thread,"
    )
    print(f"the observer alone ({10 * args.points} points, no training).")
    print(
        f"{'tracker':<12} {'loop s':>8} {'µs/point':>10} {'ratio':>7} {'end s':>7} "
        f"{'hand-over µs':>13} {'written µs':>11}"
    )
    for tool in TOOLS:
        loop = statistics.median(t for t, _ in times[tool])
        end = statistics.median(e for _, e in times[tool])
        per_point = (loop - base) / args.points * 1e6
        caller, thread = direct.get(tool, (0.0, 0.0))
        written = "-" if thread is None else f"{thread:.0f}"
        print(
            f"{tool:<12} {loop:>8.3f} {per_point:>10.0f} {loop / base:>7.3f} {end:>7.2f} "
            f"{caller:>13.1f} {written:>11}"
        )


if __name__ == "__main__":
    main()
