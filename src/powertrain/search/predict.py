"""Early prediction of a run's energy-to-target from its first evaluation points.

Energy-to-target = joules per unit of progress so far x the progress at which a learning curve fitted to
the accuracy reaches the target. Progress is the step (or the epoch where steps were not recorded).
Families (scipy's curve_fit), each used once there are three more points than it has parameters (with
fewer, free shapes overfit the noise: on paper-grid they doubled the error after 4 evaluations):

- ``power``: accuracy = 1 - b x^-c (error falls as a power law); with one point, c is the shape prior
  (the median c over the study's finished runs, or 0.5);
- ``power-sat``: accuracy = a - b x^-c (a plateau a, which may lie below the target);
- ``exp``: accuracy = a - b exp(-c x);
- ``logistic``: accuracy = a / (1 + exp(-k (ln x - m))).

Families are averaged with weights from their fit (Akaike weights from the residuals). Parameter draws
(from each fit's covariance, or the prior's spread) give the interval (10th-90th percentile) and the
probability of reaching the target within the run's limit. Baselines: carbontracker's linear rule (the
energy rate so far x the run's planned length) and a linear extrapolation of accuracy.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from powertrain.records import EvalPoint, Verdict
from powertrain.train.stopping import Stop

DRAWS = 300
MIN_DOF = 3  # a family with n parameters is fitted from n + 3 points on (backtested on paper-grid)
PRIOR_C = 0.5


@dataclass(frozen=True)
class Prediction:
    energy_to_target_j: float | None  # central estimate; None when it is not expected to get there
    low_j: float | None  # 10th percentile of the draws that reach the target
    high_j: float | None  # 90th percentile
    p_reach: float  # probability of reaching the target within the limit
    families: dict[str, float]  # weight of each fitted family


def progress(points: list[EvalPoint]) -> np.ndarray:
    """How far training was at each evaluation, for the curve fits (which need it above 0 and rising):
    its steps; else its epochs; else, as with a trace whose epochs are numbered from 0, the number of
    evaluations done (1, 2, ...)."""
    for unit in ("step", "epoch"):
        x = np.array([getattr(p, unit) for p in points], dtype=float)
        if len(x) and x[0] > 0 and np.all(np.diff(x) > 0):
            return x
    return np.arange(1, len(points) + 1, dtype=float)


def _power(x, b, c):
    return 1 - b * np.power(x, -c)


def _power_sat(x, a, b, c):
    return a - b * np.power(x, -c)


def _exp(x, a, b, c):
    return a - b * np.exp(-c * x)


def _logistic(x, a, k, m):
    return a / (1 + np.exp(-k * (np.log(x) - m)))


def _solve(family: str, p: np.ndarray, t: float) -> float:
    """Progress at which the family reaches accuracy t (inf when it never does)."""
    try:
        x = _solve_raw(family, p, t)
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.inf
    return float(x) if x == x and x > 0 else math.inf


def _solve_raw(family: str, p: np.ndarray, t: float) -> float:
    with np.errstate(all="ignore"):
        if family == "power":
            b, c = p
            x = (b / (1 - t)) ** (1 / c)
        elif family == "power-sat":
            a, b, c = p
            x = (b / (a - t)) ** (1 / c) if a > t else math.inf
        elif family == "exp":
            a, b, c = p
            x = -math.log((a - t) / b) / c if a > t and b > 0 and c > 0 else math.inf
        else:
            a, k, m = p
            x = math.exp(m - math.log(a / t - 1) / k) if a > t and k > 0 else math.inf
    return x


FAMILIES = {  # name: (function, initial guess, bounds)
    "power": (_power, lambda x, y: [1 - y[0], PRIOR_C], ([0, 1e-3], [10, 5])),
    "power-sat": (_power_sat, lambda x, y: [1, 1 - y[0], PRIOR_C], ([0, 0, 1e-3], [1, 10, 5])),
    "exp": (
        _exp,
        lambda x, y: [min(1, y[-1] + 0.05), 0.9, 1 / x[-1]],
        ([0, 0, 1e-9], [1, 10, np.inf]),
    ),
    "logistic": (
        _logistic,
        lambda x, y: [min(1, y[-1] + 0.05), 1, math.log(x[0])],
        ([0, 1e-3, -50], [1, 20, 50]),
    ),
}


def _fits(x: np.ndarray, y: np.ndarray, prior_c: float):
    """(family, params, covariance or None, sse, n_params) for each family the points can support."""
    c = prior_c  # the study's shape, only the scale fitted (least squares on log error)
    b = float(np.exp(np.mean(np.log(1 - np.minimum(y, 0.999)) + c * np.log(x))))
    prior_fit = ("power", np.array([b, c]), None, float(np.sum((_power(x, b, c) - y) ** 2)), 1)
    out = [prior_fit]
    for name, (fn, guess, _) in FAMILIES.items():
        n = len(guess(x, y))
        if len(x) < n + MIN_DOF:  # too few points to constrain a free shape
            continue
        fitted = _fitted(name, np.asarray(x, float).tobytes(), np.asarray(y, float).tobytes())
        if fitted is None:
            continue
        p, cov = fitted
        sse = float(np.sum((fn(x, *p) - y) ** 2))
        cov = cov if np.all(np.isfinite(cov)) and len(x) > n else None
        out.append((name, p, cov, sse, n))
    return out


@functools.lru_cache(maxsize=4096)
def _fitted(family: str, x_bytes: bytes, y_bytes: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """The family's least-squares fit (parameters, covariance; read-only) to the points whose
    progress and accuracy are ``x_bytes`` and ``y_bytes`` (float64), or None where it fails. A fit is
    a pure function of the points, and a search asks it of the same points again and again (halving
    ranks each rung's runs; a replay in many orders meets the same curves in each), so each is kept
    for the points' exact bits."""
    x, y = np.frombuffer(x_bytes).copy(), np.frombuffer(y_bytes).copy()
    fn, guess, bounds = FAMILIES[family]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p, cov = _curve_fit(fn, x, y, guess(x, y), bounds)
    except (RuntimeError, ValueError):
        return None
    p.setflags(write=False)
    cov.setflags(write=False)
    return p, cov


def _curve_fit(fn, x, y, p0, bounds):
    from scipy.optimize import curve_fit

    lo, hi = bounds
    p0 = np.clip(p0, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
    return curve_fit(fn, x, y, p0=p0, bounds=bounds, maxfev=5000)


def _weights(fits, n_points: int) -> np.ndarray:
    aic = np.array(
        [n_points * math.log(max(sse, 1e-12) / n_points) + 2 * k for _, _, _, sse, k in fits]
    )
    w = np.exp(-(aic - aic.min()) / 2)
    return w / w.sum()


def _draws(name, p, cov, rng: np.random.Generator) -> np.ndarray:
    if cov is not None:
        return rng.multivariate_normal(p, cov, DRAWS, check_valid="ignore")
    draws = np.tile(p, (DRAWS, 1))
    draws[:, -1] *= np.exp(rng.normal(0, 0.25, DRAWS))  # the rate or shape, 25 % spread
    return draws


def predict(
    points: list[EvalPoint],
    target: float,
    max_progress: float,
    prior_c: float = PRIOR_C,
    seed: int = 0,
) -> Prediction:
    """Predict energy-to-target from ``points`` (the run's first evaluations). ``max_progress``: the
    run's limit in the same unit as :func:`progress` (steps, or epochs)."""
    energy_per_x, fits, weights, centre = _central(points, target, prior_c)
    if fits is None:  # it has reached the target
        e = points[-1].total_energy_j
        return Prediction(e, e, e, 1.0, {})
    rng = np.random.default_rng(seed)
    samples, sample_w = [], []
    for (name, p, cov, _, _), w in zip(fits, weights, strict=True):
        xs = np.array([_solve(name, d, target) for d in _draws(name, p, cov, rng)])
        samples.append(xs)
        sample_w.append(np.full(len(xs), w / len(xs)))
    xs, ws = np.concatenate(samples), np.concatenate(sample_w)
    reach = xs <= max_progress
    p_reach = float(ws[reach].sum())
    family_w = {f[0]: float(w) for f, w in zip(fits, weights, strict=True)}
    if not reach.any() or not math.isfinite(centre):
        return Prediction(None, None, None, p_reach, family_w)
    lo, hi = _weighted_quantiles(xs[reach], ws[reach], [0.1, 0.9])
    return Prediction(
        energy_per_x * min(centre, max_progress),
        energy_per_x * lo,
        energy_per_x * hi,
        p_reach,
        family_w,
    )


def predicted_energy_j(
    points: list[EvalPoint], target: float, prior_c: float = PRIOR_C
) -> float | None:
    """``predict(points, target, math.inf, prior_c).energy_to_target_j``, without the parameter
    draws: with no limit every draw reaches the target, so they decide only the interval and
    ``p_reach``, never the central estimate (a search ranking runs by it asks it often)."""
    energy_per_x, fits, _, centre = _central(points, target, prior_c)
    if fits is None:
        return points[-1].total_energy_j
    return energy_per_x * centre if math.isfinite(centre) else None


def _central(points: list[EvalPoint], target: float, prior_c: float):
    """(energy per unit of progress, the fits, their weights, the progress at which their weighted
    median reaches ``target``); the fits None when the last point has reached it."""
    x, y = progress(points), np.array([p.val_accuracy for p in points])
    energy_per_x = points[-1].total_energy_j / x[-1]
    if y[-1] >= target:
        return energy_per_x, None, None, math.nan
    fits = _fits(x, y, prior_c)  # never empty: the prior's fit is always there
    weights = _weights(fits, len(x))
    central = [_solve(name, p, target) for name, p, _, _, _ in fits]
    return energy_per_x, fits, weights, _weighted_median(np.array(central), weights)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    return _weighted_quantiles(values, weights, [0.5])[0]


def _weighted_quantiles(values, weights, qs) -> list[float]:
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights)[order]
    cum = np.cumsum(w) / w.sum()
    return [float(v[min(np.searchsorted(cum, q), len(v) - 1)]) for q in qs]


def linear_rule_j(points: list[EvalPoint], max_progress: float) -> float:
    """carbontracker's rule: the energy rate so far, over the run's planned length."""
    return points[-1].total_energy_j / progress(points)[-1] * max_progress


def linear_accuracy_j(points: list[EvalPoint], target: float, chance: float = 0.1) -> float | None:
    """Accuracy extrapolated linearly from chance through the latest evaluation."""
    gained = points[-1].val_accuracy - chance
    if gained <= 0:
        return None
    return points[-1].total_energy_j * (target - chance) / gained


def shape_prior(curves: list[list[EvalPoint]]) -> float:
    """The median power-law exponent c over finished curves (0.5 when none can be fitted)."""
    cs = []
    for points in curves:
        x, y = progress(points), np.array([p.val_accuracy for p in points])
        if len(x) >= 2 and np.all(y < 1):
            slope = np.polyfit(np.log(x), np.log(1 - y), 1)[0]
            if -5 < slope < 0:
                cs.append(-slope)
    return float(np.median(cs)) if cs else PRIOR_C


class PredictedMiss:
    """A stopping handler for the training loop: stop a run once, after ``min_evals`` evaluations, its
    probability of reaching ``target`` within ``max_progress`` falls below ``threshold``."""

    def __init__(self, target, max_progress, threshold=0.05, min_evals=2, prior_c=PRIOR_C):
        self.target, self.max_progress, self.threshold = target, max_progress, threshold
        self.min_evals, self.prior_c, self.points = min_evals, prior_c, []

    def __call__(self, point: EvalPoint) -> Stop | None:
        self.points.append(point)
        if len(self.points) < self.min_evals:
            return None
        p = self.p_reach(predict(self.points, self.target, self.max_progress, self.prior_c))
        if p is not None and p < self.threshold:
            reason = f"predicted to miss the target: P(reach) = {p:.2f} < {self.threshold:g}"
            return Stop(Verdict.PREDICTED_MISS, reason)
        return None

    def p_reach(self, prediction: Prediction) -> float | None:
        """The probability the stop is decided on (None: it does not know, so it does not stop)."""
        return prediction.p_reach


class LivePredictedMiss(PredictedMiss):
    """``PredictedMiss`` for a live run whose limit is in epochs: the limit in the prediction's unit
    (steps) is worked out from the run's first evaluation (steps per epoch x ``max_epochs``)."""

    def __init__(self, target, max_epochs, threshold=0.05, min_evals=4, prior_c=PRIOR_C):
        super().__init__(target, None, threshold, min_evals, prior_c)
        self.max_epochs = max_epochs

    def __call__(self, point: EvalPoint) -> Stop | None:
        if self.max_progress is None:
            per_epoch = point.step / point.epoch if point.step > 0 and point.epoch > 0 else 1.0
            self.max_progress = per_epoch * self.max_epochs
        return super().__call__(point)
