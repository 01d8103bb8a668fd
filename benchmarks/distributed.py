"""Distributed tracking: what the exchange at each evaluation point costs, and the same job's energy
with 1, 2 and 4 ranks, side by side (torchrun, gloo, on this machine's CPUs).

1. Overhead: inside a 2-rank job, ``run.evaluate`` (each rank's reading gathered to rank 0, the point
   recorded, the stop decision broadcast) timed over ``--points`` calls, against a plain DDP step of
   the same job's model (a forward, backward and all-reduce). Printed in microseconds per point and as
   a ratio to one DDP step; the 1-rank row (a point recorded, nothing exchanged) is the baseline.
   The same for the two routes of ranks without torch.distributed: torchrun's TCPStore (a script
   that never calls ``init_process_group``) and the results store (SLURM tasks, SQLite), each
   against the gloo row's DDP step (their own step has no all-reduce).
2. Energy: the same work (``--samples`` samples of a small MLP, the global batch split over the
   ranks) with 1, 2 and 4 ranks; the run's figure, how it was combined, and the machine's load.

    python benchmarks/distributed.py [--points 50] [--samples 60000]

Every figure on a machine without energy counters is an estimate (CPU time x watts per thread), and a
busy machine inflates it: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def worker(args) -> None:
    """One rank of the job (run under torchrun)."""
    import torch
    import torch.distributed as dist
    from torch import nn

    import powertrain

    if args.route == "gloo":
        dist.init_process_group("gloo")
    rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
    world = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1")))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    if dist.is_initialized():
        model = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    batch = args.batch // world  # the global batch split over the ranks: the same work in all

    def step() -> None:
        x, y = torch.randn(batch, 64), torch.randint(0, 10, (batch,))
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    study = f"bench-{args.mode}-{args.route}-{world}"
    with powertrain.track(
        study, setup={"ranks": world}, db=args.db, device="cpu", target=1.0
    ) as run:
        if args.mode == "overhead":
            result = overhead(run, step, args.points)
        else:
            for _ in range(args.samples // args.batch):
                step()
            run.evaluate(val_accuracy=0.5)
            result = {}
    if rank == 0:
        Path(args.out).write_text(json.dumps(result))
    if dist.is_initialized():
        dist.destroy_process_group()


def overhead(run, step, points: int) -> dict:
    for _ in range(5):
        step()  # warm up
    start = time.perf_counter()
    for _ in range(points):
        step()
    step_s = (time.perf_counter() - start) / points
    start = time.perf_counter()
    for i in range(points):
        run.evaluate(val_accuracy=0.5, step=i + 1)
    point_s = (time.perf_counter() - start) / points
    return {"step_s": step_s, "point_s": point_s}


def launch(nproc: int, mode: str, args, db: Path, route: str = "gloo") -> dict:
    """One job: torchrun's ranks (``gloo``: torch.distributed started; ``tcp``: not), or ``store``:
    ``nproc`` processes given SLURM's variables only, as ``srun`` starts them."""
    out = db.with_suffix(f".{mode}.{route}.{nproc}.json")
    worker = [__file__, "--worker", "--mode", mode, "--route", route, "--db", str(db)]
    worker += ["--out", str(out), "--points", str(args.points)]
    worker += ["--samples", str(args.samples), "--batch", str(args.batch)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if route == "store":
        tasks = [
            subprocess.Popen([sys.executable, *worker], env={**env, **slurm(rank, nproc)})
            for rank in range(nproc)
        ]
        if any(task.wait() != 0 for task in tasks):
            raise SystemExit("a SLURM-like task failed")
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += [f"--nproc_per_node={nproc}", *worker]
        subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def slurm(rank: int, tasks: int) -> dict[str, str]:
    return {
        "SLURM_JOB_ID": f"bench-{os.getpid()}",
        "SLURM_STEP_ID": "0",
        "SLURM_PROCID": str(rank),
        "SLURM_NTASKS": str(tasks),
        "SLURM_LOCALID": str(rank),
        "SLURM_NODEID": "0",
    }


def energy_table(args, db: Path) -> None:
    from powertrain.store import open_store

    print(f"\nthe same job ({args.samples} samples, global batch {args.batch}) with 1, 2, 4 ranks")
    print(
        f"{'ranks':>5} {'seconds':>8} {'energy J':>9} {'cpu J':>8} {'ram J':>7}  how combined / load"
    )
    for nproc in (1, 2, 4):
        launch(nproc, "energy", args, db)
        with open_store(db) as store:
            [record] = store.runs(f"bench-energy-gloo-{nproc}")
        o = record.outcome
        nodes = o.nodes or [{"read_by": {"cpu": "one process"}}]
        how = "; ".join(n["read_by"].get("cpu", "") for n in nodes)
        print(
            f"{nproc:>5} {o.duration_s:>8.2f} {o.total_energy_j:>9.1f} {o.energy_j.get('cpu', 0):>8.1f} "
            f"{o.energy_j.get('ram', 0):>7.2f}  {how}; load {os.getloadavg()[0]:.2f}"
        )
    print("(ESTIMATE: CPU time x watts per thread; no energy counters on this machine)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--mode", default="overhead")
    parser.add_argument("--route", default="gloo", choices=("gloo", "tcp", "store"))
    parser.add_argument("--db")
    parser.add_argument("--out")
    parser.add_argument("--points", type=int, default=50)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        print(f"\nper evaluation point ({args.points} points), beside a plain DDP step:")
        print(
            f"{'ranks':>5} {'route':>6} {'DDP step µs':>12} {'evaluate µs':>12} {'ratio':>6}  load"
        )
        ddp_step_s = None
        for nproc, route in ((1, "gloo"), (2, "gloo"), (2, "tcp"), (2, "store")):
            r = launch(nproc, "overhead", args, db, route)  # 1 rank: a point, no exchange
            if route == "gloo":
                ddp_step_s = r["step_s"]
            step_s = ddp_step_s
            print(
                f"{nproc:>5} {route:>6} {step_s * 1e6:>12.0f} {r['point_s'] * 1e6:>12.0f} "
                f"{r['point_s'] / step_s:>6.2f}  {os.getloadavg()[0]:.2f}"
            )
        energy_table(args, db)


if __name__ == "__main__":
    main()
