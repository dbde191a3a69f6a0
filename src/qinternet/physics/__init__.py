"""Pure physical models of the devices of a link: channels (fibre, free space), sources and threshold detectors."""

from qinternet.physics.channels import (
    Channel,
    Concatenated,
    FibreChannel,
    FreeSpaceChannel,
    RamanNoise,
    TwoArm,
    downlink_channel,
    fibre_channel,
)
from qinternet.physics.detectors import (
    ClickProbabilities,
    background_prob,
    coherent_clicks,
    dark_count_with_background,
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
    "Channel",
    "ClickProbabilities",
    "Concatenated",
    "FibreChannel",
    "FreeSpaceChannel",
    "RamanNoise",
    "TwoArm",
    "background_prob",
    "coherent_clicks",
    "dark_count_with_background",
    "downlink_channel",
    "fibre_channel",
    "fibre_transmittance",
    "fock_clicks",
    "fock_vacuum",
    "pair_number_pmf",
    "poisson_pmf",
    "poisson_vacuum",
    "thermal_vacuum",
    "threshold_clicks",
]
