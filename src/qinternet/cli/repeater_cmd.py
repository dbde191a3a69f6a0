"""``qinternet repeater``: waiting time and fidelity of end-to-end entanglement over a repeater chain.

``--model abstract`` is the chain of Brand, Coopmans, Elkouss (IEEE JSAC 38, 619 (2020)) in units of
generation attempts, with the memory cut-off of Li, Coopmans, Elkouss (IEEE Trans. Quantum Eng. 2 (2021));
see :mod:`qinternet.entanglement.abstract`. Each model reads its own options in its own function
(:data:`_MODELS`), so that another model adds one member to :class:`Model`, its options and one function.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import typer

from qinternet.cli import options as opt
from qinternet.cli.output import dump_json
from qinternet.errors import ParameterError

__all__ = ["Engine", "Model", "repeater"]


class Model(enum.StrEnum):
    """The repeater models ``--model`` chooses."""

    ABSTRACT = "abstract"


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
    pairs: float
    seed: int
    engine: Engine | None


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
    pairs = opt.parse_count(given.pairs, "--pairs")
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


_MODELS: dict[Model, Callable[[_Given], dict[str, Any]]] = {Model.ABSTRACT: _abstract}
"""How each model runs: its options in, its JSON record out."""


def repeater(
    model: Annotated[Model, typer.Option(help="Repeater model: abstract (units of generation attempts).")] = (
        Model.ABSTRACT
    ),
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
    pairs: Annotated[float, typer.Option(help="End-to-end links to sample (monte-carlo), e.g. 1e5.")] = 1e5,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random generator (same seed, same numbers).")] = 1,
    engine: Annotated[
        Engine | None,
        typer.Option(help="analytic (exact) or monte-carlo (default: analytic when the chain allows it)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Waiting time and fidelity of end-to-end entanglement over a repeater chain.

    With --model abstract (Brand, Coopmans, Elkouss 2020; cut-offs as in Li, Coopmans, Elkouss 2021): time in
    generation attempts, nested swapping over 2**n segments, both links regenerated when a swap fails.
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
    )
    data = _MODELS[model](given)
    if json_out:
        typer.echo(dump_json(data))
        return
    _print_table(data)


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
