"""QKD protocols: analytic key-rate models, the Monte-Carlo link, detection records and estimates."""

from qinternet.qkd.estimate import LinkEstimate, estimate_from_counts, expected_estimate
from qinternet.qkd.keyrate import PROTOCOLS, KeyRatePoint, Protocol, key_rate, parse_protocol
from qinternet.qkd.montecarlo import LinkSampler, compile_link, count_link, sample_block, simulate_link
from qinternet.qkd.record import Basis, DetectionRecord, LinkCounts

__all__ = [
    "PROTOCOLS",
    "Basis",
    "DetectionRecord",
    "KeyRatePoint",
    "LinkCounts",
    "LinkEstimate",
    "LinkSampler",
    "Protocol",
    "compile_link",
    "count_link",
    "estimate_from_counts",
    "expected_estimate",
    "key_rate",
    "parse_protocol",
    "sample_block",
    "simulate_link",
]
