"""Means with 95% confidence intervals over seeds (Student's t), without needing SciPy."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

# Two-sided 95% quantiles of Student's t, t(0.975, df), df = 1 ... 30; beyond that the normal 1.96.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t975(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else 1.960


@dataclass(frozen=True)
class Interval:
    """Mean and 95% interval over n values; with one value, the interval is that value alone."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Interval | None:
        if not values:
            return None
        mean = statistics.fmean(values)
        if len(values) == 1:
            return cls(mean, 0.0, mean, mean, 1)
        std = statistics.stdev(values)
        half = t975(len(values) - 1) * std / math.sqrt(len(values))
        return cls(mean, std, mean - half, mean + half, len(values))

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    def to_dict(self) -> dict:
        return asdict(self)
