"""What measures a tracked run: its device, its meters (found here, or the caller's) read through
``steady`` so that a meter that stops reading never ends the training, and how its record describes
them (the machine, and each meter's provenance: in a job known from the start, how its ranks'
figures add up)."""

from __future__ import annotations

from powertrain.errors import PowertrainError
from powertrain.tracking import combine


def checked_device(device):
    """``device`` as a torch device (None stays None: CUDA where there is one, found at the start),
    or PowertrainError naming what torch accepts."""
    if device is None:
        return None
    import torch

    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise PowertrainError(
            f"device {device!r} is not a torch device ({str(exc).splitlines()[0]}); pass e.g. device='cpu', 'cuda' or "
            "'cuda:1', or leave it out (CUDA where there is one, else the CPU)"
        ) from None


def open_meters(device, detection):
    """The run's torch device (``device``, else CUDA where there is one), its meters (``detection``,
    else found now: then the run closes them) and its monitor, sampling."""
    import torch

    from powertrain.meters.detect import detect_meters
    from powertrain.meters.steady import steady  # a failed read never ends the training
    from powertrain.monitor import Monitor

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    owned = detection is None
    detection = detection or detect_meters().require()
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    return (
        device,
        detection,
        owned,
        Monitor(steady(detection.meters), sample=True, synchronize=sync),
    )


def describe(detection, device, ranks) -> tuple[dict, dict]:
    """The run's hardware record and its meters' provenance."""
    from powertrain.hardware import describe_hardware

    meters = detection.meters
    provenance = {c.value: m.provenance.to_dict() for c, m in meters.items()}
    for c, m in meters.items():  # in a job known from the start: how its ranks' figures add up
        if ranks.distributed:
            provenance[c.value]["details"]["distributed"] = combine.scope_words(
                m.scope, ranks.world_size
            )
    return describe_hardware(device, meters), provenance
