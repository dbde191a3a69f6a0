"""qinternet: a Python stack for the quantum internet.

The names most users need are re-exported here::

    from qinternet import get_preset, key_rate, Protocol
    point = key_rate(Protocol.DECOY_BB84, get_preset("gys2004").system, 50.0)
"""

from importlib.metadata import PackageNotFoundError, version

from qinternet.errors import ParameterError, QinternetError
from qinternet.params import PRESETS, QkdSystem, get_preset
from qinternet.qkd.estimate import LinkEstimate, estimate_from_counts, expected_estimate
from qinternet.qkd.keyrate import KeyRatePoint, Protocol, key_rate
from qinternet.qkd.montecarlo import compile_link, count_link, simulate_link
from qinternet.qkd.record import DetectionRecord, LinkCounts

try:
    __version__ = version("qinternet")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "PRESETS",
    "DetectionRecord",
    "KeyRatePoint",
    "LinkCounts",
    "LinkEstimate",
    "ParameterError",
    "Protocol",
    "QinternetError",
    "QkdSystem",
    "__version__",
    "compile_link",
    "count_link",
    "estimate_from_counts",
    "expected_estimate",
    "get_preset",
    "key_rate",
    "simulate_link",
]
