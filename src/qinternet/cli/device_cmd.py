"""``qinternet device``: a simulated pair of QKD devices pushing a link's key to its two KMEs."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Annotated

import typer

from qinternet.cli.network_cmd import parse_duration_option, scenario_named
from qinternet.errors import ParameterError
from qinternet.outputs import check_output_file, write_file

__all__ = ["device"]

_OPTIONS = {
    "link": "LINK",
    "kme_a": "--kme-a",
    "kme_b": "--kme-b",
    "pki": "--pki",
    "postprocess": "--postprocess",
    "chunk_bytes": "--chunk-bytes",
}
"""The library's field names and the options that set them."""


def device(
    link: Annotated[str, typer.Argument(help="The link's ID in the scenario: its two devices run here.")],
    scenario: Annotated[str, typer.Option(help="A built-in scenario or a YAML file, as served by qinternet serve.")],
    pki: Annotated[Path, typer.Option(help="PKI folder with ca.pem and the certificates dev-LINK-NODE.pem/.key.")],
    kme_a: Annotated[str, typer.Option(help="https:// URL of the KME at the link's end a.")],
    kme_b: Annotated[str, typer.Option(help="https:// URL of the KME at the link's end b.")],
    postprocess: Annotated[
        bool,
        typer.Option(
            "--postprocess",
            help="Key from the post-processing pipeline (sifting, error correction, privacy amplification) of "
            "each block's Monte-Carlo detections (decoy-BB84 fibre links); default: from the link's seeded stream.",
        ),
    ] = False,
    duration: Annotated[str | None, typer.Option(help="Stop after this much wall time (default: until ^C).")] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 1.0,
    warm_up: Annotated[
        str, typer.Option(help="The link's first simulated time pushed at once before pacing, as serve's (0s).")
    ] = "0s",
    chunk_bytes: Annotated[int, typer.Option(help="Length of every key pushed, bytes (16 to 8192).")] = 32,
    max_block_bits: Annotated[
        float, typer.Option(help="Most key of one block pushed; the rest is discarded at the devices.")
    ] = 1e6,
    log_format: Annotated[str, typer.Option(help="text or json (one object per line).")] = "text",
    ready_file: Annotated[
        Path | None,
        typer.Option(help="Write FILE once both streams are open and the warm-up pushed; removed when it stops."),
    ] = None,
) -> None:
    """Run a link's pair of QKD devices and push each block's key to the KMEs at its two ends.

    Each device pushes its half to its own KME over the southbound interface with mutual TLS (docs/southbound.md),
    and continues after a restart from the last key its KME acknowledged. The key is simulated, not secret.
    """
    from qinternet.apps.qkd_device import DevicePair, LinkKeySource
    from qinternet.kms.pki import PkiFiles
    from qinternet.kms.service import configure_logging
    from qinternet.kms.southbound import MAX_CHUNK_BYTES, MIN_CHUNK_BYTES

    if not (math.isfinite(speed) and 0 < speed <= 1e9):
        raise ParameterError("--speed", f"must be > 0 and at most 1e9 simulated seconds per second, got {speed}")
    if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise ParameterError("--chunk-bytes", f"must be from {MIN_CHUNK_BYTES} to {MAX_CHUNK_BYTES}, got {chunk_bytes}")
    if not (math.isfinite(max_block_bits) and 8 * chunk_bytes <= max_block_bits <= 1e12):
        raise ParameterError(
            "--max-block-bits", f"must be between one key ({8 * chunk_bytes} bits) and 1e12, got {max_block_bits}"
        )
    if log_format not in ("text", "json"):
        raise ParameterError("--log-format", f"must be text or json, got {log_format[:40]!r}")
    stop_after = None if duration is None else parse_duration_option(duration, "--duration")
    if ready_file is not None:
        check_output_file(ready_file, "--ready-file")
    warm_up_s = parse_duration_option(warm_up, "--warm-up", allow_zero=True)
    if warm_up_s > 30 * 86400:
        raise ParameterError("--warm-up", f"must be at most 30d, got {warm_up!r}")
    if not (pki / "ca.pem").is_file():
        raise ParameterError("--pki", f"no ca.pem in {str(pki)[:200]!r} (qinternet pki init FOLDER --scenario ...)")
    spec = scenario_named(scenario, "--scenario")
    configure_logging(log_format, "qinternet.device")
    try:
        source = LinkKeySource(
            spec, link, chunk_bytes=chunk_bytes, max_block_bits=max_block_bits, postprocess=postprocess
        )
        pair = DevicePair(source, (kme_a, kme_b), PkiFiles(pki))
        try:
            ready = None if ready_file is None else functools.partial(_write_ready, ready_file, link)
            report = pair.run(speed=speed, stop_after_s=stop_after, warm_up_s=warm_up_s, on_ready=ready)
        finally:
            pair.close()
            if ready_file is not None:
                ready_file.unlink(missing_ok=True)
    except ParameterError as exc:
        raise ParameterError(_OPTIONS.get(exc.field, exc.field), exc.reason) from None
    typer.echo(f"{spec.name} link {link}: {report.summary()}")


def _write_ready(path: Path, link: str) -> None:
    write_file(path, json.dumps({"link": link}) + "\n", "--ready-file")
