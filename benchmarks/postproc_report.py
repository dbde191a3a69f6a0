"""Rich tables of the post-processing benchmarks (Cascade, privacy amplification, hashing, pipeline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from peer import CascadePeerRun
from postproc import (
    CASCADE_GOAL_BITS_PER_S,
    CASCADE_GOAL_EFFICIENCY,
    PA_GOAL_BITS_PER_S,
    CascadeTiming,
    HashTiming,
    NaivePaTiming,
    PaTiming,
    PipelineTiming,
)
from report import verdict

__all__ = [
    "CascadeBatch",
    "cascade_goal_table",
    "cascade_table",
    "hash_table",
    "pa_table",
    "pipeline_detail_table",
    "pipeline_table",
    "print_cascade_note",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeBatch:
    """One batch of frames at one QBER: qinternet's variants and, if it ran, SeQUeNCe on the same frames.

    Attributes:
        frame_bits, frames, qber: the batch.
        runs: qinternet's Cascade, one per variant.
        peer: SeQUeNCe's run (None when the peer is skipped).
    """

    frame_bits: int
    frames: int
    qber: float
    runs: tuple[CascadeTiming, ...]
    peer: CascadePeerRun | None

    def peer_bits_per_s(self) -> float | None:
        """SeQUeNCe's corrected bits per wall-second, or None."""
        if self.peer is None or self.peer.record is None:
            return None
        value = self.peer.record.get("corrected_bits_per_wall_s")
        return float(value) if value else None

    def ratio(self, run: CascadeTiming) -> float | None:
        """qinternet's median corrected bits per wall-second over SeQUeNCe's (the peer runs once)."""
        peer = self.peer_bits_per_s()
        return None if peer is None else run.timing.bits_per_s_median / peer

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        runs = []
        for run in self.runs:
            ratio = self.ratio(run)
            runs.append(run.to_dict() | {"ratio_qinternet_over_sequence": ratio})
        peer: dict[str, Any] | None = None
        if self.peer is not None:
            peer = {"record": self.peer.record, "error": self.peer.error}
        return {
            "frame_bits": self.frame_bits,
            "frames": self.frames,
            "qber": self.qber,
            "qinternet": runs,
            "sequence": peer,
        }


def _mbit(x: float) -> str:
    return f"{x / 1e6:.3g}"


def cascade_table(batches: Sequence[CascadeBatch], peer_version: str | None) -> Table:
    """Corrected bits per wall-second and efficiency of every variant, next to SeQUeNCe's on the same frames."""
    peer_name = f"SeQUeNCe {peer_version}" if peer_version else "SeQUeNCe"
    goal = f"goal: >= {CASCADE_GOAL_BITS_PER_S / 1e6:g} Mbit/s at f <= {CASCADE_GOAL_EFFICIENCY}"
    table = Table(title=f"Cascade on identical frames: qinternet vs {peer_name}, one core ({goal})")
    columns = ("frames x bits", "QBER (actual)", "Mbit/s best", "Mbit/s median", "f", "FER", "goal")
    table.add_column("implementation", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("qinternet / SeQUeNCe", justify="right")
    for batch in batches:
        size = f"{batch.frames} x 2^{batch.frame_bits.bit_length() - 1}"
        actual = batch.runs[0].actual_qber if batch.runs else batch.qber
        qber = f"{batch.qber:.0%} ({actual:.4f})"
        for run in batch.runs:
            ratio = batch.ratio(run)
            table.add_row(
                run.variant,
                size,
                qber,
                _mbit(run.timing.bits_per_s),
                _mbit(run.timing.bits_per_s_median),
                f"{run.efficiency:.3f}",
                f"{run.frame_errors}/{run.frames}",
                verdict(run.passed),
                "-" if ratio is None else f"{ratio:,.0f}x",
            )
        if batch.peer is not None:
            rec = batch.peer.record
            if rec is None:
                table.add_row("SeQUeNCe [red]failed[/]", size, qber, *[""] * 6, end_section=True)
                continue
            table.add_row(
                f"SeQUeNCe k1={rec['k1']}",
                size,
                qber,
                _mbit(rec["corrected_bits_per_wall_s"]),
                "(1 run)",
                f"{rec['efficiency']:.2f} ({rec['efficiency_needed']:.3f})",
                f"{rec['frame_errors']}/{rec['frames']}",
                "",
                "",
                end_section=True,
            )
        else:
            table.rows[-1].end_section = True
    return table


def cascade_goal_table(batches: Sequence[CascadeBatch]) -> Table:
    """Per variant: the slowest and fastest batch, the worst f, and how many rows met the goal."""
    table = Table(
        title=f"Cascade goal: >= {CASCADE_GOAL_BITS_PER_S / 1e6:g} Mbit/s per core at f <= {CASCADE_GOAL_EFFICIENCY}"
    )
    for column in ("variant", "Mbit/s (min .. max)", "f (min .. max)", "FER", "rows meeting the goal"):
        table.add_column(column, justify="right")
    variants = dict.fromkeys(run.variant for batch in batches for run in batch.runs)
    for variant in variants:
        runs = [run for batch in batches for run in batch.runs if run.variant == variant]
        rates = [run.timing.bits_per_s for run in runs]
        effs = [run.efficiency for run in runs]
        passed = sum(run.passed for run in runs)
        table.add_row(
            variant,
            f"{_mbit(min(rates))} .. {_mbit(max(rates))}",
            f"{min(effs):.3f} .. {max(effs):.3f}",
            f"{sum(r.frame_errors for r in runs)}/{sum(r.frames for r in runs)}",
            f"{verdict(passed == len(runs))} {passed}/{len(runs)}",
        )
    return table


def print_cascade_note(console: Console) -> None:
    """What the Cascade comparison measures."""
    console.print(
        "[dim]Both correct the same frames (passed to SeQUeNCe in a temporary .npz) with the same QBER "
        "estimate. qinternet: cascade_frames on the whole batch, best and median of the repeats; the goal uses "
        "the best, the ratio the median. SeQUeNCe: its Cascade protocol (original Brassard-Salvail, 4 passes "
        "from k1) between two QKDNodes, BB84 replaced by a stub that hands it the frames; Timeline.run() timed "
        "once. SeQUeNCe's f counts every parity Alice "
        "sends; in brackets without the redundant half of its BINARY answers (it asks both halves). "
        "f = leaked bits / sum over frames of n h(Q_frame); FER = frames left with errors.[/]"
    )


def pa_table(runs: Sequence[PaTiming], naive: NaivePaTiming, same_size: PaTiming) -> Table:
    """Privacy amplification (Toeplitz by FFT) against the dense-matrix baseline."""
    table = Table(title="Privacy amplification: toeplitz_hash (FFT) vs a dense GF(2) matrix-vector product")
    columns = ("implementation", "cores", "input bits", "output bits", "best s", "median s", "input Mbit/s")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column(f"goal >= {PA_GOAL_BITS_PER_S / 1e6:g} Mbit/s", justify="right")
    table.add_column("qinternet / naive", justify="right")
    for run in runs:
        extrapolated = naive.extrapolated_bits_per_s(run.input_bits)
        table.add_row(
            "toeplitz_hash",
            str(run.cores),
            f"{run.input_bits:.3g}",
            f"{run.output_bits:.3g}",
            f"{run.timing.best_wall_s:.4f}",
            f"{run.timing.median_wall_s:.4f}",
            _mbit(run.timing.bits_per_s),
            verdict(run.passed),
            f"{run.timing.bits_per_s / extrapolated:,.0f}x (naive extrapolated)",
        )
    table.add_row(
        "toeplitz_hash",
        "1",
        f"{same_size.input_bits:,}",
        f"{same_size.output_bits:,}",
        f"{same_size.timing.best_wall_s:.5f}",
        f"{same_size.timing.median_wall_s:.5f}",
        _mbit(same_size.timing.bits_per_s),
        "",
        f"{same_size.timing.bits_per_s / naive.timing.bits_per_s:,.0f}x (measured)",
    )
    agree = "[green]same output[/]" if naive.agrees else "[red]OUTPUT DIFFERS[/]"
    table.add_row(
        f"naive dense matrix ({agree})",
        "1",
        f"{naive.input_bits:,}",
        f"{naive.output_bits:,}",
        f"{naive.timing.best_wall_s:.4f}",
        f"{naive.timing.median_wall_s:.4f}",
        _mbit(naive.timing.bits_per_s),
        "",
        "1x",
    )
    return table


def hash_table(runs: Sequence[HashTiming]) -> Table:
    """Polynomial hashing over GF(2^64) (verification tags and Wegman-Carter authentication)."""
    table = Table(title="Polynomial hashing over GF(2^64): polynomial_hash (verification, authentication)")
    for column in ("message bits", "best s", "median s", "Mbit/s best", "Mbit/s median"):
        table.add_column(column, justify="right")
    for run in runs:
        t = run.timing
        table.add_row(
            f"{t.bits:.3g}",
            f"{t.best_wall_s:.4f}",
            f"{t.median_wall_s:.4f}",
            _mbit(t.bits_per_s),
            _mbit(t.bits_per_s_median),
        )
    return table


def pipeline_table(runs: Sequence[PipelineTiming]) -> Table:
    """The whole pipeline against the sifted-bit rate of the simulated link (rates in sifted bits)."""
    first = runs[0]
    table = Table(
        title=f"Whole pipeline: postprocess(record, {first.preset}, PipelineParams()) vs the simulated "
        f"{first.rep_rate_hz / 1e9:g} GHz link"
    )
    columns = (
        "km",
        "pulses",
        "link s",
        "sifted bits",
        "MC s",
        "best s",
        "median s",
        "pipeline Mbit/s",
        "link Mbit/s",
        "pipeline / link",
    )
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("not the bottleneck", justify="right")
    for run in runs:
        t = run.timing
        table.add_row(
            f"{run.distance_km:g}",
            f"{run.pulses:.3g}",
            f"{run.simulated_s:.3f}",
            f"{run.sifted_bits:,}",
            f"{run.montecarlo_wall_s:.2f}",
            f"{t.best_wall_s:.3f}",
            f"{t.median_wall_s:.3f}",
            _mbit(t.bits_per_s),
            _mbit(run.link_sifted_bits_per_s),
            f"{run.ratio:.2f}x",
            verdict(run.passed),
        )
    return table


def pipeline_detail_table(runs: Sequence[PipelineTiming]) -> Table:
    """Where the pipeline's time goes (best repeat) and what it produced."""
    table = Table(title="Pipeline stages (best repeat, s) and outcome")
    stages = list(dict.fromkeys(stage for run in runs for stage in run.stages_s))
    for column in ("km", *stages, "other", "QBER est.", "f", "final key bits", "aborted"):
        table.add_column(column, justify="right")
    for run in runs:
        res = run.result
        other = run.timing.best_wall_s - sum(run.stages_s.values())
        eff = res.get("ec_efficiency")
        table.add_row(
            f"{run.distance_km:g}",
            *(f"{run.stages_s.get(stage, 0.0):.3f}" for stage in stages),
            f"{other:.3f}",
            f"{res.get('qber_estimate', float('nan')):.4f}",
            "-" if eff is None else f"{eff:.3f}",
            f"{res.get('final_key_bits', 0):,}",
            str(res.get("abort_reason")) if res.get("aborted") else "no",
        )
    return table
