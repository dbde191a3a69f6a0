"""``qinternet purify``: rounds of entanglement purification from Werner pairs of a given fidelity."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from qinternet.cli.output import dump_json
from qinternet.entanglement.purification import PurificationProtocol, PurificationSchedule, purify_rounds
from qinternet.errors import ParameterError
from qinternet.states import bell

__all__ = ["MAX_ROUNDS", "purify"]

MAX_ROUNDS = 1000
"""Most rounds one call computes (recurrence consumes ``2**rounds`` pairs; pumping converges long before)."""


def purify(
    protocol: Annotated[
        PurificationProtocol, typer.Option("--protocol", help="bbpssw (Bennett et al. 1996) or dejmps (Deutsch 1996).")
    ],
    fidelity: Annotated[float, typer.Option("--fidelity", help="Fidelity of the input Werner pairs, in [0, 1].")],
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds of purification.")] = 1,
    schedule: Annotated[
        PurificationSchedule,
        typer.Option(
            "--schedule", help="recurrence: two copies of the last output; pumping: the last output and a fresh pair."
        ),
    ] = PurificationSchedule.RECURRENCE,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fidelity and success probability of each purification round, starting from Werner pairs."""
    if not 0.0 <= fidelity <= 1.0:
        raise ParameterError("--fidelity", f"must be in [0, 1], got {fidelity:g}")
    if not 1 <= rounds <= MAX_ROUNDS:
        raise ParameterError("--rounds", f"must be in 1..{MAX_ROUNDS}, got {rounds}")
    initial = bell.werner(bell.werner_of_fidelity(fidelity))
    result = purify_rounds(initial, protocol, rounds, schedule)
    if json_out:
        typer.echo(
            dump_json(
                {
                    "protocol": protocol.value,
                    "schedule": schedule.value,
                    "input_fidelity": fidelity,
                    "rounds": [r.to_dict() for r in result],
                }
            )
        )
        return
    table = Table(title=f"{protocol.value.upper()} ({schedule.value}) from Werner pairs of fidelity {fidelity:g}")
    for column in ("round", "fidelity", "success probability", "pairs per output"):
        table.add_column(column, justify="right")
    for r in result:
        table.add_row(str(r.round), f"{r.fidelity:.6f}", f"{r.success_probability:.6f}", str(r.elementary_pairs))
    Console().print(table)
