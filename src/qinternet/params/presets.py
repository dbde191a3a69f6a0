"""Named presets that reproduce published QKD set-ups.

Each preset is a :class:`QkdSystem` with the source it comes from. Values not given by the publication
are marked as qinternet's choice in the preset's ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from qinternet.errors import ParameterError
from qinternet.params.devices import (
    DetectorParams,
    FibreParams,
    PairStatistics,
    QkdSystem,
    SpdcSourceParams,
    WcpSourceParams,
    dark_count_prob_from_background_yield,
)

__all__ = ["PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    """A published set-up: its parameters and where they come from."""

    name: str
    title: str
    citation: str
    notes: str
    system: QkdSystem


_GYS2004 = Preset(
    name="gys2004",
    title="Gobby-Yuan-Shields 122 km fibre QKD, as used for the decoy-state curves of Ma et al.",
    citation=(
        "Gobby, Yuan, Shields, APL 84, 3762 (2004); parameters as in Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Table I"
    ),
    notes=(
        "alpha = 0.21 dB/km, e_d = 3.3 %, Y0 = 1.7e-6 (both detectors), eta_Bob = 4.5 %, f = 1.22, "
        "q = 1/2, 2 MHz. Signal 0.48 and weak decoy 0.05 with a vacuum decoy as in Ma et al. 2005, "
        "Fig. 2; the class probabilities (0.8, 0.1, 0.1) for the Monte-Carlo are qinternet's choice."
    ),
    system=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.21),
        detector=DetectorParams(
            efficiency=0.045,
            dark_count_prob=dark_count_prob_from_background_yield(1.7e-6),
        ),
        source=WcpSourceParams(
            signal_intensity=0.48,
            decoy_intensities=(0.05, 0.0),
            intensity_probs=(0.8, 0.1, 0.1),
            rep_rate_hz=2e6,
        ),
        spdc=SpdcSourceParams(mean_pair_number=0.1, statistics=PairStatistics.THERMAL, rep_rate_hz=2e6),
        misalignment_error=0.033,
        ec_efficiency=1.22,
        basis_prob=0.5,
    ),
)

_LIM2014 = Preset(
    name="lim2014",
    title="Lim-Curty-Walenta-Xu-Zbinden practical decoy-state BB84 (finite-key simulations)",
    citation="Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), simulation parameters of Sec. IV",
    notes=(
        "alpha = 0.2 dB/km, eta_Bob = 10 %, p_dc = 6e-7, p_ap = 4 %, e_mis = 0.5 %, f_EC = 1.16, "
        "weakest decoy 2e-4. The finite-key model re-optimises the other intensities and the "
        "probabilities per distance; the values here (and 1 GHz) are qinternet's starting points."
    ),
    system=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.2),
        detector=DetectorParams(efficiency=0.1, dark_count_prob=6e-7, after_pulse_prob=0.04),
        source=WcpSourceParams(
            signal_intensity=0.5,
            decoy_intensities=(0.1, 0.0002),
            intensity_probs=(0.7, 0.2, 0.1),
            rep_rate_hz=1e9,
        ),
        spdc=SpdcSourceParams(mean_pair_number=0.1, statistics=PairStatistics.THERMAL, rep_rate_hz=1e9),
        misalignment_error=0.005,
        ec_efficiency=1.16,
        basis_prob=0.5,
    ),
)

_MICIUS2017 = Preset(
    name="micius2017",
    title="Micius satellite-to-ground decoy-state BB84 downlink to Xinglong",
    citation="Liao et al., Nature 549, 43 (2017)",
    notes=(
        "100 MHz, intensities 0.8 / 0.1 / 0 with probabilities 0.5 / 0.25 / 0.25, bases 50/50 (as Baidu QNET "
        "transcribes the paper). The ground receiver's detection efficiency 0.5, dark and background "
        "counts 3e-7 per detector per pulse, misalignment 1 % (for the ~1 % QBER reported) and f = 1.16 are "
        "qinternet's choices: the paper's receiver budget was not at hand. The channel (free-space optics, "
        "no fibre) is the scenario's."
    ),
    system=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.0),
        detector=DetectorParams(efficiency=0.5, dark_count_prob=3e-7),
        source=WcpSourceParams(
            signal_intensity=0.8,
            decoy_intensities=(0.1, 0.0),
            intensity_probs=(0.5, 0.25, 0.25),
            rep_rate_hz=1e8,
        ),
        spdc=SpdcSourceParams(mean_pair_number=0.1, statistics=PairStatistics.THERMAL, rep_rate_hz=1e8),
        misalignment_error=0.01,
        ec_efficiency=1.16,
        basis_prob=0.5,
    ),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (_GYS2004, _LIM2014, _MICIUS2017)}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a :class:`ParameterError` naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError("preset", f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
