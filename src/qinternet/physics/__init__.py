"""Pure physical models of the devices of a link: fibre, sources and threshold detectors."""

from qinternet.physics.detectors import (
    ClickProbabilities,
    background_prob,
    coherent_clicks,
    fock_clicks,
    threshold_clicks,
)
from qinternet.physics.fibre import fibre_transmittance
from qinternet.physics.sources import (
    fock_vacuum,
    pair_number_pmf,
    poisson_pmf,
    poisson_vacuum,
    thermal_vacuum,
)

__all__ = [
    "ClickProbabilities",
    "background_prob",
    "coherent_clicks",
    "fibre_transmittance",
    "fock_clicks",
    "fock_vacuum",
    "pair_number_pmf",
    "poisson_pmf",
    "poisson_vacuum",
    "thermal_vacuum",
    "threshold_clicks",
]
