"""qinternet: a Python stack for the quantum internet.

The names most users need are re-exported here::

    from qinternet import Protocol, fibre_channel, get_preset, key_rate
    system = get_preset("gys2004").system
    point = key_rate(Protocol.DECOY_BB84, system, fibre_channel(system.fibre, 50.0))

They are imported when first used (PEP 562), so that ``import qinternet`` and the command line start
quickly and change no global state.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from qinternet.errors import ParameterError, QinternetError

if TYPE_CHECKING:
    from qinternet.apps.network_apps import run_scenario
    from qinternet.entanglement.purification import PurificationProtocol, purify_rounds
    from qinternet.kms.prepare import KmsPlan, prepare_kmes
    from qinternet.network.experiment import LinkExperiment, run_link_experiment
    from qinternet.network.repeater import ChainEngine, RepeaterResult, RepeaterSettings, run_repeater_chain
    from qinternet.network.run import RunResult
    from qinternet.params import PRESETS, QkdSystem, get_preset
    from qinternet.physics.channels import fibre_channel
    from qinternet.qkd.estimate import LinkEstimate, estimate_from_counts, expected_estimate
    from qinternet.qkd.keyrate import KeyRatePoint, Protocol, fibre_link_channel, key_rate
    from qinternet.qkd.montecarlo import compile_link, count_link, simulate_link
    from qinternet.qkd.record import DetectionRecord, LinkCounts
    from qinternet.report.files import save_run

try:
    __version__ = version("qinternet")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

_LAZY: dict[str, str] = {
    "PRESETS": "qinternet.params",
    "QkdSystem": "qinternet.params",
    "get_preset": "qinternet.params",
    "fibre_channel": "qinternet.physics.channels",
    "LinkEstimate": "qinternet.qkd.estimate",
    "estimate_from_counts": "qinternet.qkd.estimate",
    "expected_estimate": "qinternet.qkd.estimate",
    "KeyRatePoint": "qinternet.qkd.keyrate",
    "Protocol": "qinternet.qkd.keyrate",
    "key_rate": "qinternet.qkd.keyrate",
    "fibre_link_channel": "qinternet.qkd.keyrate",
    "compile_link": "qinternet.qkd.montecarlo",
    "count_link": "qinternet.qkd.montecarlo",
    "simulate_link": "qinternet.qkd.montecarlo",
    "DetectionRecord": "qinternet.qkd.record",
    "LinkCounts": "qinternet.qkd.record",
    "RunResult": "qinternet.network.run",
    "run_scenario": "qinternet.apps.network_apps",
    "save_run": "qinternet.report.files",
    "LinkExperiment": "qinternet.network.experiment",
    "run_link_experiment": "qinternet.network.experiment",
    "KmsPlan": "qinternet.kms.prepare",
    "prepare_kmes": "qinternet.kms.prepare",
    "ChainEngine": "qinternet.network.repeater",
    "RepeaterResult": "qinternet.network.repeater",
    "RepeaterSettings": "qinternet.network.repeater",
    "run_repeater_chain": "qinternet.network.repeater",
    "PurificationProtocol": "qinternet.entanglement.purification",
    "purify_rounds": "qinternet.entanglement.purification",
}
"""Where each re-exported name lives (imported on first use)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qinternet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "PRESETS",
    "ChainEngine",
    "DetectionRecord",
    "KeyRatePoint",
    "KmsPlan",
    "LinkCounts",
    "LinkEstimate",
    "LinkExperiment",
    "ParameterError",
    "Protocol",
    "PurificationProtocol",
    "QinternetError",
    "QkdSystem",
    "RepeaterResult",
    "RepeaterSettings",
    "RunResult",
    "__version__",
    "compile_link",
    "count_link",
    "estimate_from_counts",
    "expected_estimate",
    "fibre_channel",
    "fibre_link_channel",
    "get_preset",
    "key_rate",
    "prepare_kmes",
    "purify_rounds",
    "run_link_experiment",
    "run_repeater_chain",
    "run_scenario",
    "save_run",
    "simulate_link",
]
