"""What a run ran on: host, CPU, memory, GPU and power limit, software versions, meter methods."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import psutil

from powertrain import __version__
from powertrain.meters.cpu_table import cpu_model_name
from powertrain.slurm import slurm_job, slurm_machine_label


def describe_hardware(device: Any = None, meters: dict | None = None) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "host": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu_model": cpu_model_name(),
        "cpu_logical_cores": os.cpu_count(),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "powertrain": __version__,
        "device": str(device) if device is not None else "cpu",
        "torch_threads": torch.get_num_threads(),
    }
    if device is not None and getattr(device, "type", None) == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu_model"] = props.name
        info["gpu_memory_gb"] = round(props.total_memory / 1e9, 1)
    for component, meter in (meters or {}).items():
        p = meter.provenance
        info[f"meter_{component.value}"] = f"{p.meter}/{p.method.value}"
        gpus = p.details.get("gpus", [])
        if gpus:
            info["gpu_count"] = len(gpus)
        for gpu in gpus:
            info.setdefault("gpu_power_limit_w", gpu.get("power_limit_w"))
            info.setdefault("gpu_model", gpu.get("name"))
    job = slurm_job()
    if job is not None:  # the job and node, so a cluster's runs can be traced to them
        info["slurm"] = job
        info["label"] = slurm_machine_label(info, job)
    return info
