"""Robust statistics the models share: Theil-Sen slope with Sen's confidence interval, the
Mann-Kendall trend test, a rank-sum test for a step, and Poisson tails. numpy only; small n.
"""

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@dataclass(frozen=True, slots=True)
class Fit:
    """y ≈ intercept + slope·(x - origin); the slope's 95 % band is [slope_low, slope_high]."""

    slope: float
    intercept: float
    origin: float
    slope_low: float
    slope_high: float

    def at(self, x: float) -> float:
        return self.intercept + self.slope * (x - self.origin)


def _tie_term(values: Floats) -> float:
    _, counts = np.unique(values, return_counts=True)
    t = counts[counts > 1].astype(np.float64)
    return float(np.sum(t * (t - 1) * (2 * t + 5)))


def kendall_variance(y: Floats) -> float:
    n = len(y)
    return (n * (n - 1) * (2 * n + 5) - _tie_term(y)) / 18.0


def theil_sen(x: Floats, y: Floats) -> Fit:
    """Median of pairwise slopes (x values distinct), intercept through the point medians at the
    median x; Sen's (1968) rank interval for the slope. Needs at least two points."""
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    slopes = np.sort((y[j] - y[i])[dx != 0] / dx[dx != 0])
    slope = float(np.median(slopes))
    origin = float(np.median(x))
    intercept = float(np.median(y - slope * (x - origin)))
    m = len(slopes)
    spread = Z95 * math.sqrt(max(kendall_variance(y), 0.0))
    low_index = int(max(0, math.floor((m - spread) / 2.0)))
    high_index = int(min(m - 1, math.ceil((m + spread) / 2.0)))
    return Fit(slope, intercept, origin, float(slopes[low_index]), float(slopes[high_index]))


def mann_kendall_z(y: Floats) -> float:
    """Normal score of the Mann-Kendall S statistic (continuity corrected, ties accounted); y in
    time order. Positive: rising."""
    n = len(y)
    if n < 3:
        return 0.0
    i, j = np.triu_indices(n, k=1)
    s = float(np.sum(np.sign(y[j] - y[i])))
    variance = kendall_variance(y)
    if variance <= 0 or s == 0:
        return 0.0
    return (s - math.copysign(1.0, s)) / math.sqrt(variance)


def rank_sum_z(before: Floats, after: Floats) -> float:
    """Mann-Whitney U as a normal score: positive when `after` is larger (ties get mid ranks)."""
    n1, n2 = len(before), len(after)
    if n1 == 0 or n2 == 0:
        return 0.0
    both = np.concatenate([before, after])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both), dtype=np.float64)
    ranks[order] = np.arange(1, len(both) + 1, dtype=np.float64)
    for value in np.unique(both):
        mask = both == value
        if np.count_nonzero(mask) > 1:
            ranks[mask] = ranks[mask].mean()
    u = float(ranks[n1:].sum()) - n2 * (n2 + 1) / 2.0
    mean = n1 * n2 / 2.0
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - _tie_sum(both) / (n * (n - 1)))
    if variance <= 0:
        return 0.0
    return (u - mean) / math.sqrt(variance)


def _tie_sum(values: Floats) -> float:
    _, counts = np.unique(values, return_counts=True)
    t = counts.astype(np.float64)
    return float(np.sum(t**3 - t))


def poisson_sf(k: int, mu: float) -> float:
    """P(X ≥ k) for X ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    term = math.exp(-mu)
    below = term
    for i in range(1, k):
        term *= mu / i
        below += term
    return max(0.0, 1.0 - below)


def mad(values: Floats) -> float:
    """Median absolute deviation scaled to a normal sigma."""
    if len(values) == 0:
        return 0.0
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))
