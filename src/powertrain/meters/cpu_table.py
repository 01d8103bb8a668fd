"""The documented CPU power table used by the estimate meter (``tables/cpu_power.csv``).

Each row: a regular expression matched against the CPU's model name, the model, its TDP in watts, its
cores and hardware threads, and where the figures come from. An estimate charges TDP / threads watts per
second of CPU time, on the reasoning that a package with every hardware thread busy draws about its TDP.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from powertrain.errors import PowertrainError


@dataclass(frozen=True)
class CpuPowerProfile:
    model: str
    watts_per_cpu_s: float  # joules per second of CPU time (one busy hardware thread)
    source: str
    tdp_w: float | None = None
    threads: int | None = None
    matched: str | None = None  # the model name that was matched, when a table row was used

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class _Row:
    pattern: str  # a regular expression, matched ignoring case
    model: str
    tdp_w: float
    cores: int
    threads: int
    source: str

    def matches(self, model_name: str) -> bool:
        """Whether the pattern matches; a pattern without special characters (most rows) is a
        plain substring, so the table costs no regular-expression compiling when a CPU starts."""
        if _SPECIAL.isdisjoint(self.pattern):
            return self.pattern.lower() in model_name.lower()
        return re.search(self.pattern, model_name, re.IGNORECASE) is not None


_SPECIAL = frozenset(".^$*+?{}[]\\|()")


@lru_cache(maxsize=1)
def _rows() -> tuple[_Row, ...]:
    text = (Path(__file__).parent.parent / "tables" / "cpu_power.csv").read_text(encoding="utf-8")
    return tuple(
        _Row(
            r["pattern"],
            r["model"],
            float(r["tdp_w"]),
            int(r["cores"]),
            int(r["threads"]),
            r["source"],
        )
        for r in csv.DictReader(text.splitlines())
    )


def cpu_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what the platform says."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform  # off Linux only

    return platform.processor() or "unknown"


#: More than any one CPU package's TDP (today's largest are about 500 W), for two or four sockets.
MAX_TDP_W = 5000.0


def lookup_cpu_profile(
    model_name: str | None = None, tdp_w: float | None = None, threads: int | None = None
) -> CpuPowerProfile:
    """The power profile for a CPU: the user's figures, else the table, else the table's median."""
    model_name = model_name or cpu_model_name()
    if tdp_w is not None:
        if not (math.isfinite(tdp_w) and 0 < tdp_w <= MAX_TDP_W) or (
            threads is not None and threads <= 0
        ):
            raise PowertrainError(
                f"the CPU's TDP must be a finite number of W in (0, {MAX_TDP_W:g}] and its thread "
                f"count positive; got {tdp_w} W and {threads} threads"
            )
        threads = threads or os.cpu_count() or 1
        return CpuPowerProfile(model_name, tdp_w / threads, "given by the user", tdp_w, threads)
    for row in _rows():
        if row.matches(model_name):
            return CpuPowerProfile(
                row.model, row.tdp_w / row.threads, row.source, row.tdp_w, row.threads, model_name
            )
    per_thread = sorted(r.tdp_w / r.threads for r in _rows())
    half = len(per_thread) // 2  # the median, without importing statistics for it
    median = (per_thread[half] + per_thread[~half]) / 2
    return CpuPowerProfile(
        model_name,
        median,
        "no table row matches this CPU: the median watts per thread of the bundled table; "
        "give the CPU's TDP for a better figure",
    )
