"""The checks that need a real NVIDIA GPU, as one script: what the tests run against fake NVML, here
against the driver, each figure beside an independent reading of the same GPU.

    python benchmarks/device_checks.py --out DIR [--only gpu,counter,...] [--device cuda]
    python benchmarks/device_checks.py --windows-of DIR/series-large.json   # no GPU needed

Each check runs in a process of its own, within a time limit, and writes what it saw to
``DIR/checks.json`` (its output to ``DIR/NAME.log``):

- ``gpu``: the GPU, its driver and its power limits as ``nvidia-smi`` reports them.
- ``meters``: ``powertrain meters``: which meter it picks for the GPU, and how it says it knows.
- ``counter``: NVML's energy counter and power reading polled as fast as they answer (a read of both
  and a 1 ms sleep: about every 6 ms on an H200), idle and under load:
  how often each changes (a pricing window shorter than that cannot be priced from the counter), and
  the counter's slope against the power readings.
- ``windows``: one training job's energy per step, step by step from a fresh process, on a large and a
  small model: what a pricing window of W steps, its first fifth left out (warm-up), gives against the
  same job's steady energy per step; for the first job in the process and a second one after it.
- ``track``: ``powertrain.track()`` around a GPU training loop; its GPU joules against the counter read
  by this script around the block and against the power readings integrated at 20 Hz.
- ``power_limit``: a study with a ``gpu_power_limit_w`` axis through ``powertrain run``, run as root.
  The only value is the limit the GPU already has: a machine lent to us is left as it was, so this
  checks the path (set, record, restore, journal cleared), not what a lower limit saves.
- ``workers``: a 4-run study with ``--workers 2`` sharing the GPU: the runs' apportioned joules
  against the machine's total and the counter read around the command.
- ``ddp``: the 2-rank job of the tests against the real NVML (tests/integration/
  test_track_distributed_nvml.py), and a 2-rank gloo job whose ranks both train on GPU 0 under
  torchrun: one run, the GPU counted once, its joules against the counter read around the job.

``--device cpu`` runs the same script without a GPU, against ``POWERTRAIN_NVML_MODULE`` (a fake), to
try the script itself; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
CHECK_TIMEOUT_S = {"ddp": 200, "workers": 150, "power_limit": 120, "windows": 120, "series": 120}
DEFAULT_TIMEOUT_S = 90
#: The workloads' (hidden width, batch): a step of ~10 ms on an H100-class GPU, one of well under a
#: millisecond (launch-bound), and one for a dry run on a CPU.
LARGE, SMALL, CPU_SIZE = (4096, 8192), (512, 256), (256, 256)


# -- reading the GPU independently of powertrain ----------------------------------------------------


def raw_nvml():
    """pynvml (or the fake POWERTRAIN_NVML_MODULE names, for a dry run), initialised, and GPU 0."""
    nv = importlib.import_module(os.environ.get("POWERTRAIN_NVML_MODULE") or "pynvml")
    nv.nvmlInit()
    return nv, nv.nvmlDeviceGetHandleByIndex(0)


def counter_j() -> float:
    nv, handle = raw_nvml()
    return nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000


class PowerSampler:
    """NVML's power reading integrated (trapezoids) every ``every_s`` in a thread of its own."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.nv, self.handle = raw_nvml()
        self.every_s, self.energy_j, self._stop = every_s, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last_t, last_w = time.monotonic(), self._watts()
        while not self._stop.wait(self.every_s):
            t, w = time.monotonic(), self._watts()
            self.energy_j += 0.5 * (w + last_w) * (t - last_t)
            last_t, last_w = t, w

    def _watts(self) -> float:
        return self.nv.nvmlDeviceGetPowerUsage(self.handle) / 1000

    def __enter__(self) -> PowerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- a GPU workload ----------------------------------------------------------------------------------


def mlp_job(device: str, hidden: int, batch: int, layers: int = 4, seed: int = 0):
    """A model, its optimiser and a step on synthetic data (bf16 autocast on the GPU)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    blocks = []
    for _ in range(layers):
        blocks += [nn.Linear(hidden, hidden), nn.GELU()]
    model = nn.Sequential(*blocks, nn.Linear(hidden, 10)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, hidden, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    on_gpu = device.startswith("cuda")

    def step() -> None:
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=on_gpu):
            loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# -- the checks ----------------------------------------------------------------------------------------


def check_gpu(args) -> dict:
    fields = (
        "name,uuid,driver_version,power.limit,power.default_limit,power.min_limit,power.max_limit"
    )
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    import torch

    return {
        "nvidia_smi": out.stdout.strip() or out.stderr.strip(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available() and torch.cuda.get_device_name(0),
        "python": sys.version.split()[0],
    }


def check_meters(args) -> dict:
    out = run_powertrain(["meters"], timeout_s=60)
    print(out["output"])
    return {"rc": out["rc"], "picks_nvml": "nvml" in out["output"].split("Not used")[0]}


def check_counter(args) -> dict:
    """Poll the counter and the power (a read of both, then 1 ms of sleep), idle 1.5 s then under
    load 3 s."""
    nv, handle = raw_nvml()
    idle = poll(nv, handle, 1.5)
    burn = subprocess.Popen(
        [sys.executable, __file__, "--burn", "5", "--device", args.device],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        burn.stdout.readline()  # "busy": torch is up and the first steps have run
        busy = poll(nv, handle, 3.0)
    finally:
        burn.wait(timeout=60)
    return {"idle": idle, "busy": busy}


def poll(nv, handle, seconds: float) -> dict:
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        samples.append(
            (
                t,
                nv.nvmlDeviceGetTotalEnergyConsumption(handle),
                nv.nvmlDeviceGetPowerUsage(handle),
            )
        )
        time.sleep(0.001)

    def change_gaps_ms(col: int) -> list[float]:
        times = [s[0] for i, s in enumerate(samples[1:], 1) if s[col] != samples[i - 1][col]]
        return [1000 * (b - a) for a, b in zip(times, times[1:], strict=False)]

    counter_gaps, power_gaps = change_gaps_ms(1), change_gaps_ms(2)
    span_s = samples[-1][0] - samples[0][0]
    return {
        "reads": len(samples),
        "counter_change_ms_median": statistics.median(counter_gaps) if counter_gaps else None,
        "counter_change_ms_max": max(counter_gaps) if counter_gaps else None,
        "power_change_ms_median": statistics.median(power_gaps) if power_gaps else None,
        "counter_slope_w": (samples[-1][1] - samples[0][1]) / 1000 / span_s,
        "power_mean_w": statistics.fmean(s[2] for s in samples) / 1000,
    }


def burn(seconds: float, device: str) -> None:
    """Keep the GPU busy for ``seconds`` (the counter check's load)."""
    step = mlp_job(device, *LARGE if device.startswith("cuda") else CPU_SIZE)
    for _ in range(10):
        step()
    sync(device)
    print("busy", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(10):
            step()
        sync(device)


def check_windows(args) -> dict:
    """Energy after each step from a fresh process: a pricing window of W steps against steady."""
    sizes = {"large": LARGE, "small": SMALL}
    if not args.device.startswith("cuda"):
        sizes = {"large": CPU_SIZE, "small": (32, 32)}
    nv, handle = raw_nvml()
    found = {}
    for order in ("first", "second"):
        for name, (hidden, batch) in sizes.items():
            found[f"{name}-{order}"] = step_series(nv, handle, args.device, hidden, batch, 400)
    return found


def step_series(nv, handle, device: str, hidden: int, batch: int, steps: int) -> dict:
    step = mlp_job(device, hidden, batch)
    reads = [(time.monotonic(), nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000)]
    for _ in range(steps):
        step()
        sync(device)
        reads.append((time.monotonic(), nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000))
    steady_j = (reads[-1][1] - reads[-101][1]) / 100  # the last 100 steps
    windows = {}
    for w in (5, 10, 20, 50, 100, 200):
        warm = w // 5
        priced_j = (reads[w][1] - reads[warm][1]) / (w - warm)
        windows[w] = {
            "ratio_to_steady": priced_j / steady_j if steady_j else None,
            "whole_ratio": (reads[w][1] - reads[0][1]) / w / steady_j if steady_j else None,
            "ms": 1000 * (reads[w][0] - reads[warm][0]),
        }
    step_ms = 1000 * (reads[-1][0] - reads[-101][0]) / 100
    return {"steady_j_per_step": steady_j, "step_ms": step_ms, "windows": windows}


def check_series(args) -> dict:
    """The counter after every step of one long job from a fresh process (saved whole to
    ``--out``), then every window of each length cut from its steady part: how far a window's
    energy per second is from the job's steady power, by window length."""
    nv, handle = raw_nvml()
    found = {}
    sizes = (
        {"large": LARGE, "small": SMALL} if args.device.startswith("cuda") else {"cpu": CPU_SIZE}
    )
    for name, (hidden, batch) in sizes.items():
        step = mlp_job(args.device, hidden, batch)
        reads = [(time.monotonic(), nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000)]
        end = time.monotonic() + args.series_s
        while time.monotonic() < end:
            step()
            sync(args.device)
            reads.append((time.monotonic(), nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000))
        if args.out:
            (args.out / f"series-{name}.json").write_text(json.dumps(reads))
        found[name] = window_errors(reads)
    return found


def window_errors(reads: list[tuple[float, float]], skip_s: float = 2.0) -> dict:
    """For windows of 0.1-4 s (a whole number of steps, the steady part's mean step time each),
    one starting at every step of the series after ``skip_s``: the window's energy per second over
    the steady part's, as |ratio - 1| quantiles (median, 90th, max). Every start, not a sample:
    the worst of a few dozen windows understates the worst of them all."""
    t0 = reads[0][0] + skip_s
    steady = [r for r in reads if r[0] >= t0]
    power_w = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
    found = {"steady_w": power_w, "steps": len(reads) - 1}
    step_s = (steady[-1][0] - steady[0][0]) / (len(steady) - 1)
    for length_s in (0.1, 0.2, 0.5, 1.0, 2.0, 4.0):
        span = max(1, round(length_s / step_s))
        errors = [
            abs(
                (steady[i + span][1] - steady[i][1])
                / (steady[i + span][0] - steady[i][0])
                / power_w
                - 1
            )
            for i in range(len(steady) - span)
        ]
        if errors:
            errors.sort()
            found[f"{length_s:g}s"] = {
                "windows": len(errors),
                "median": errors[len(errors) // 2],
                "p90": errors[int(0.9 * (len(errors) - 1))],
                "max": errors[-1],
            }
    return found


def check_track(args) -> dict:
    import powertrain
    from powertrain.store import open_store

    db = Path(tempfile.mkdtemp()) / "track.db"
    on_gpu = args.device.startswith("cuda")
    step = mlp_job(args.device, *LARGE if on_gpu else CPU_SIZE)
    every = 200 if on_gpu else 5
    start_j = counter_j()
    with (
        PowerSampler() as sampler,
        powertrain.track(
            "device-track", setup={"lr": 0.01}, seed=0, target=0.8, db=str(db), device=args.device
        ) as run,
    ):
        for k in range(1, 11):
            for _ in range(every):
                step()
            sync(args.device)
            if run.evaluate(val_accuracy=0.1 * k, step=k * every):
                break
    end_j = counter_j()
    with open_store(db) as store:
        [record] = store.runs()
    outcome = record.outcome
    return {
        "status": record.status.value,
        "label": record.method_label,
        "gpu_provenance": {k: v for k, v in record.provenance["gpu"].items() if k != "details"},
        "gpu_j": outcome.energy_j.get("gpu"),
        "energy_to_target_j": outcome.energy_to_target_j,
        "duration_s": outcome.duration_s,
        "counter_around_block_j": end_j - start_j,
        "power_integrated_j": sampler.energy_j,
        "faults": outcome.faults,
    }


def digits_study(path: Path, device: str, grid: dict, **extra) -> Path:
    import yaml

    study = {
        "name": path.stem,
        "task": {
            "dataset": "digits",
            "model": "mlp",
            "model_options": {"hidden": [256]},
            "target_accuracy": 0.9,
            "eval_every_steps": 20,
            "max_epochs": 8,
        },
        "grid": grid,
        "seeds": [0],
        "device": device,
        **extra,
    }
    path.write_text(yaml.safe_dump(study))
    return path


def check_power_limit(args) -> dict:
    nv, handle = raw_nvml()
    before_mw = nv.nvmlDeviceGetPowerManagementLimit(handle)
    tmp = Path(tempfile.mkdtemp())
    study = digits_study(
        tmp / "power-limit.yaml",
        args.device,
        {"gpu_power_limit_w": [before_mw / 1000], "learning_rate": [0.1]},
    )
    out = run_powertrain(["run", str(study), "--db", str(tmp / "pl.db"), "--json"], 100)
    print(out["output"])
    after_mw = nv.nvmlDeviceGetPowerManagementLimit(handle)
    from powertrain.store import open_store

    with open_store(tmp / "pl.db") as store:
        runs = store.runs()
        pending = store.pending_power_limits()
    return {
        "rc": out["rc"],
        "limit_before_w": before_mw / 1000,
        "limit_after_w": after_mw / 1000,
        "pending_after": pending,
        "runs": [
            {"status": r.status.value, "limit": r.hardware.get("gpu_power_limit_w")} for r in runs
        ],
    }


def check_workers(args) -> dict:
    tmp = Path(tempfile.mkdtemp())
    grid = {"learning_rate": [0.1, 0.05], "batch_size": [32, 128]}
    study = digits_study(tmp / "workers.yaml", args.device, grid, share_gpus=True)
    start_j = counter_j()
    out = run_powertrain(
        ["run", str(study), "--db", str(tmp / "w.db"), "--workers", "2", "--json"], 140
    )
    end_j = counter_j()
    print(out["output"])
    from powertrain.store import open_store

    with open_store(tmp / "w.db") as store:
        runs = store.runs()
    summary = last_json(out["stdout"])
    machine = (summary or {}).get("machine_total") or {}
    return {
        "rc": out["rc"],
        "runs": len(runs),
        "labels": sorted({r.method_label for r in runs}),
        "runs_gpu_j": sum((r.outcome.energy_j.get("gpu", 0) for r in runs if r.outcome), 0.0),
        "machine_total_gpu_j": (machine.get("energy_j") or {}).get("gpu"),
        "counter_around_command_j": end_j - start_j,
    }


def check_ddp(args) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + ["tests/integration/test_track_distributed_nvml.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(test.stdout[-3000:], test.stderr[-2000:])
    db = Path(tempfile.mkdtemp()) / "ddp.db"
    start_j = counter_j()
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    job = subprocess.run(
        [*launcher, __file__, "--rank-job", str(db), "--device", args.device],
        cwd=ROOT,
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=150,
    )
    end_j = counter_j()
    print(job.stdout[-3000:], job.stderr[-3000:])
    from powertrain.store import open_store

    with open_store(db) as store:
        runs = store.runs()
    found = {"pytest_rc": test.returncode, "pytest_tail": test.stdout.strip().splitlines()[-1:]}
    found.update(job_rc=job.returncode, runs=len(runs), counter_around_job_j=end_j - start_j)
    if runs and runs[0].outcome:
        o = runs[0].outcome
        around = db.with_suffix(".around.json")
        found.update(
            status=runs[0].status.value,
            gpu_j=o.energy_j.get("gpu"),
            duration_s=o.duration_s,
            rank0_around_block=json.loads(around.read_text()) if around.exists() else None,
            nodes=[{k: n.get(k) for k in ("gpus", "ranks", "method")} for n in o.nodes],
        )
    return found


def rank_job(db: str, device: str) -> None:
    """One rank of the ddp check's job: DDP over gloo, both ranks' model on GPU 0."""
    import torch
    import torch.distributed as dist
    from torch import nn

    import powertrain

    dist.init_process_group("gloo")
    torch.manual_seed(0)
    width, batch = (2048, 4096) if device.startswith("cuda") else (64, 64)
    model = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 10)).to(device)
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.01)
    x = torch.randn(batch, width, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    start = (time.monotonic(), counter_j())
    with powertrain.track("device-ddp", setup={"lr": 0.01}, seed=0, target=0.8, db=db) as run:
        for k in range(1, 11):
            for _ in range(40):
                loss = nn.functional.cross_entropy(ddp(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            sync(device)
            if run.evaluate(val_accuracy=0.1 * k, step=k * 40):
                break
    if dist.get_rank() == 0:
        around = {"seconds": time.monotonic() - start[0], "counter_j": counter_j() - start[1]}
        Path(db).with_suffix(".around.json").write_text(json.dumps(around))
    dist.destroy_process_group()


# -- running them --------------------------------------------------------------------------------------


def run_powertrain(argv: list[str], timeout_s: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "powertrain", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    return {"rc": done.returncode, "output": done.stdout + done.stderr, "stdout": done.stdout}


def last_json(text: str) -> dict | None:
    """The JSON document ``--json`` printed (it starts at a line holding only ``{``)."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == "{":
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    return None


CHECKS = {
    "gpu": check_gpu,
    "meters": check_meters,
    "counter": check_counter,
    "windows": check_windows,
    "series": check_series,
    "track": check_track,
    "power_limit": check_power_limit,
    "workers": check_workers,
    "ddp": check_ddp,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="folder for checks.json and each check's log")
    parser.add_argument("--only", help="comma-separated checks (default: all)")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--series-s", type=float, default=15.0, help="seconds of each series job")
    parser.add_argument("--check", help=argparse.SUPPRESS)  # one check, in its own process
    parser.add_argument("--burn", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--rank-job", help=argparse.SUPPRESS)
    parser.add_argument(
        "--windows-of", type=Path, help="a saved series-*.json: its window table (no GPU needed)"
    )
    args = parser.parse_args()
    if args.windows_of is not None:
        print(json.dumps(window_errors(json.loads(args.windows_of.read_text())), indent=1))
        return None
    if args.burn is not None:
        return burn(args.burn, args.device)
    if args.rank_job:
        return rank_job(args.rank_job, args.device)
    if args.check:
        print(json.dumps(CHECKS[args.check](args), default=str))
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else list(CHECKS)
    results = {}
    for name in names:
        results[name] = run_check(name, args)
        print(f"{name}: {json.dumps(results[name], default=str)[:2000]}", flush=True)
        (args.out / "checks.json").write_text(json.dumps(results, indent=1, default=str))
    return None


def run_check(name: str, args) -> dict:
    """One check in a process of its own: its last line is its JSON; the rest goes to its log."""
    began = time.monotonic()
    command = [sys.executable, __file__, "--check", name, "--device", args.device]
    command += ["--series-s", str(args.series_s), "--out", str(args.out)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S.get(name, DEFAULT_TIMEOUT_S),
        )
        stdout, output, rc = done.stdout, done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, rc = "", None
        output = f"{_text(exc.stdout)}{_text(exc.stderr)}\nTIMED OUT"
    (args.out / f"{name}.log").write_text(output)
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        found = json.loads(lines[-1]) if rc == 0 and lines else {}
    except json.JSONDecodeError:
        found = {}
    return {"rc": rc, "seconds": round(time.monotonic() - began, 1), **found}


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


if __name__ == "__main__":
    main()
