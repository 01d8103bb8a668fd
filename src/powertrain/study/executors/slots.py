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
    workers: int, gpu_uuids: list[str], cpu_count: int, share_gpus: bool = False
) -> list[WorkerSlot]:
    """Give each of ``workers`` its GPUs and threads. GPUs are not shared between workers unless the
    study allows it (their energy is then apportioned, like a shared CPU package's)."""
    if not (isinstance(workers, int) and workers >= 1):
        raise PowertrainError(f"workers: {workers!r} is not a number of processes; give 1 or more")
    threads = max(1, cpu_count // workers)
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
