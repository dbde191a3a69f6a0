"""The ``qinternet`` console script."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from qinternet import __version__
from qinternet.cli.keyrate_cmd import keyrate
from qinternet.cli.link_cmd import link
from qinternet.cli.options import option_for_field
from qinternet.cli.output import dump_json
from qinternet.errors import ParameterError, QinternetError
from qinternet.params.presets import PRESETS
from qinternet.params.serialise import to_jsonable

__all__ = ["app", "main"]

app = typer.Typer(
    name="qinternet",
    help="qinternet: QKD links, networks and key management for the quantum internet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(keyrate)
app.command()(link)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qinternet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """qinternet: QKD links, networks and key management for the quantum internet."""


@app.command()
def presets(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the named presets with the publications they reproduce."""
    if json_out:
        typer.echo(dump_json([{**to_jsonable(p), "system": to_jsonable(p.system)} for p in PRESETS.values()]))
        return
    table = Table(title="Presets", show_lines=True)
    for column in ("name", "set-up", "source", "notes"):
        table.add_column(column, overflow="fold")
    for p in PRESETS.values():
        table.add_row(p.name, p.title, p.citation, p.notes)
    Console().print(table)


def _fail(message: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"qinternet: error: {message}", markup=False)
    sys.exit(2)


# Typer raises its own (vendored) click exceptions; find their base class by its public subclass.
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Run the CLI; bad input prints one line naming the option and exits with code 2, no traceback."""
    command = typer.main.get_command(app)
    try:
        command.main(standalone_mode=False)
    except ParameterError as error:
        _fail(f"{option_for_field(error.field)}: {error.reason}")
    except QinternetError as error:
        _fail(str(error))
    except typer.Exit as error:
        sys.exit(error.exit_code)
    except typer.Abort:
        _fail("aborted")
    except _CLICK_ERROR as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            typer.echo(error.ctx.get_help())  # type: ignore[attr-defined]
            sys.exit(0)
        _fail(error.format_message())  # type: ignore[attr-defined]
