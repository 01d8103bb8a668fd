"""Power usage effectiveness: facility energy over IT energy. Default 1.0, as the study measured the
devices only; always shown beside every carbon figure."""

from __future__ import annotations

import math

from powertrain.errors import PowertrainError

#: Above any data centre's PUE on record (the worst surveyed are near 3): a typo.
MAX_PUE = 5.0

PRESETS: dict[str, tuple[float, str]] = {
    "devices": (1.0, "devices only, as the study measured (no facility overhead)"),
    "hyperscale": (
        1.10,
        "Google's fleet-wide PUE, 1.10 in Q2 2021 (as reported by CNBC, April 2022)",
    ),
    "average": (1.58, "industry average, Uptime Institute Global Data Center Survey 2023"),
}


def resolve_pue(value: str | float | None) -> tuple[float, str]:
    """A PUE and where it comes from: a preset name, a number >= 1, or None for the default."""
    if value is None:
        return PRESETS["devices"]
    if isinstance(value, str) and value in PRESETS:
        return PRESETS[value]
    try:
        pue = float(value)
    except (TypeError, ValueError):
        raise PowertrainError(
            f"--pue takes a number >= 1 or one of {', '.join(PRESETS)}, not {value!r}"
        ) from None
    if not math.isfinite(pue) or not 1 <= pue <= MAX_PUE:
        raise PowertrainError(
            f"PUE is facility energy over IT energy, a finite number from 1 to {MAX_PUE:g}; got {pue}"
        )
    return pue, "given by the user"
