"""Means with 95% confidence intervals over seeds, without needing SciPy.

Two kinds: ``Interval.of`` (Student's t on the values: for differences, which may be negative) and
``Interval.positive`` (Student's t on the logarithms, back-transformed: for energies and times, which are
positive, so the interval never goes below zero). Each interval names its method."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, replace

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


T_INTERVAL = "95% Student's t interval of the mean"
LOG_INTERVAL = "95% Student's t interval on the log scale (never below zero)"
SINGLE = "one value: no interval"
FEW_SEEDS = 2  # with this many values a 95% interval spans more than a factor of ten: say so


@dataclass(frozen=True)
class Interval:
    """Arithmetic mean and a 95% interval over n values; with one value, the interval is that value."""

    mean: float
    std: float
    low: float
    high: float
    n: int
    method: str = T_INTERVAL

    @property
    def wide(self) -> bool:
        """Too few values for the interval to tell much (two seeds: t(0.975, 1) = 12.7)."""
        return 1 < self.n <= FEW_SEEDS

    @classmethod
    def of(cls, values: list[float]) -> Interval | None:
        """Over the finite values (a NaN or infinite figure is no figure: ``n`` says how many count)."""
        values = [v for v in values if v is not None and math.isfinite(v)]
        if not values:
            return None
        mean = statistics.fmean(values)
        if len(values) == 1:
            return cls(mean, 0.0, mean, mean, 1, SINGLE)
        std = statistics.stdev(values)
        half = t975(len(values) - 1) * std / math.sqrt(len(values))
        return cls(mean, std, mean - half, mean + half, len(values))

    @classmethod
    def positive(cls, values: list[float]) -> Interval | None:
        """For quantities that cannot be negative (energy, time): the t interval of the mean of the
        logarithms, back-transformed, widened where needed to hold the arithmetic mean. Values of zero
        fall back to the t interval clipped at zero."""
        plain = cls.of(values)
        if plain is None or plain.n == 1:
            return plain
        values = [v for v in values if v is not None and math.isfinite(v)]
        if min(values) <= 0:
            return replace(plain, low=max(0.0, plain.low), method=T_INTERVAL + ", clipped at zero")
        logs = [math.log(v) for v in values]
        centre = statistics.fmean(logs)
        half = t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
        low, high = math.exp(centre - half), math.exp(centre + half)
        return replace(
            plain, low=min(low, plain.mean), high=max(high, plain.mean), method=LOG_INTERVAL
        )

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    def to_dict(self) -> dict:
        return {**asdict(self), "wide": self.wide}
