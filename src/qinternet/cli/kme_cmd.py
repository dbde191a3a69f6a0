"""``qinternet kme``: one node's KME in a process of its own, relaying keys to its peers over mutual TLS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qinternet.cli.network_cmd import RedeliveryWindow, parse_duration_option, redelivery_window_s, scenario_named
from qinternet.errors import ParameterError

if TYPE_CHECKING:
    from qinternet.kms.pki import PkiFiles

__all__ = ["kme", "load_peers", "node_certificate_problem"]


def kme(
    node: Annotated[str, typer.Option(help="The node whose KME this is (its ID in the scenario).")],
    scenario: Annotated[str, typer.Option(help="A built-in scenario or a YAML file: the network of KMEs.")],
    pki: Annotated[
        Path, typer.Option(help="PKI folder with ca.pem and kme-NODE.pem/.key (qinternet pki init --scenario).")
    ],
    db: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of this KME's key store (sqlite:///STATE-DIR/kme-NODE.db).")
    ] = None,
    state_dir: Annotated[Path, typer.Option(help="Folder of the default SQLite key store.")] = Path("kme-state"),
    host: Annotated[str | None, typer.Option(help="Address the KME listens on (127.0.0.1).")] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Its port (default: --base-port + its rank among the KME IDs)."),
    ] = None,
    base_port: Annotated[int | None, typer.Option(help="Port of the first KME, as qinternet serve (8443).")] = None,
    peers: Annotated[
        Path | None,
        typer.Option(help="YAML file: KME ID -> https URL of every other KME (default: localhost, --base-port on)."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of settings (as qinternet serve's).")] = None,
    pool_capacity_bits: Annotated[float | None, typer.Option(help="Most key a link holds here (8e6).")] = None,
    relay_timeout: Annotated[
        str, typer.Option(help="Longest a relay may take before the master voids it and answers 503.")
    ] = "5s",
    master_key_file: Annotated[
        Path | None, typer.Option(help="32 bytes (raw or hex) to encrypt key material at rest.")
    ] = None,
    log_format: Annotated[str | None, typer.Option(help="text or json (one object per line).")] = None,
    ready_file: Annotated[
        Path | None, typer.Option(help="Write FILE ({KME ID: URL}, JSON) once it serves; removed when it stops.")
    ] = None,
    redelivery_window: RedeliveryWindow = None,
    ops_host: Annotated[
        str | None, typer.Option(help="Address of its /metrics and status page, plain HTTP (127.0.0.1).")
    ] = None,
    ops_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of its /metrics and status page, 0: off (0).")
    ] = 0,
    duration: Annotated[str | None, typer.Option(help="Stop after this much wall time (default: until ^C).")] = None,
) -> None:
    """Serve one node's KME in its own process, relaying keys to the other KMEs over mutual TLS.

    Its key store holds only its own links' keys, which QKD devices push (qinternet device); keys for SAEs at
    other KMEs are relayed hop by hop under one-time pads (docs/kme-processes.md). ETSI GS QKD 014 and 004
    for its SAEs, as qinternet serve. Settings also come from QINTERNET_KMS_<NAME> and --config.
    """
    import os

    from qinternet.kms.feeder import kme_id, topology_of
    from qinternet.kms.node import NodePlan, peer_urls, run_node
    from qinternet.kms.pki import PkiFiles
    from qinternet.kms.prepare import key_limits, key_policy
    from qinternet.kms.relay import RelaySettings
    from qinternet.kms.service import configure_logging
    from qinternet.kms.settings import load_serve_settings
    from qinternet.kms.southbound import device_ends
    from qinternet.outputs import check_output_file, check_output_folder

    spec = scenario_named(scenario, "--scenario")
    topology = topology_of(spec)
    me = kme_id(node)
    if me not in topology.kmes:
        raise ParameterError("--node", f"{node[:60]!r} is not a node of {spec.name} with a KME")
    if ops_host is not None and not ops_port:
        raise ParameterError("--ops-host", "sets the address of --ops-port, which is not given")
    timeout_s = parse_duration_option(relay_timeout, "--relay-timeout")
    if timeout_s > 600:
        raise ParameterError("--relay-timeout", f"must be at most 10min, got {relay_timeout!r}")
    stop_after = None if duration is None else parse_duration_option(duration, "--duration")
    settings = load_serve_settings(
        config,
        {
            "pki": pki,
            "db": db if db is not None else f"sqlite:///{state_dir / f'{me}.db'}",
            "base_port": base_port,
            "host": host,
            "pool_capacity_bits": pool_capacity_bits,
            "master_key_file": master_key_file,
            "log_format": log_format,
            "ready_file": ready_file,
            "redelivery_window_s": redelivery_window_s(redelivery_window),
            "ops_host": ops_host,
            "ops_port": ops_port,
        },
    )
    kmes = sorted(topology.kmes)
    chosen_port = port if port is not None else settings.base_port + kmes.index(me)
    if chosen_port > 65535:
        raise ParameterError("--base-port", f"leaves no port for {me} (rank {kmes.index(me)})")
    urls = load_peers(peers, kmes) if peers is not None else peer_urls(kmes, settings.base_port)
    files = PkiFiles(settings.pki)
    problem = node_certificate_problem(files, me)
    if problem is not None:
        raise ParameterError("--pki", problem)
    if db is None:
        check_output_folder(state_dir, "--state-dir")
        try:
            state_dir.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ParameterError("--state-dir", f"cannot be made: {exc.strerror or exc}") from None
    if settings.ready_file is not None:
        check_output_file(settings.ready_file, "--ready-file")
    configure_logging(settings.log_format)
    hold_s = float(os.environ.get("QINTERNET_KME_RELAY_HOLD_S", "0") or 0)
    plan = NodePlan(
        kme_id=me,
        port=chosen_port,
        peers={k: u for k, u in urls.items() if k != me},
        topology=topology,
        limits=key_limits(settings),
        policy=key_policy(settings),
        files=files,
        devices=device_ends(spec),
        relay=RelaySettings(
            timeout_s=timeout_s,
            hold_s=hold_s,
            capacity_bytes=int(settings.pool_capacity_bits // 8),
            pending_expiry_s=settings.pending_expiry_s,
        ),
    )
    run_node(plan, settings, stop_after_s=stop_after)


def node_certificate_problem(files: PkiFiles, kme: str) -> str | None:
    """Why the PKI folder cannot serve ``kme`` (no CA, no certificate, one naming another KME, one not signed by
    its CA or that may not call peers), or None."""
    from cryptography import x509

    from qinternet.kms.pki import unsigned

    if not files.ca.is_file():
        return f"no ca.pem in {str(files.folder)[:200]!r} (qinternet pki init FOLDER --scenario ...)"
    if not files.cert(kme).is_file() or not files.key(kme).is_file():
        return f"no {kme}.pem and {kme}.key in {str(files.folder)[:200]!r} (qinternet pki init FOLDER --scenario ...)"
    try:
        cert = x509.load_pem_x509_certificate(files.cert(kme).read_bytes())
    except (OSError, ValueError) as exc:
        return f"{kme}.pem cannot be read: {exc}"
    names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    named = str(names[0].value) if names else None
    if named != kme:
        return f"{kme}.pem names {named!r}, not this node's KME {kme!r}"
    if unsigned(files, [kme], client_auth=True):
        return (
            f"{kme}.pem is not signed by {files.ca.name}, does not match {kme}.key, or may not authenticate to its "
            f"peers (signed before KMEs called each other: delete {kme}.pem and run qinternet pki init again)"
        )
    return None


def load_peers(path: Path, kmes: list[str]) -> dict[str, str]:
    """The peers file: a YAML mapping of every KME ID to its https URL (one line naming ``--peers`` if not)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ParameterError("--peers", f"cannot be read as YAML: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ParameterError("--peers", "must be a mapping of KME IDs to https URLs")
    missing = [k for k in kmes if k not in data]
    if missing:
        raise ParameterError("--peers", f"has no URL for {', '.join(missing[:5])}")
    bad = [k for k, v in data.items() if not v.startswith("https://") or len(v) > 300]
    if bad:
        raise ParameterError("--peers", f"the URL of {bad[0][:60]!r} is not an https:// URL")
    return {k: v.rstrip("/") for k, v in data.items()}
