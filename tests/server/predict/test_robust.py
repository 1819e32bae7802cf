"""The robust statistics against values worked out by hand."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from server.predict.robust import (
    mad,
    mann_kendall_z,
    normal_cdf,
    poisson_sf,
    rank_sum_z,
    theil_sen,
)


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_theil_sen_recovers_an_exact_line_and_ignores_one_wild_point() -> None:
    x = np.arange(10, dtype=np.float64)
    fit = theil_sen(x, 2.0 * x + 1.0)
    assert fit.slope == 2.0
    assert math.isclose(fit.at(0.0), 1.0)
    y = 2.0 * x + 1.0
    y[5] = 65535.0
    wild = theil_sen(x, y)
    assert wild.slope == 2.0
    assert wild.slope_low <= 2.0 <= wild.slope_high


def test_theil_sen_band_is_sens_ranks() -> None:
    # Slopes of (0,0),(1,1),(2,4): 1, 2, 3; n=3, var S = 3*2*11/18 = 3.667, C = 1.96*1.915=3.75,
    # so the band runs over all three pairwise slopes.
    fit = theil_sen(arr(0, 1, 2), arr(0, 1, 4))
    assert (fit.slope, fit.slope_low, fit.slope_high) == (2.0, 1.0, 3.0)


def test_mann_kendall_sign_and_size() -> None:
    # n=5 strictly rising: S=10, var=5*4*15/18=16.67, z=(10-1)/4.08=2.204.
    assert math.isclose(mann_kendall_z(arr(1, 2, 3, 4, 5)), 9 / math.sqrt(50 / 3))
    assert mann_kendall_z(arr(5, 4, 3, 2, 1)) < 0
    assert mann_kendall_z(arr(3, 3, 3, 3)) == 0.0
    assert mann_kendall_z(arr(1, 2)) == 0.0


def test_rank_sum_score_points_to_the_larger_side() -> None:
    low, high = arr(1, 2, 3, 4), arr(10, 11, 12)
    assert rank_sum_z(low, high) > 2.0
    assert rank_sum_z(high, low) < -2.0
    assert rank_sum_z(arr(), high) == 0.0
    assert rank_sum_z(arr(5, 5), arr(5, 5)) == 0.0


def test_poisson_tail_by_hand() -> None:
    mu = 0.5
    assert poisson_sf(0, mu) == 1.0
    assert math.isclose(poisson_sf(1, mu), 1 - math.exp(-mu))
    assert math.isclose(poisson_sf(2, mu), 1 - math.exp(-mu) * (1 + mu))


def test_normal_cdf_and_mad() -> None:
    assert math.isclose(normal_cdf(0.0), 0.5)
    assert math.isclose(normal_cdf(1.959963984540054), 0.975, rel_tol=1e-9)
    assert math.isclose(mad(arr(1, 2, 3, 4, 100)), 1.4826)
    assert mad(arr()) == 0.0


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=30),
    st.floats(-100, 100),
)
def test_theil_sen_band_contains_its_slope(noise: list[float], slope: float) -> None:
    x = np.arange(len(noise), dtype=np.float64)
    fit = theil_sen(x, slope * x + np.array(noise))
    assert fit.slope_low <= fit.slope <= fit.slope_high
