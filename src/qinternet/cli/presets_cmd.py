"""``qinternet presets``: the named device sets and the publications they reproduce."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from qinternet.cli.output import dump_json
from qinternet.params.devices import QkdSystem
from qinternet.params.devicesets import shared_roles
from qinternet.params.presets import PRESETS, Preset
from qinternet.params.serialise import to_jsonable

__all__ = ["presets"]


def presets(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the named presets with the publications they reproduce."""
    if json_out:
        typer.echo(dump_json([_preset_json(p) for p in PRESETS.values()]))
        return
    console = Console()
    for p in PRESETS.values():
        console.print(Panel(_preset_text(p), title=f"[bold]{p.name}[/bold]", title_align="left", expand=True))


def _preset_json(preset: Preset) -> dict[str, Any]:
    """Name, title, citation, notes and family; ``system`` (prepare-and-measure) or ``devices`` (the others)."""
    data = {k: v for k, v in to_jsonable(preset).items() if k != "devices"} | {"family": preset.family}
    key = "system" if isinstance(preset.devices, QkdSystem) else "devices"
    return data | {key: to_jsonable(preset.devices)}


def _relayed_text(preset: Preset) -> Text:
    roles = shared_roles(preset.devices)
    text = Text()
    text.append(preset.title, style="bold")
    text.append(f"\n{preset.family} devices. Published in: {preset.citation}")
    text.append(
        f"\nFibre {roles.loss_db_per_km:.4g} dB/km; detectors: efficiency {roles.detector.efficiency:.3g}, "
        f"dark counts {roles.detector.dark_count_prob:.3g} per gate each; misalignment "
        f"{roles.misalignment_error:g}; f = {roles.ec_efficiency:g}"
    )
    text.append("\n" + preset.notes, style="dim")
    return text


def _preset_text(preset: Preset) -> Text:
    if not isinstance(preset.devices, QkdSystem):
        return _relayed_text(preset)
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
