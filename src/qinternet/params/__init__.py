"""Units and parameters: typed, frozen parameter objects with units in the field names, and presets."""

from qinternet.params.devices import (
    DetectorParams,
    FibreParams,
    PairStatistics,
    QkdSystem,
    SpdcSourceParams,
    WcpSourceParams,
    dark_count_prob_from_background_yield,
)
from qinternet.params.presets import PRESETS, Preset, get_preset
from qinternet.params.units import db_to_transmittance, transmittance_to_db

__all__ = [
    "PRESETS",
    "DetectorParams",
    "FibreParams",
    "PairStatistics",
    "Preset",
    "QkdSystem",
    "SpdcSourceParams",
    "WcpSourceParams",
    "dark_count_prob_from_background_yield",
    "db_to_transmittance",
    "get_preset",
    "transmittance_to_db",
]
