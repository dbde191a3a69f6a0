"""``qinternet repeater``: waiting time and fidelity of end-to-end entanglement over a repeater chain.

``--model physical`` (the default) is a chain of identical nodes of a hardware preset over fibre
(:mod:`qinternet.network.repeater`): rates in pairs per second, fidelity, the secret key it gives and the
repeaterless bound beside it, at one length or over a sweep of lengths with a figure. ``--model abstract`` is the
chain of Brand, Coopmans, Elkouss (IEEE JSAC 38, 619 (2020)) in units of
generation attempts, with the memory cut-off of Li, Coopmans, Elkouss (IEEE Trans. Quantum Eng. 2 (2021));
see :mod:`qinternet.entanglement.abstract`. Each model reads its own options in its own function
(:data:`_MODELS`), so that another model adds one member to :class:`Model`, its options and one function.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from qinternet.cli import options as opt
from qinternet.cli.output import check_output_path, dump_json, writing
from qinternet.entanglement.chain import DeliveryMode
from qinternet.entanglement.purification import PurificationProtocol, PurificationSchedule
from qinternet.errors import ParameterError

__all__ = ["Engine", "Model", "repeater"]


class Model(enum.StrEnum):
    """The repeater models ``--model`` chooses."""

    PHYSICAL = "physical"
    ABSTRACT = "abstract"


class SwapPolicy(enum.StrEnum):
    """When the nodes of a physical chain swap."""

    NESTED = "nested"
    ASAP = "asap"


class Engine(enum.StrEnum):
    """How the answer is computed: exactly, or by sampling end-to-end links."""

    ANALYTIC = "analytic"
    MONTE_CARLO = "monte-carlo"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Given:
    """The command's options as typed (None: not given)."""

    p_gen: float | None
    p_swap: float
    segments: int
    w0: float
    coherence_attempts: float | None
    cutoff_attempts: int | None
    pairs: float | None
    seed: int
    engine: Engine | None
    preset: str
    nodes: int
    length_km: float | None
    distance_km: str | None
    cutoff: str | None
    purify: PurificationProtocol | None
    purify_rounds: int
    purify_schedule: PurificationSchedule
    purify_level: int
    mode: DeliveryMode
    plot: Path | None
    swap: str
    communication_qubits: int | None
    given_abstract: tuple[str, ...]
    given_physical: tuple[str, ...]


_ABSTRACT_FIELDS = ("p_gen", "p_swap", "segments", "w0", "coherence_attempts", "cutoff_attempts", "pairs", "engine")
"""Fields of the abstract model whose errors name the option of the same name (``p_gen`` -> ``--p-gen``)."""


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _abstract(given: _Given) -> dict[str, Any]:
    """Run the abstract chain (the analytic engine unless --engine says otherwise or the chain is too long
    for it) and return its JSON record."""
    import numpy as np

    from qinternet.entanglement.abstract import AbstractChainParams, run_abstract_chain
    from qinternet.entanglement.analytic import TruncationError

    if given.p_gen is None:
        raise ParameterError("--p-gen", "the abstract model needs the elementary-link success probability")
    if given.given_physical:
        raise ParameterError(given.given_physical[0], "is an option of --model physical, not of --model abstract")
    pairs = opt.parse_count(ABSTRACT_PAIRS if given.pairs is None else given.pairs, "--pairs")
    try:
        params = AbstractChainParams(
            p_gen=given.p_gen,
            p_swap=given.p_swap,
            segments=given.segments,
            w0=given.w0,
            coherence_attempts=given.coherence_attempts,
            cutoff_attempts=given.cutoff_attempts,
        )
        rng = np.random.default_rng(given.seed)
        if given.engine is None:
            try:
                result = run_abstract_chain(params, pairs=pairs, engine="analytic", rng=rng)
            except TruncationError:  # the distribution is too long to hold: sample it instead
                result = run_abstract_chain(params, pairs=pairs, engine="monte-carlo", rng=rng)
        else:
            chosen: Literal["analytic", "monte-carlo"] = (
                "analytic" if given.engine is Engine.ANALYTIC else "monte-carlo"
            )
            result = run_abstract_chain(params, pairs=pairs, engine=chosen, rng=rng)
    except ParameterError as error:
        if error.field in _ABSTRACT_FIELDS:
            raise ParameterError(_option(error.field), error.reason) from None
        raise
    data = result.to_dict()
    data["seed"] = given.seed if result.engine == "monte-carlo" else None
    return data


ABSTRACT_PAIRS = 1e5
"""End-to-end links the abstract model samples unless --pairs says otherwise."""
PHYSICAL_PAIRS = 1e4
"""End-to-end pairs the physical model draws per length unless --pairs says otherwise."""


def _physical(given: _Given) -> dict[str, Any] | list[dict[str, Any]]:
    """Run the hardware chain at one length (a JSON object) or over a sweep of lengths (a list, and a figure)."""
    from qinternet.cli.network_cmd import parse_duration_option
    from qinternet.network.repeater import ChainEngine, RepeaterSettings

    if given.given_abstract:
        raise ParameterError(given.given_abstract[0], "is an option of --model abstract, not of --model physical")
    if given.length_km is not None and given.distance_km is not None:
        raise ParameterError("--distance-km", "give --length-km or --distance-km, not both")
    if given.plot is not None:
        check_output_path(given.plot, "--plot", (".png", ".svg", ".pdf"))
    lengths = (
        [given.length_km if given.length_km is not None else DEFAULT_LENGTH_KM]
        if given.distance_km is None
        else opt.parse_distances(given.distance_km)
    )
    sweep = given.distance_km is not None and opt.is_sweep(given.distance_km)
    if given.plot is not None and not sweep:
        raise ParameterError("--plot", "draws a sweep: give --distance-km START:STOP:STEP")
    protocol = given.purify
    cutoff = None if given.cutoff is None else parse_duration_option(given.cutoff, "--cutoff", allow_zero=True)
    if given.swap == "asap" and given.engine is not None:
        raise ParameterError("--engine", "--swap asap runs on the event-driven engine; leave --engine out")
    if given.swap == "asap":
        engine = ChainEngine.EVENTS_ASAP
    else:
        engine = ChainEngine.MONTE_CARLO if given.engine is None else ChainEngine(given.engine.value)
    pairs = opt.parse_count(PHYSICAL_PAIRS if given.pairs is None else given.pairs, "--pairs")
    if given.purify_level and protocol is None:
        raise ParameterError("--purify-level", "purifies with the protocol of --purify: give it too")
    if given.purify_level > MAX_PURIFY_LEVEL:
        raise ParameterError("--purify-level", f"must be at most {MAX_PURIFY_LEVEL}, got {given.purify_level}")
    levels = tuple(range(given.purify_level + 1))

    def settings(length_km: float, preset: str = given.preset) -> RepeaterSettings:
        return RepeaterSettings(
            preset=preset,
            nodes=given.nodes,
            length_km=length_km,
            cutoff_s=cutoff,
            purify=protocol,
            purify_rounds=given.purify_rounds,
            purify_schedule=given.purify_schedule,
            purify_levels=levels,
            mode=given.mode,
            pairs=pairs,
            seed=given.seed,
            communication_qubits=given.communication_qubits,
        )

    try:
        if not sweep:
            one: dict[str, Any] = _run_one(settings(lengths[0]), engine).to_dict()
            return one
        return _sweep(settings, lengths, engine, given.plot)
    except ParameterError as error:
        raise ParameterError(_PHYSICAL_FIELDS.get(error.field, error.field), error.reason) from None


_ROW_KEYS = (
    "preset", "nodes", "length_km", "engine", "pairs", "pairs_per_s", "mean_fidelity", "fidelity_ci95",
    "waiting_time_s", "secret_key_rate_bps", "chsh", "plob_bps", "wall_s",
)  # fmt: skip
"""The fields of a sweep's row where no pair arrives (null, with ``error`` saying why)."""

MAX_PURIFY_LEVEL = 17
"""Highest nesting level --purify-level takes (a chain of the most nodes has 17 levels)."""

DEFAULT_LENGTH_KM = 100.0
"""End-to-end fibre of the physical chain unless --length-km says otherwise."""


def _run_one(settings: Any, engine: Any) -> Any:
    from qinternet.network.repeater import run_repeater_chain

    return run_repeater_chain(settings, engine)


_PHYSICAL_FIELDS = {
    "nodes": "--nodes",
    "length_km": "--length-km",
    "cutoff": "--cutoff",
    "pairs": "--pairs",
    "preset": "--preset",
    "engine": "--engine",
    "purify_rounds": "--purify-rounds",
    "purify.levels": "--purify-level",
    "seed": "--seed",
    "purify": "--purify",
    "swap.duration_s": "--swap",
    "mode": "--mode",
    "communication_qubits": "--communication-qubits",
    "node.communication_qubits": "--communication-qubits",
}
"""Fields of the physical model whose errors name a CLI option."""


def _sweep(settings: Callable[..., Any], lengths: list[float], engine: Any, plot: Path | None) -> list[dict[str, Any]]:
    """Every length of the sweep: a record each (a length where no pair arrives says why, with null rates), and
    the figure with the same chain on perfect memories and the repeaterless bound."""
    import dataclasses

    from qinternet.cli.output import progress_bar
    from qinternet.network.repeater import run_repeater_chain
    from qinternet.params.hardware import MemoryParams
    from qinternet.params.repeater_presets import repeater_preset

    first = settings(lengths[0])
    hardware = repeater_preset(first.preset)
    perfect = dataclasses.replace(
        hardware, node=dataclasses.replace(hardware.node, memory=MemoryParams(modes=hardware.node.memory.modes))
    )
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[Any]] = {f"{first.preset}, {first.nodes} nodes": [], "same, perfect memories": []}
    with progress_bar() as progress:
        task = progress.add_task("repeater chain", total=len(lengths))
        for length in lengths:
            try:
                result = run_repeater_chain(settings(length), engine)
                rows.append(result.to_dict())
                curves[f"{first.preset}, {first.nodes} nodes"].append(result)
            except ParameterError as error:
                if error.field not in ("length_km", "cutoff", "pairs", "engine"):
                    raise
                rows.append(dict.fromkeys(_ROW_KEYS) | {"length_km": length, "error": str(error)})
            if plot is not None:
                with contextlib.suppress(ParameterError):  # no pair there even with perfect memories
                    ideal = run_repeater_chain(settings(length), engine, hardware=perfect)
                    curves["same, perfect memories"].append(ideal)
            progress.advance(task)
    if plot is not None:
        _save_plot(curves, plot, first.preset)
    return rows


def _save_plot(curves: dict[str, list[Any]], path: Path, preset: str) -> None:
    from matplotlib.figure import Figure

    from qinternet.outputs import replacing
    from qinternet.report.repeater import plot_repeater_key_rates

    fig = Figure(figsize=(6.4, 4.6), layout="constrained")  # no pyplot: the backend stays the caller's
    plot_repeater_key_rates(
        fig.add_subplot(), curves, title=f"Repeater chain against the repeaterless bound ({preset})"
    )
    with replacing(path, "--plot") as temporary, writing(path, "--plot"):
        fig.savefig(temporary, dpi=150, format=path.suffix.lower().lstrip("."))


_MODELS: dict[Model, Callable[[_Given], Any]] = {Model.PHYSICAL: _physical, Model.ABSTRACT: _abstract}
"""How each model runs: its options in, its JSON record out."""


_ABSTRACT_OPTIONS = ("p_gen", "p_swap", "segments", "w0", "coherence_attempts", "cutoff_attempts")
_PHYSICAL_OPTIONS = (
    "preset", "nodes", "length_km", "distance_km", "cutoff", "purify", "purify_rounds", "purify_schedule",
    "purify_level", "mode", "plot", "swap", "communication_qubits",
)  # fmt: skip


def _typed(ctx: typer.Context, names: tuple[str, ...]) -> tuple[str, ...]:
    """The options among ``names`` given on the command line (not left at their defaults), as ``--options``."""
    typed = []
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name == "COMMANDLINE":  # Typer vendors click: compare by name
            typed.append(_option(name))
    return tuple(typed)


def repeater(
    ctx: typer.Context,
    model: Annotated[
        Model,
        typer.Option(help="physical: a chain of hardware-preset nodes over fibre; abstract: units of attempts."),
    ] = Model.PHYSICAL,
    preset: Annotated[
        str, typer.Option(help="physical: hardware preset (delft-nv, ustc-rb, harvard-siv-2024, ...).")
    ] = "near-term",
    nodes: Annotated[int, typer.Option(help="physical: nodes including both ends (at least 2).")] = 3,
    length_km: Annotated[
        float | None,
        typer.Option(
            "--length-km",
            help="physical: fibre from end to end, km; the nodes - 1 links share it equally (default 100).",
        ),
    ] = None,
    distance_km: Annotated[
        str | None,
        typer.Option("--distance-km", help="physical: end-to-end lengths START:STOP:STEP (a sweep), or one length."),
    ] = None,
    cutoff: Annotated[
        str | None, typer.Option(help="physical: longest a link waits in memory for its partner, e.g. 50ms.")
    ] = None,
    purify: Annotated[
        PurificationProtocol | None,
        typer.Option(help="physical: purify elementary links (bbpssw or dejmps; higher levels: --purify-level)."),
    ] = None,
    purify_rounds: Annotated[int, typer.Option(help="physical: rounds of purification.")] = 1,
    purify_schedule: Annotated[
        PurificationSchedule,
        typer.Option(help="physical: recurrence (two copies of the last output) or pumping (a fresh pair each round)."),
    ] = PurificationSchedule.RECURRENCE,
    purify_level: Annotated[
        int,
        typer.Option(
            min=0,
            help="physical: purify the pairs of nesting levels 0..N (0: elementary links only; 1: also the pairs "
            "over 2 links after their swap; ...).",
        ),
    ] = 0,
    mode: Annotated[
        DeliveryMode, typer.Option(help="physical: keep the pairs in memory, or measure them as they arrive (QKD).")
    ] = DeliveryMode.CREATE_AND_KEEP,
    plot: Annotated[
        Path | None, typer.Option(help="physical: draw the sweep's key rate beside the PLOB bound (.png/.svg/.pdf).")
    ] = None,
    swap: Annotated[
        SwapPolicy,
        typer.Option(
            help="physical: nested (doubling; every engine) or asap (as soon as possible; event-driven, slower)."
        ),
    ] = SwapPolicy.NESTED,
    communication_qubits: Annotated[
        int | None,
        typer.Option(
            "--communication-qubits",
            help="physical: communication qubits per node (default: the preset's). With K >= 2 an inner node "
            "attempts both its links at once, K // 2 channels each (a link between two nodes: K); 1: in turn.",
        ),
    ] = None,
    p_gen: Annotated[
        float | None, typer.Option("--p-gen", help="abstract: success probability of one link-generation attempt.")
    ] = None,
    p_swap: Annotated[float, typer.Option("--p-swap", help="abstract: success probability of a swap.")] = 1.0,
    segments: Annotated[
        int, typer.Option(help="abstract: elementary links in the chain, a power of 2 (nested swapping).")
    ] = 2,
    w0: Annotated[float, typer.Option("--w0", help="abstract: Werner parameter of a fresh elementary link.")] = 1.0,
    coherence_attempts: Annotated[
        float | None,
        typer.Option(help="abstract: memory coherence time, attempts (default: no decoherence)."),
    ] = None,
    cutoff_attempts: Annotated[
        int | None,
        typer.Option(min=0, help="abstract: longest a link waits for its partner, attempts (default: no cut-off)."),
    ] = None,
    pairs: Annotated[
        float | None,
        typer.Option(help="End-to-end pairs to draw (monte-carlo): default 1e4 per length (physical), 1e5 (abstract)."),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random generator (same seed, same numbers).")] = 1,
    engine: Annotated[
        Engine | None,
        typer.Option(
            help="analytic (exact) or monte-carlo (default: monte-carlo for physical chains; for abstract ones "
            "analytic when the chain allows it)."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON (a list for a sweep).")] = False,
) -> None:
    """Rate, fidelity and key of end-to-end entanglement over a repeater chain.

    --model physical (default): identical nodes of a hardware preset over fibre, links heralded in their middle.

    Memories decohere (T1, T2) while links wait; swaps nested (or asap), cut-offs, purification of the links.

    The secret key (BB84 on the delivered pairs) is printed beside the repeaterless PLOB bound.

    --model abstract: Brand, Coopmans, Elkouss (2020) in units of attempts, cut-offs as in Li et al. (2021).
    """
    given = _Given(
        p_gen=p_gen,
        p_swap=p_swap,
        segments=segments,
        w0=w0,
        coherence_attempts=coherence_attempts,
        cutoff_attempts=cutoff_attempts,
        pairs=pairs,
        seed=seed,
        engine=engine,
        preset=preset,
        nodes=nodes,
        length_km=length_km,
        distance_km=distance_km,
        cutoff=cutoff,
        purify=purify,
        purify_rounds=purify_rounds,
        purify_schedule=purify_schedule,
        purify_level=purify_level,
        mode=mode,
        plot=plot,
        swap=swap.value,
        communication_qubits=communication_qubits,
        given_abstract=_typed(ctx, _ABSTRACT_OPTIONS),
        given_physical=_typed(ctx, _PHYSICAL_OPTIONS),
    )
    data = _MODELS[model](given)
    if json_out:
        typer.echo(dump_json(data))
        return
    if model is Model.ABSTRACT:
        _print_table(data)
    else:
        _print_physical(data if isinstance(data, list) else [data])


def _print_physical(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    first = next((r for r in rows if "preset" in r), None)
    title = "Repeater chain" if first is None else (
        f"Repeater chain: {first['nodes']} nodes of {first['preset']} ({first['engine']} engine, {first['mode']})"
    )  # fmt: skip
    table = Table(title=title)
    for column in ("km", "pairs/s", "mean F (95% CI)", "wait p50 / p99 (s)", "key (bit/s)", "PLOB (bit/s)", "CHSH"):
        table.add_column(column, justify="right")
    for r in rows:
        if r.get("pairs_per_s") is None:
            table.add_row(f"{r['length_km']:g}", "-", "-", "-", "-", "-", r.get("error", ""))
            continue
        lo, hi = r["fidelity_ci95"]
        wait = r["waiting_time_s"]
        table.add_row(
            f"{r['length_km']:g}",
            f"{r['pairs_per_s']:.4g}",
            f"{r['mean_fidelity']:.4f} ({lo:.4f}-{hi:.4f})",
            f"{wait['p50']:.3g} / {wait['p99']:.3g}",
            f"{r['secret_key_rate_bps']:.4g}",
            f"{r['plob_bps']:.4g}",
            f"{r['chsh']:.3f}",
        )
    Console().print(table)


def _print_table(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    waiting = data["waiting_time_attempts"]
    table = Table(title=f"Repeater chain ({data['model']} model, {data['engine']} engine)")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("segments", f"{data['segments']}"),
        ("p_gen / p_swap", f"{data['p_gen']:g} / {data['p_swap']:g}"),
        ("w0", f"{data['w0']:g}"),
        ("coherence (attempts)", "none" if data["coherence_attempts"] is None else f"{data['coherence_attempts']:g}"),
        ("cut-off (attempts)", "none" if data["cutoff_attempts"] is None else f"{data['cutoff_attempts']}"),
        ("mean waiting time (attempts)", _with_ci(waiting["mean"], waiting["mean_ci95"])),
        ("median / 99th percentile (attempts)", f"{waiting['p50']} / {waiting['p99']}"),
        ("mean Werner parameter", _with_ci(data["mean_werner"], data["mean_werner_ci95"])),
        ("mean fidelity", f"{data['mean_fidelity']:.6g}"),
        ("secret key rate (bits per attempt)", f"{data['secret_key_rate_per_attempt']:.4g}"),
    ]
    if data["pairs"] is not None:
        rows.append(("pairs sampled", f"{data['pairs']:,}"))
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def _with_ci(value: float, interval: list[float] | None) -> str:
    if interval is None:
        return f"{value:.6g}"
    return f"{value:.6g} (95% CI {interval[0]:.6g} to {interval[1]:.6g})"
