"""The ``qinternet`` console script."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from qinternet import __version__
from qinternet.cli.apps_cmd import decrypt, encrypt, keygen_mlkem
from qinternet.cli.entry import INTERRUPTED
from qinternet.cli.keyrate_cmd import keyrate
from qinternet.cli.kms_cmd import pki_app, serve
from qinternet.cli.link_cmd import link
from qinternet.cli.network_cmd import run, scenario_app, scenarios_app
from qinternet.cli.options import option_for_field
from qinternet.cli.output import dump_json
from qinternet.cli.strict import harden
from qinternet.errors import ParameterError, QinternetError
from qinternet.params.presets import PRESETS, Preset
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
app.command()(run)
app.add_typer(scenario_app, name="scenario")
app.add_typer(scenarios_app, name="scenarios")
app.command()(serve)
app.add_typer(pki_app, name="pki")
app.command()(encrypt)
app.command()(decrypt)
app.command()(keygen_mlkem)


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
    console = Console()
    for p in PRESETS.values():
        console.print(Panel(_preset_text(p), title=f"[bold]{p.name}[/bold]", title_align="left", expand=True))


def _preset_text(preset: Preset) -> Text:
    s = preset.system
    lines = [
        (preset.title, "bold"),
        (f"Published in: {preset.citation}", ""),
        (
            f"Fibre {s.fibre.loss_db_per_km:g} dB/km (+{s.fibre.insertion_loss_db:g} dB); "
            f"detectors: efficiency {s.detector.efficiency:.3g}, "
            f"dark counts {s.detector.dark_count_prob:.3g} per gate each "
            f"(Y0 = {s.detector.background_yield:.3g}), "
            f"after-pulses {s.detector.after_pulse_prob:g}, "
            f"dead time {s.detector.dead_time_s:g} s; misalignment {s.misalignment_error:g}; "
            f"f = {s.ec_efficiency:g}; Z-basis probability {s.basis_prob:g}",
            "",
        ),
        (
            f"Light source: signal {s.source.signal_intensity:g}, decoys "
            f"{', '.join(f'{v:g}' for v in s.source.decoy_intensities) or 'none'}, class probabilities "
            f"{', '.join(f'{v:g}' for v in s.source.intensity_probs)}, {s.source.rep_rate_hz / 1e6:g} MHz",
            "",
        ),
        (preset.notes, "dim"),
    ]
    text = Text()
    for i, (line, style) in enumerate(lines):
        text.append(("\n" if i else "") + line, style=style)
    return text


def _fail(message: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"qinternet: error: {message}", markup=False)
    sys.exit(2)


# Typer raises its own (vendored) click exceptions; find their base class by its public subclass.
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Run the CLI; bad input prints one line naming the option and exits with code 2, no traceback."""
    command = harden(app)
    try:
        # Commands return None; Typer returns the code of a typer.Exit, and turns an interrupt into code 130.
        code = command.main(standalone_mode=False)
        if code == INTERRUPTED:
            raise KeyboardInterrupt  # the entry point (qinternet.cli.entry) reports it
        if isinstance(code, int) and code != 0:
            sys.exit(code)
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
