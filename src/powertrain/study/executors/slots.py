"""What each worker of the workers executor owns: its GPUs (by UUID) and its share of the CPU threads."""

from __future__ import annotations

from dataclasses import dataclass

from powertrain.errors import PowertrainError


@dataclass(frozen=True)
class WorkerSlot:
    """What one worker owns: its GPUs (UUIDs; empty on CPUs) and its CPU threads."""

    index: int
    gpu_uuids: tuple[str, ...]
    threads: int

    def environ(self) -> dict[str, str]:
        """What the worker's environment is set to before torch starts."""
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        if self.gpu_uuids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpu_uuids)
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        return env


def plan_slots(
    workers: int,
    gpu_uuids: list[str],
    cpu_count: int,
    share_gpus: bool = False,
    gpus_per_run: int | None = None,
    cpus_per_run: int | None = None,
) -> list[WorkerSlot]:
    """Give each of ``workers`` its GPUs and threads. GPUs are not shared between workers unless the
    study allows it (their energy is then apportioned, like a shared CPU package's).
    ``gpus_per_run``: each worker owns that many GPUs (a run that is a distributed job: 8 GPUs, 2 per
    run, run four at once); ``cpus_per_run``: each worker's threads (else the CPUs shared evenly)."""
    if not (isinstance(workers, int) and workers >= 1):
        raise PowertrainError(f"workers: {workers!r} is not a number of processes; give 1 or more")
    threads = _per_run(cpus_per_run, "--cpus-per-run") or max(1, cpu_count // workers)
    if gpus_per_run is not None:
        return _gpu_groups(workers, gpu_uuids, _per_run(gpus_per_run, "--gpus-per-run"), threads)
    if not gpu_uuids:
        return [WorkerSlot(i, (), threads) for i in range(workers)]
    if workers > len(gpu_uuids) and not share_gpus:
        raise PowertrainError(
            f"workers: {workers} workers but {len(gpu_uuids)} GPU(s) visible: each worker owns its"
            " GPUs so that its energy is its own. Use at most one worker per GPU, or set"
            " `share_gpus: true` in the study (the GPU energy is then apportioned between runs)"
        )
    if workers > len(gpu_uuids):
        return [WorkerSlot(i, (gpu_uuids[i % len(gpu_uuids)],), threads) for i in range(workers)]
    per = len(gpu_uuids) // workers
    return [
        WorkerSlot(i, tuple(gpu_uuids[i * per : (i + 1) * per]), threads) for i in range(workers)
    ]


def _per_run(value, option: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PowertrainError(f"{option} {value!r}: with the workers executor, give a whole number")
    return value


def _gpu_groups(workers: int, gpu_uuids: list[str], per: int, threads: int) -> list[WorkerSlot]:
    """Each worker its own ``per`` GPUs, never shared: a run's GPU energy stays its own."""
    if workers * per > len(gpu_uuids):
        raise PowertrainError(
            f"--gpus-per-run {per} for {workers} workers needs {workers * per} GPUs, but "
            f"{len(gpu_uuids)} are visible: use fewer workers (at most {len(gpu_uuids) // per})"
        )
    return [
        WorkerSlot(i, tuple(gpu_uuids[i * per : (i + 1) * per]), threads) for i in range(workers)
    ]


def shares_gpus(slots: list[WorkerSlot]) -> bool:
    """Whether any GPU is given to more than one worker."""
    owned = [uuid for slot in slots for uuid in slot.gpu_uuids]
    return len(owned) != len(set(owned))


def capped_workers(asked: int, runs: int | None, devices: int, what: str) -> tuple[int, str | None]:
    """The workers worth starting: no more than the runs to do (``runs``; None when a search decides
    them as it goes) nor the devices they run on (``devices``: GPUs, or CPU threads); and a note
    saying so when fewer than ``asked``. Each worker is a process with its own torch: starting more
    only costs memory and start-up, and shares the same devices thinner."""
    bounds = [(devices, f"{devices} {what} here")]
    if runs is not None:
        bounds.append((max(runs, 1), f"{runs} run(s) to do"))
    count, why = min(bounds)
    if asked <= count:
        return asked, None
    return count, f"{asked} workers asked, {count} started: no more than the {why}"
