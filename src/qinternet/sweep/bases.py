"""What one point of a study runs: the same library call, with the same arguments, as the base's command.

Each base takes its command's settings (``preset``, ``distance_km``, ...), a point's changes by field path and a
seed, and returns the JSON object its command prints with ``--json`` — so a sweep's numbers equal the single runs'
(same settings and seed, same numbers), and its metrics carry the names users already know:

- ``keyrate``: :func:`qinternet.qkd.keyrate.key_rate`; a change is a setting (``distance_km``) or a device
  field (``detector.efficiency``, :func:`qinternet.params.fieldpath.set_fields`). Deterministic: the seed is
  unused.
- ``link``: :func:`qinternet.network.experiment.run_link_experiment` (decoy BB84, Monte-Carlo), same fields.
- ``repeater``: :func:`qinternet.network.repeater.run_repeater_chain`; a change is a field of
  :class:`~qinternet.network.repeater.RepeaterSettings` (``nodes``, ``length_km``, ``cutoff_s``) or of the
  hardware preset below ``hardware.`` (``hardware.node.memory.t2_s``).
- ``scenario``: :func:`qinternet.run_scenario` on the scenario file with the changes written into it
  (``time.duration_s``, ``links.fnal--anl.length_km``, ``link_defaults.devices.detector.efficiency``: list
  entries are named by their ``id``); metrics name fields of ``summary.json`` the same way
  (``totals.secret_bits``, ``demands.d1.met_fraction``).

Bases are pure functions of their arguments (module-level, so that Dask can send them to workers).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from qinternet.errors import ParameterError
from qinternet.network.schema_base import ScenarioError, parse_duration_s
from qinternet.sweep.study import BaseKind, Scalar

__all__ = ["BASE_SETTINGS", "check_settings", "evaluate", "lookup", "prepare", "scalar_metrics"]

BASE_SETTINGS: dict[BaseKind, dict[str, Scalar | None]] = {
    BaseKind.KEYRATE: {"protocol": "decoy-bb84", "preset": "gys2004", "distance_km": 50.0, "block_pulses": None},
    BaseKind.LINK: {"preset": "gys2004", "distance_km": 50.0, "pulses": 1e9, "attack": None, "block_pulses": None},
    BaseKind.REPEATER: {
        "preset": "delft-nv",
        "nodes": 3,
        "length_km": 100.0,
        "cutoff_s": None,
        "purify": None,
        "purify_rounds": 1,
        "purify_schedule": "recurrence",
        "mode": "create-and-keep",
        "pairs": 10_000,
        "engine": "monte-carlo",
    },
    BaseKind.SCENARIO: {"scenario": None, "duration": None, "step": None, "model": None},
}
"""Each base's settings and their defaults (those of its command; ``None``: not set)."""

_HARDWARE = "hardware."


def check_settings(kind: BaseKind, settings: Mapping[str, Any]) -> None:
    """Refuse a setting the base does not have, naming it (``base.settings.pulse``)."""
    known = BASE_SETTINGS[kind]
    for name in settings:
        if name not in known:
            raise ParameterError(
                f"base.settings.{name}", f"is not a setting of the {kind.value} base; it has {', '.join(known)}"
            )
    if kind is BaseKind.SCENARIO and settings.get("scenario") is None:
        raise ParameterError("base.settings.scenario", "the scenario base needs a scenario (a name or a file)")


def _split(
    kind: BaseKind, settings: Mapping[str, Any], changes: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The base's settings with the point's changes to them, and the rest of the changes (field paths)."""
    own = {**BASE_SETTINGS[kind], **settings}
    rest: dict[str, Any] = {}
    for path, value in changes.items():
        if path in own and kind is not BaseKind.SCENARIO:
            own[path] = value
        else:
            rest[path] = value
    return own, rest


def _devices(devices: Any, changes: Mapping[str, Any]) -> Any:
    from qinternet.params.fieldpath import set_fields

    return set_fields(devices, changes) if changes else devices


def _keyrate(settings: Mapping[str, Any], changes: Mapping[str, Any], seed: int) -> Callable[[], dict[str, Any]]:
    from qinternet.qkd.keyrate import KeyRateOptions, fibre_link_channel, key_rate, parse_protocol, protocol_devices

    own, fields = _split(BaseKind.KEYRATE, settings, changes)
    protocol = parse_protocol(str(own["protocol"]), "base.settings.protocol")
    devices, label = protocol_devices(protocol, str(own["preset"]))
    devices = _devices(devices, fields)
    block = own["block_pulses"]
    options = KeyRateOptions(block_pulses=None if block is None else float(block))
    channel = fibre_link_channel(devices, float(own["distance_km"]))

    def run() -> dict[str, Any]:
        point = dataclasses.replace(key_rate(protocol, devices, channel, options=options), device_set=label)
        result: dict[str, Any] = point.to_dict()
        return result

    return run


def _link(settings: Mapping[str, Any], changes: Mapping[str, Any], seed: int) -> Callable[[], dict[str, Any]]:
    from qinternet.network.experiment import run_link_experiment
    from qinternet.params import get_preset
    from qinternet.physics.channels import fibre_channel

    own, fields = _split(BaseKind.LINK, settings, changes)
    preset = str(own["preset"])
    system = _devices(get_preset(preset).system, fields)
    fibre_channel(system.fibre, float(own["distance_km"]))  # the link's channel, checked before any run
    block = own["block_pulses"]

    def run() -> dict[str, Any]:
        experiment = run_link_experiment(
            preset=preset,
            system=system,
            distance_km=float(own["distance_km"]),
            pulses=int(float(own["pulses"])),
            seed=seed,
            attack=None if own["attack"] is None else str(own["attack"]),
            block_pulses=None if block is None else int(float(block)),
        )
        return experiment.to_dict()

    return run


def _repeater(settings: Mapping[str, Any], changes: Mapping[str, Any], seed: int) -> Callable[[], dict[str, Any]]:
    from qinternet.entanglement.chain import DeliveryMode
    from qinternet.entanglement.purification import PurificationProtocol, PurificationSchedule
    from qinternet.network.repeater import ChainEngine, RepeaterSettings, run_repeater_chain
    from qinternet.params.repeater_presets import repeater_preset

    own, fields = _split(BaseKind.REPEATER, settings, changes)
    unknown = [path for path in fields if not path.startswith(_HARDWARE)]
    if unknown:
        known = ", ".join([*BASE_SETTINGS[BaseKind.REPEATER], "hardware.<field path>"])
        raise ParameterError(unknown[0], f"is not a field of the repeater base; it has {known}")
    cutoff = own["cutoff_s"]
    chain = RepeaterSettings(
        preset=str(own["preset"]),
        nodes=int(own["nodes"]),
        length_km=float(own["length_km"]),
        cutoff_s=None if cutoff is None else parse_duration_s(cutoff),
        purify=None if own["purify"] is None else PurificationProtocol(str(own["purify"])),
        purify_rounds=int(own["purify_rounds"]),
        purify_schedule=PurificationSchedule(str(own["purify_schedule"])),
        mode=DeliveryMode(str(own["mode"])),
        pairs=int(float(own["pairs"])),
        seed=seed,
    )
    engine = ChainEngine(str(own["engine"]))
    hardware_changes = {path.removeprefix(_HARDWARE): value for path, value in fields.items()}
    hardware = _devices(repeater_preset(chain.preset), hardware_changes) if hardware_changes else None

    def run() -> dict[str, Any]:
        result: dict[str, Any] = run_repeater_chain(chain, engine, hardware=hardware).to_dict()
        return result

    return run


def _scenario(settings: Mapping[str, Any], changes: Mapping[str, Any], seed: int) -> Callable[[], dict[str, Any]]:
    from qinternet.apps.network_apps import run_scenario
    from qinternet.network.catalogue import resolve_scenario
    from qinternet.network.scenario_yaml import parse_yaml
    from qinternet.network.schema import load_scenario

    own, fields = _split(BaseKind.SCENARIO, settings, changes)
    _, text = resolve_scenario(str(own["scenario"]))
    data = copy.deepcopy(parse_yaml(text))
    for path, value in fields.items():
        _assign(data, path, value)
    try:
        scenario = load_scenario(data)  # type: ignore[arg-type]
    except ScenarioError as exc:
        raise ScenarioError([(f"scenario {path}", reason) for path, reason in exc.errors]) from None

    def run() -> dict[str, Any]:
        return run_scenario(
            scenario, duration=own["duration"], step=own["step"], seed=seed, model=own["model"]
        ).to_dict()

    return run


_BASES: dict[BaseKind, Callable[[Mapping[str, Any], Mapping[str, Any], int], Callable[[], dict[str, Any]]]] = {
    BaseKind.KEYRATE: _keyrate,
    BaseKind.LINK: _link,
    BaseKind.REPEATER: _repeater,
    BaseKind.SCENARIO: _scenario,
}


def prepare(kind: BaseKind, settings: Mapping[str, Any], changes: Mapping[str, Any], seed: int) -> Callable[[], Any]:
    """The run of one point, built and checked but not started: every setting and change is validated here.

    Raises:
        ParameterError: a field path that does not exist or a value its field refuses, named by its path.
        ScenarioError: the scenario base's file with the changes written into it is not a valid scenario.
    """
    check_settings(kind, settings)
    try:
        return _BASES[kind](settings, changes, seed)
    except ParameterError as exc:
        raise _as_written(kind, exc, changes) from None
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ParameterError("base.settings", str(exc)) from None


_SETTING_OF = {"channel.length_km": "distance_km"}
"""Fields the models name otherwise than the base's setting that sets them."""


def _as_written(kind: BaseKind, exc: ParameterError, changes: Mapping[str, Any]) -> ParameterError:
    """``exc`` naming a base's setting as the study wrote it: ``distance_km`` when varied, else
    ``base.settings.distance_km``; field paths of devices and hardware stay as they are."""
    name = _SETTING_OF.get(exc.field, exc.field)
    if name not in BASE_SETTINGS[kind] or kind is BaseKind.SCENARIO:
        return exc
    return ParameterError(name if name in changes else f"base.settings.{name}", exc.reason)


def evaluate(kind: BaseKind, settings: Mapping[str, Any], changes: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The JSON object the base's command prints for these settings, changes and seed."""
    result: dict[str, Any] = prepare(kind, settings, changes, seed)()
    return result


# ---------------------------------------------------------------------------------------------------------
# Paths into JSON-like data: dict keys, and list entries by their id (or name, or index)
# ---------------------------------------------------------------------------------------------------------


def _entry(items: list[Any], parts: list[str]) -> tuple[int, int] | None:
    """The index of the list entry the leading ``parts`` name (its ``id``/``name``, which may hold dots, or its
    index), and how many parts that took; None when none matches."""
    for taken in range(len(parts), 0, -1):
        name = ".".join(parts[:taken])
        for index, item in enumerate(items):
            if isinstance(item, Mapping) and name in (item.get("id"), item.get("name")):
                return index, taken
    if parts[0].isdigit() and int(parts[0]) < len(items):
        return int(parts[0]), 1
    return None


def _key(mapping: Mapping[str, Any], parts: list[str]) -> tuple[str, int] | None:
    for taken in range(len(parts), 0, -1):
        name = ".".join(parts[:taken])
        if name in mapping:
            return name, taken
    return None


def lookup(data: Any, path: str) -> Any:
    """The value at ``path`` in JSON-like ``data`` (``links.fnal--anl.mean_rate_bps``).

    Raises:
        KeyError: with the part of the path that is not there.
    """
    node, parts = data, path.split(".")
    while parts:
        if isinstance(node, Mapping) and (found := _key(node, parts)) is not None:
            node, parts = node[found[0]], parts[found[1] :]
        elif isinstance(node, list) and (at := _entry(node, parts)) is not None:
            node, parts = node[at[0]], parts[at[1] :]
        else:
            raise KeyError(parts[0])
    return node


def _assign(data: Any, path: str, value: Any) -> None:
    """Write ``value`` at ``path`` in ``data``, making the mappings on the way that the file leaves out."""
    node, parts = data, path.split(".")
    while len(parts) > 1:
        if isinstance(node, list):
            at = _entry(node, parts[:-1])
            if at is None:
                raise ParameterError(path, f"no entry {parts[0]!r} in the scenario's list")
            node, parts = node[at[0]], parts[at[1] :]
        elif isinstance(node, dict):
            found = _key(node, parts[:-1])
            if found is None:
                node = node.setdefault(parts[0], {})
                parts = parts[1:]
            else:
                node, parts = node[found[0]], parts[found[1] :]
        else:
            raise ParameterError(path, f"{parts[0]!r} is below a value, not a section of the scenario")
        if not isinstance(node, dict | list):
            raise ParameterError(path, "goes below a value, not a section of the scenario")
    if not isinstance(node, dict):
        raise ParameterError(path, "names a list entry, not a field")
    node[parts[0]] = value


def scalar_metrics(output: Mapping[str, Any], metrics: list[str], kind: BaseKind) -> dict[str, Scalar | None]:
    """The study's metrics out of one run's output: each a number, text, flag or null.

    Raises:
        ParameterError: naming ``metrics[i]`` when the base's output has no such value.
    """
    row: dict[str, Scalar | None] = {}
    for index, name in enumerate(metrics):
        try:
            value = lookup(output, name)
        except KeyError:
            fields = ", ".join(k for k, v in output.items() if not isinstance(v, dict | list))
            raise ParameterError(
                f"metrics[{index}]", f"{name!r} is not in the {kind.value} base's output; its values: {fields}"
            ) from None
        if isinstance(value, dict | list):
            raise ParameterError(f"metrics[{index}]", f"{name!r} is a section of the output, not one value")
        row[name] = value
    return row
