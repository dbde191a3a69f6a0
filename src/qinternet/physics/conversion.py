"""Quantum frequency conversion: the converter's efficiency and the noise photons it adds per detection gate.

Difference-frequency conversion in a periodically poled crystal shifts a memory's photon (637 nm for NV,
737 nm for SiV, 780/795 nm for Rb) to a telecom band with an external efficiency ``eta_qfc`` and adds noise
photons, mostly spontaneous Raman and parametric fluorescence of the strong pump, at a rate proportional to
the pump power and to the filter bandwidth (Dréau et al., PR Applied 9, 064031 (2018), Sec. IV; Tchebotareva
et al., PRL 123, 063601 (2019); van Leent et al., Nature 607, 69 (2022), Methods). Noise photons within one
detection gate are Poissonian; they reach the detectors through the same loss as the signal.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from qinternet.errors import ParameterError
from qinternet.params.hardware import ConversionParams
from qinternet.physics.channels import FloatArray

__all__ = ["conversion_noise_per_gate", "effective_dark_count_prob", "noise_click_prob"]


def conversion_noise_per_gate(conversion: ConversionParams, detection_window_s: float) -> float:
    """Mean number of noise photons the converter adds in one gate: ``noise_rate_hz * detection_window_s``.

    Dréau et al., PR Applied 9, 064031 (2018), Sec. IV: the noise count rate after filtering is constant in
    time, so the noise per gate scales with the gate length.
    """
    if not detection_window_s > 0.0:
        raise ParameterError("station.detection_window_s", f"must be > 0, got {detection_window_s}")
    return conversion.noise_rate_hz * detection_window_s


def noise_click_prob(mean_noise_photons: ArrayLike, efficiency: ArrayLike) -> FloatArray:
    """Probability that Poissonian noise photons (mean ``n``) click a detector reached with ``efficiency``.

    ``1 - exp(-n eta)`` (a Poisson number of photons, each reaching the detector independently).
    """
    n = np.asarray(mean_noise_photons, dtype=np.float64)
    eta = np.asarray(efficiency, dtype=np.float64)
    return np.asarray(-np.expm1(-n * eta), dtype=np.float64)


def effective_dark_count_prob(dark_count_prob: ArrayLike, noise_prob: ArrayLike) -> FloatArray:
    """Background click probability per gate of a detector with dark counts and noise: ``1 - (1-p_d)(1-p_n)``."""
    pd = np.asarray(dark_count_prob, dtype=np.float64)
    pn = np.asarray(noise_prob, dtype=np.float64)
    return np.asarray(1.0 - (1.0 - pd) * (1.0 - pn), dtype=np.float64)
