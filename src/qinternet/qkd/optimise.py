"""Maximisation of a key rate over one intensity: a vectorised grid, then a bounded Brent refinement."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

__all__ = ["maximise_scalar"]

_GRID_POINTS = 160


def maximise_scalar(
    rate: Callable[[NDArray[np.float64]], NDArray[np.float64]], lower: float, upper: float
) -> tuple[float, float]:
    """The argument in ``[lower, upper]`` that maximises ``rate`` and the maximum, ``(x*, rate(x*))``.

    ``rate`` must be vectorised. A log-spaced grid finds the best cell (so that a rate that is zero over
    most of the range, as near a cut-off, is handled), then Brent's bounded method refines inside the
    neighbouring cells. When the rate is zero everywhere, the result is ``(nan, 0.0)``.
    """
    grid = np.geomspace(lower, upper, _GRID_POINTS)
    values = rate(grid)
    best = int(np.argmax(values))
    if not values[best] > 0.0:
        return float("nan"), 0.0
    lo = grid[max(best - 1, 0)]
    hi = grid[min(best + 1, _GRID_POINTS - 1)]
    result = optimize.minimize_scalar(
        lambda x: -float(rate(np.array([x]))[0]),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-6 * hi},
    )
    x_star = float(result.x)
    value = float(rate(np.array([x_star]))[0])
    if value < values[best]:
        return float(grid[best]), float(values[best])
    return x_star, value
