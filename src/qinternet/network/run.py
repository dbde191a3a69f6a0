"""Run a scenario: the library function behind ``qinternet run`` (and behind sweeps and notebooks).

>>> import qinternet
>>> result = qinternet.run_scenario("chicago-ieqnet", duration="10min")  # doctest: +SKIP
>>> result.summary.link("fnal--anl").mean_rate_bps  # doctest: +SKIP
>>> print(result.to_json()[:200])  # what summary.json holds  # doctest: +SKIP

:func:`run_scenario` resolves a built-in scenario or a YAML file, applies the run's options, builds every
link (their passes, settings and expected rates), runs the network on the discrete-event kernel and returns a
:class:`RunResult`: the typed summary (:class:`~qinternet.network.summary.RunSummary`), the time series as
tables, and the raw arrays. Writing it out (``summary.json``, the CSV files, ``report.html``) is
:func:`qinternet.report.files.save_run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.network.attacks import parse_attack_option
from qinternet.network.catalogue import resolve_scenario
from qinternet.network.entanglement_net import EntanglementRun
from qinternet.network.entanglement_run import run_entanglement
from qinternet.network.links.build import BuiltLink, build_links
from qinternet.network.links.entanglement_qkd import entanglement_of
from qinternet.network.schema import LinkModel, Scenario, ScenarioError, load_scenario, parse_duration_s
from qinternet.network.simulate import NetworkRun, simulate
from qinternet.network.summary import RunSummary, summarise
from qinternet.params.serialise import dump_json

if TYPE_CHECKING:
    import pyarrow

__all__ = ["MAX_STEPS", "RunResult", "RunStage", "SeriesTable", "apply_run_options", "run_scenario"]

MAX_STEPS = 10_000_000
"""Most sampling steps a run may have (duration / step)."""

RunStage = Literal["building links", "simulating"]
"""What a run is doing when it reports progress."""


@dataclass(frozen=True, slots=True)
class SeriesTable:
    """A time series in long format: one numpy array per column, all of one length (rows time-major).

    ``to_arrow()`` gives a ``pyarrow.Table`` (``.to_pandas()`` on it, where pandas is installed).
    """

    columns: dict[str, NDArray[Any]]

    def to_arrow(self) -> pyarrow.Table:
        """The table as a ``pyarrow.Table``."""
        import pyarrow as pa

        return pa.table(self.columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What :func:`run_scenario` returns.

    Attributes:
        scenario: the scenario as it ran (options applied).
        summary: per link, per demand, per node and in total (``summary.json`` less ``wall_s``).
        network: the raw record: time series arrays, every block of every link, the paths used.
        links: the built links (their engines: passes, settings, expected rates), in the scenario's order.
        wall_s: wall time of building and simulating, s.
        entanglement: the requests served over memory links (pairs, states, times), or None without requests.
    """

    scenario: Scenario
    summary: RunSummary
    network: NetworkRun
    links: tuple[BuiltLink, ...]
    wall_s: float
    entanglement: EntanglementRun | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``summary.json``: the summary and ``wall_s``."""
        return self.summary.to_dict() | {"wall_s": self.wall_s}

    def to_json(self) -> str:
        """``summary.json``'s text (strict JSON, indented)."""
        return dump_json(self.to_dict())

    def link_series(self) -> SeriesTable:
        """Every link's pool and cumulative key at every step: ``time_s, link, pool_bits, generated_bits``."""
        run = self.network
        ids = [spec.id for spec in self.scenario.links]
        return _long(run.times_s, "link", ids, ("pool_bits", run.pool_bits), ("generated_bits", run.generated_bits))

    def demand_series(self) -> SeriesTable:
        """Every demand's cumulative wanted and delivered key: ``time_s, demand, wanted_bits, delivered_bits``."""
        run = self.network
        ids = [spec.id for spec in self.scenario.demands]
        return _long(
            run.times_s, "demand", ids, ("wanted_bits", run.wanted_bits), ("delivered_bits", run.delivered_bits)
        )


def _long(
    times_s: NDArray[np.float64], key: str, ids: list[str], *values: tuple[str, NDArray[np.float64]]
) -> SeriesTable:
    """Rows ``time_s, <key>, <values...>`` for every instant and id, time-major."""
    n = len(ids)
    columns: dict[str, NDArray[Any]] = {
        "time_s": np.repeat(times_s, n),
        key: np.tile(np.array(ids, dtype=object), times_s.size),
    }
    for name, array in values:
        columns[name] = array.reshape(-1)
    return SeriesTable(columns)


def _seconds(value: str | float | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration_s(value)
    except ValueError as exc:
        raise ParameterError(field, str(exc)) from None
    if seconds <= 0:
        raise ParameterError(field, f"must be > 0, got {value!r}")
    return seconds


def apply_run_options(
    spec: Scenario,
    *,
    duration: str | float | None = None,
    step: str | float | None = None,
    seed: int | None = None,
    model: LinkModel | str | None = None,
    attacks: Sequence[str] = (),
) -> Scenario:
    """``spec`` with the run's options applied (each checked as the scenario's own field would be).

    ``attacks`` are added to the scenario's own, each as ``LINK=KIND[:STRENGTH][@FROM[..UNTIL]]``
    (:func:`qinternet.network.attacks.parse_attack_option`).

    Raises:
        ParameterError: naming ``duration``, ``step``, ``seed``, ``model`` or ``--attack`` and the reason.
    """
    data = spec.model_dump(mode="json")
    given: dict[str, str] = {}  # the scenario field each option changes -> the option
    if (seconds := _seconds(duration, "duration")) is not None:
        data["time"]["duration_s"], given["time.duration_s"] = seconds, "duration"
    if (seconds := _seconds(step, "step")) is not None:
        data["time"]["step_s"], given["time.step_s"] = seconds, "step"
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ParameterError("seed", f"must be a whole number, got {seed!r}")
        if seed < 0:
            raise ParameterError("seed", f"must be >= 0, got {seed}")
        data["seed"], given["seed"] = seed, "seed"
    if model is not None:
        try:
            chosen = LinkModel(model)
        except ValueError:
            known = ", ".join(m.value for m in LinkModel)
            raise ParameterError("model", f"{model!r} is not one of {known}") from None
        data["links"] = [{**link, "model": chosen.value} for link in data["links"]]
        given["model"] = "model"
    own = len(data["attacks"])
    for i, text in enumerate(attacks):
        data["attacks"].append(parse_attack_option(text))
        given[f"attacks[{own + i}]"] = "--attack"
    if not given:
        return spec
    try:
        changed = load_scenario(data)
    except ScenarioError as exc:
        path, reason = exc.errors[0]
        if path == "time":  # step longer than duration: the option given last of the two is at fault
            path = "time.step_s" if "time.step_s" in given else "time.duration_s"
        key = "model" if path.endswith(".model") else path
        field = given.get(key, given.get(key.split(".")[0], "/".join(given.values())))
        raise ParameterError(field, f"{reason} ({path} of the scenario)") from None
    steps = changed.time.duration_s / changed.time.step_s
    if steps > MAX_STEPS:
        raise ParameterError("step", f"gives {steps:.3g} steps; at most {MAX_STEPS:.0e} (use a longer step)")
    return changed


def run_scenario(
    scenario: str | Path | Scenario,
    *,
    duration: str | float | None = None,
    step: str | float | None = None,
    seed: int | None = None,
    model: LinkModel | str | None = None,
    attacks: Sequence[str] = (),
    on_progress: Callable[[RunStage, float], None] | None = None,
) -> RunResult:
    """Run a network over time: key per link, relayed key per demand, pools.

    Args:
        scenario: a built-in scenario's name (``qinternet scenarios list``), a YAML file, or a
            :class:`~qinternet.network.schema.Scenario`.
        duration, step: simulated time and sampling step (seconds, or text such as ``"24h"``, ``"60s"``);
            default: the scenario's ``time``.
        seed: seed of every random stream (default: the scenario's).
        model: ``"analytic"`` or ``"monte-carlo"`` for every link (default: each link's own).
        attacks: attacks added to the scenario's, e.g. ``["l1=intercept-resend:0.3@2h"]``
            (:func:`qinternet.network.attacks.parse_attack_option`).
        on_progress: called with the stage and the fraction of it done (progress bars).

    Raises:
        ScenarioError: the scenario cannot be found or read, or has errors (each named by its path).
        ParameterError: an option is out of range (``duration``, ``step``, ``seed``, ``model``, ``--attack``).
    """
    spec = scenario if isinstance(scenario, Scenario) else resolve_scenario(str(scenario))[0]
    spec = apply_run_options(spec, duration=duration, step=step, seed=seed, model=model, attacks=attacks)

    def report(stage: RunStage) -> Callable[[float], None] | None:
        return None if on_progress is None else lambda done: on_progress(stage, done)

    started = time.perf_counter()
    links = build_links(spec, on_progress=report("building links"))
    simulating = report("simulating")
    network = simulate(
        spec,
        [link.runner for link in links],
        on_step=None if simulating is None else lambda t: simulating(t / spec.time.duration_s),
        baselines=[link.baseline for link in links],
    )
    entanglement = entanglement_of(links) or run_entanglement(spec, spec.time.duration_s)
    wall_s = time.perf_counter() - started
    summary = summarise(
        network, expected_rate_bps=[link.expected_rate_bps for link in links], links=links, entanglement=entanglement
    )
    return RunResult(
        scenario=spec, summary=summary, network=network, links=tuple(links), wall_s=wall_s, entanglement=entanglement
    )
