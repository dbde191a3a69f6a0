"""The ``qinternet`` console script: a command tree whose commands are imported only when they run.

``qinternet --help`` and ``--version`` import no command (they answer in a fraction of a second); a command's
module, and the libraries it needs (numpy, FastAPI, SQLAlchemy, matplotlib), are imported when that command is
run or its help is shown. Every command's options pass :mod:`qinternet.cli.strict` when it is loaded.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from qinternet import __version__
from qinternet.cli.entry import INTERRUPTED
from qinternet.cli.strict import harden_command
from qinternet.errors import ParameterError, QinternetError

__all__ = ["COMMANDS", "LazyGroup", "app", "main"]


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a command lives and its one-line help (shown by ``qinternet --help`` without importing it).

    Attributes:
        module: the module that defines it.
        attribute: a command function, or a ``typer.Typer`` of subcommands.
        summary: the line ``qinternet --help`` shows.
    """

    module: str
    attribute: str
    summary: str


COMMANDS: dict[str, LazyCommand] = {
    "keyrate": LazyCommand(
        "qinternet.cli.keyrate_cmd",
        "keyrate",
        "Secret key rate per pulse against fibre length (intensities optimised per distance).",
    ),
    "link": LazyCommand(
        "qinternet.cli.link_cmd",
        "link",
        "Simulate pulses through the link (cost grows with detections) and estimate Y1, e1 and the key rate.",
    ),
    "repeater": LazyCommand(
        "qinternet.cli.repeater_cmd",
        "repeater",
        "Rate, fidelity and key of end-to-end entanglement over a repeater chain.",
    ),
    "run": LazyCommand(
        "qinternet.cli.network_cmd",
        "run",
        "Simulate a network over time: key per link, relayed key per demand, pools; writes a report.",
    ),
    "plan": LazyCommand(
        "qinternet.cli.plan_cmd",
        "plan",
        "Choose the links and trusted relays that meet every demand at least cost; writes a scenario for run.",
    ),
    "serve": LazyCommand(
        "qinternet.cli.kms_cmd",
        "serve",
        "Serve every node's KME with the ETSI GS QKD 014 API over mutual TLS, each KME a process of its own.",
    ),
    "kme": LazyCommand(
        "qinternet.cli.kme_cmd",
        "kme",
        "Serve one node's KME in its own process, relaying keys to the other KMEs over mutual TLS.",
    ),
    "device": LazyCommand(
        "qinternet.cli.device_cmd",
        "device",
        "Run a link's pair of QKD devices and push each block's key to the KMEs at its two ends.",
    ),
    "dashboard": LazyCommand(
        "qinternet.cli.dashboard_cmd",
        "dashboard",
        "Serve a web page over the outputs of qinternet run and sweep in DIR: the network map, series, tables.",
    ),
    "encrypt": LazyCommand(
        "qinternet.cli.apps_cmd",
        "encrypt",
        "Encrypt FILE for another SAE with new keys from your KME; the key IDs go into the file's header.",
    ),
    "decrypt": LazyCommand(
        "qinternet.cli.apps_cmd",
        "decrypt",
        "Decrypt FILE with the keys your KME delivers for the key IDs in its header.",
    ),
    "keygen-mlkem": LazyCommand(
        "qinternet.cli.apps_cmd",
        "keygen_mlkem",
        "Make an ML-KEM-768 key pair for hybrid files: give the public key to senders, keep the private one.",
    ),
    "tunnel": LazyCommand(
        "qinternet.cli.tunnel_cmd",
        "tunnel_app",
        "Carry a TCP stream between two hosts under AES-256-GCM with QKD keys from the two KMEs, rotated.",
    ),
    "purify": LazyCommand(
        "qinternet.cli.purify_cmd",
        "purify",
        "Fidelity and success probability of each purification round, starting from Werner pairs.",
    ),
    "presets": LazyCommand(
        "qinternet.cli.presets_cmd", "presets", "List the named presets with the publications they reproduce."
    ),
    "scenario": LazyCommand(
        "qinternet.cli.network_cmd", "scenario_app", "Check scenario files and print their schema."
    ),
    "scenarios": LazyCommand("qinternet.cli.network_cmd", "scenarios_app", "The scenarios built into qinternet."),
    "sweep": LazyCommand(
        "qinternet.cli.sweep_cmd",
        "sweep",
        "Run a study: its points and seeds on a Dask cluster, into Parquet and a report; resumes where it stopped.",
    ),
    "studies": LazyCommand("qinternet.cli.sweep_cmd", "studies_app", "The studies shipped with qinternet."),
    "pki": LazyCommand("qinternet.cli.kms_cmd", "pki_app", "Certificates for trying the KMEs over mutual TLS."),
}
"""Every command of ``qinternet``, in the order ``--help`` lists them."""


def load_command(name: str) -> Any:
    """The click command (or group) ``name``, imported now, its options checked by :mod:`.strict`."""
    spec = COMMANDS[name]
    target = getattr(importlib.import_module(spec.module), spec.attribute)
    command: Any
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even with one subcommand (pki init)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name=name)(target)
        command = typer.main.get_command(single)
    command.name = name
    harden_command(command)
    return command


class LazyGroup(TyperGroup):
    """The root group: lists :data:`COMMANDS` and imports one only to run it or show its own help."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:  # the root's --help: the summary line is enough
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name].summary)
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="qinternet",
    help="qinternet: QKD links, networks and key management for the quantum internet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


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


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"qinternet: error: {message}", markup=False)
    sys.exit(2)


# Typer raises its own (vendored) click exceptions; find their base class by its public subclass.
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def root_command() -> Any:
    """The root click group (its commands load on demand)."""
    command = typer.main.get_command(app)
    harden_command(command)
    return command


def main() -> None:
    """Run the CLI; bad input prints one line naming the option and exits with code 2, no traceback."""
    command = root_command()
    try:
        # Commands return None; Typer returns the code of a typer.Exit, and turns an interrupt into code 130.
        code = command.main(standalone_mode=False)
        if code == INTERRUPTED:
            raise KeyboardInterrupt  # the entry point (qinternet.cli.entry) reports it
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except ParameterError as error:
        from qinternet.cli.options import option_for_field

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
