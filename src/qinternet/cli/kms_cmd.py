"""``qinternet pki init`` and ``qinternet serve``: KMEs with the ETSI GS QKD 014 API, fed by a network."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from qinternet.cli.network_cmd import RedeliveryWindow, parse_duration_option, redelivery_window_s, scenario_named
from qinternet.errors import ParameterError
from qinternet.kms.feeder import topology_of
from qinternet.kms.pki import (
    CertificateNameError,
    PkiFiles,
    check_names,
    complete_pki,
    init_pki,
    server_name_problem,
)
from qinternet.kms.prepare import KmsPlan, prepare_kmes
from qinternet.kms.service import SideApp, client_url, configure_logging, run_service
from qinternet.kms.settings import ServeSettings, load_serve_settings
from qinternet.kms.southbound import device_ends
from qinternet.kms.tls import KmeServer
from qinternet.network.schema import Scenario
from qinternet.outputs import check_output_file, check_output_folder

__all__ = ["pki_app", "serve"]

logger = logging.getLogger("qinternet.kms")

pki_app = typer.Typer(help="Certificates for trying the KMEs over mutual TLS.", no_args_is_help=True)


@pki_app.command("init")
def pki_init(
    folder: Annotated[Path, typer.Argument(help="Folder for ca.pem and the KME and SAE certificates and keys.")],
    kme: Annotated[list[str] | None, typer.Option(help="A KME ID (repeat). Default: kme-a, kme-b.")] = None,
    sae: Annotated[list[str] | None, typer.Option(help="An SAE ID (repeat). Default: sae-a, sae-b.")] = None,
    scenario: Annotated[str | None, typer.Option(help="Make the KMEs and SAEs of this scenario instead.")] = None,
    server_name: Annotated[
        list[str] | None,
        typer.Option(help="A host name or IP address clients reach the KMEs at (repeat); localhost always."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Make a new CA even if FOLDER has one (every certificate is replaced).")
    ] = False,
) -> None:
    """Make a CA and sign a server certificate per KME and a client certificate per SAE (CN = its ID).

    A folder that already has a CA keeps it and its certificates: only the missing ones are signed (so
    certificates handed out stay valid); --force makes a new CA and replaces every named certificate. With
    --scenario, each link's two QKD devices (dev-LINK-NODE, for qinternet device) get a client certificate too.
    """
    devices: list[str] = []
    if scenario is not None:
        spec = scenario_named(scenario, "--scenario")
        topology = topology_of(spec)
        kmes, saes, devices = sorted(topology.kmes), sorted(topology.sae_kme), sorted(device_ends(spec))
    else:
        kmes, saes = kme or ["kme-a", "kme-b"], sae or ["sae-a", "sae-b"]
    kmes, saes = list(dict.fromkeys(kmes)), list(dict.fromkeys(saes))
    try:
        check_names(kmes, [*saes, *devices])
    except CertificateNameError as exc:
        raise ParameterError("--scenario" if scenario is not None else f"--{exc.role}", str(exc)) from None
    hosts = list(dict.fromkeys(server_name or []))
    for host in hosts:
        problem = server_name_problem(host)
        if problem is not None:
            raise ParameterError("--server-name", problem)
    check_output_folder(folder, "FOLDER")
    has_ca = (folder / "ca.pem").exists()
    if has_ca and not force and not (folder / "ca.key").exists():
        raise ParameterError("FOLDER", f"{str(folder)!r} has a ca.pem but no ca.key to sign with (--force: a new CA)")
    try:
        if has_ca and not force:
            signed = complete_pki(folder, kmes=kmes, saes=saes, devices=devices, server_names=hosts, field="FOLDER")
            typer.echo(
                f"CA {folder / 'ca.pem'} kept; signed {len(signed)} new certificate(s)"
                + (f" ({', '.join(signed)})" if signed else "")
                + "; the others kept (--force makes a new CA)"
            )
            kept = [name for name in kmes if name not in signed]
            if hosts and kept:
                typer.echo(
                    f"the KME certificates kept ({len(kept)}) name only the hosts they were signed for: to add "
                    f"{', '.join(hosts)}, delete {folder}/kme-*.pem and run this again (the SAEs' stay valid)"
                )
            return
        stale = sorted({p.stem for p in folder.glob("*.pem")} - {"ca", *kmes, *saes, *devices}) if has_ca else []
        files = init_pki(folder, kmes=kmes, saes=saes, devices=devices, server_names=hosts, field="FOLDER")
    except ParameterError:
        raise
    except OSError as exc:
        raise ParameterError("FOLDER", f"cannot write {str(folder)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a ca.key that is not ours
        raise ParameterError("FOLDER", f"{exc} (--force makes a new CA)") from None
    made = f"{len(kmes)} KME and {len(saes)} SAE"
    if devices:
        made = f"{len(kmes)} KME, {len(saes)} SAE and {len(devices)} device"
    typer.echo(f"CA {files.ca}; {made} certificates in {folder}")
    if stale:
        typer.echo(f"signed by the old CA, so no longer valid (name them to re-sign): {', '.join(stale)}")


def serve(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario or a YAML file: its nodes run KMEs.")],
    config: Annotated[Path | None, typer.Option(help="YAML file of settings (see qinternet.kms.settings).")] = None,
    pki: Annotated[Path | None, typer.Option(help="PKI folder (made with qinternet pki init if missing).")] = None,
    db: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the key store (sqlite:///kms.db).")] = None,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds per wall second (1).")] = None,
    base_port: Annotated[int | None, typer.Option(help="Port of the first KME; the others follow (8443).")] = None,
    host: Annotated[
        str | None, typer.Option(help="Address the KMEs listen on (127.0.0.1; 0.0.0.0 for every interface).")
    ] = None,
    ops_host: Annotated[
        str | None, typer.Option(help="Address of /metrics and the status page, plain HTTP (127.0.0.1).")
    ] = None,
    ops_port: Annotated[int | None, typer.Option(help="Port of /metrics and the status page, 0: off (9100).")] = None,
    pool_capacity_bits: Annotated[float | None, typer.Option(help="Most key a link's pool holds (8e6).")] = None,
    warm_up: Annotated[
        str | None, typer.Option(help="Simulated time run at once before serving, fills the pools (10min).")
    ] = None,
    master_key_file: Annotated[
        Path | None, typer.Option(help="32 bytes (raw or hex) to encrypt key material at rest.")
    ] = None,
    log_format: Annotated[str | None, typer.Option(help="text or json (one object per line).")] = None,
    ready_file: Annotated[
        Path | None,
        typer.Option(help="Write FILE (the KMEs' URLs, JSON) once they accept requests; removed when they stop."),
    ] = None,
    sae_quota_bits: Annotated[
        float | None,
        typer.Option(help="Key bits one master SAE may take at once, refilled over --sae-quota-window; 0: none (0)."),
    ] = None,
    sae_quota_window: Annotated[
        str | None, typer.Option(help="Time in which an SAE's spent quota fills again (1min).")
    ] = None,
    reservation_ttl: Annotated[
        str | None, typer.Option(help="A key its slave SAE never fetches is voided after this; 0: never (1h).")
    ] = None,
    redelivery_window: RedeliveryWindow = None,
    duration: Annotated[str | None, typer.Option(help="Stop after this much wall time (default: until ^C).")] = None,
    attack: Annotated[
        list[str] | None,
        typer.Option(
            help="Attack a link from a simulated time, as qinternet run --attack: "
            "LINK=KIND[:STRENGTH][@FROM[..UNTIL]]; routing avoids the link while its alarm is raised "
            "(repeat for more).",
        ),
    ] = None,
    dashboard: Annotated[
        bool,
        typer.Option("--dashboard", help="Also serve a live web dashboard of the network (plain HTTP on --ops-host)."),
    ] = False,
    dashboard_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port of --dashboard (8050; 0: any free port).")
    ] = None,
    devices: Annotated[
        str | None,
        typer.Option(
            help="simulated: the links run in the server; external: QKD devices push the links' key "
            "(qinternet device; see docs/southbound.md) (simulated)."
        ),
    ] = None,
    processes: Annotated[
        bool,
        typer.Option(
            "--processes",
            help="One qinternet kme process per node and one qinternet device process per link, relaying over "
            "mutual TLS (docs/kme-processes.md): the default unless --in-process or an option of it is given.",
        ),
    ] = False,
    in_process: Annotated[
        bool,
        typer.Option(
            "--in-process",
            help="Every KME in this one process on one key store, the links running here (faster to start; "
            "needed by --db, --attack, --dashboard and --devices, which select it).",
        ),
    ] = False,
    state_dir: Annotated[
        Path | None, typer.Option(help="With --processes: folder of the KMEs' own key stores (kme-state).")
    ] = None,
    max_block_bits: Annotated[
        float | None,
        typer.Option(help="With --processes: most key of one block the devices push, as qinternet device's (1e6)."),
    ] = None,
    relay_timeout: Annotated[
        str | None,
        typer.Option(
            help="With --processes: longest a relay may take, as qinternet kme's "
            "(0.5 s per hop of the longest relay path, at least 5 s).",
        ),
    ] = None,
) -> None:
    """Serve every node's KME with the ETSI GS QKD 014 API over mutual TLS, each KME a process of its own.

    By default (--processes) each node's KME is a qinternet kme process with its own key store (in
    --state-dir), each QKD link a qinternet device process pushing its key, and keys cross trusted nodes by
    KME-to-KME relay; the devices push the links' first --warm-up at once; each KME serves its /metrics and
    status page on --ops-port plus its rank. --in-process runs every KME and link in this one process on one
    store instead; --db, --attack, --dashboard and --devices act only there and select it. Settings come from these
    options, else QINTERNET_KMS_<NAME> environment variables, else --config. With --dashboard, the
    dashboard's address is printed on a line of its own (``dashboard: http://...``). With --devices external
    the links do not run in the server: each link's two QKD devices push its key to their KMEs over mutual
    TLS (their certificates are signed into --pki).
    """
    if dashboard_port is not None and not dashboard:
        raise ParameterError("--dashboard-port", "sets the port of --dashboard, which is not given")
    one_process: dict[str, object] = {
        "--db": db,
        "--attack": attack,
        "--dashboard": dashboard,
        "--devices": None if processes and devices == "external" else devices,  # what KME processes have
    }
    given = [option for option, value in one_process.items() if value]
    if processes and in_process:
        raise ParameterError("--in-process", "and --processes exclude each other: give one")
    for option in given if processes else []:
        raise ParameterError(option, "is not used with --processes (each KME has its own store, devices push the key)")
    timeout_s: float | None = None
    if max_block_bits is not None and not (math.isfinite(max_block_bits) and 256 <= max_block_bits <= 1e12):
        raise ParameterError("--max-block-bits", f"must be between 256 and 1e12, got {max_block_bits}")
    if relay_timeout is not None:
        timeout_s = parse_duration_option(relay_timeout, "--relay-timeout")
        if timeout_s > 600:
            raise ParameterError("--relay-timeout", f"must be at most 10min, got {relay_timeout!r}")
    spec = scenario_named(scenario)
    if attack:
        from qinternet.network.run import apply_run_options

        spec = apply_run_options(spec, attacks=attack)
    settings = load_serve_settings(
        config,
        {
            "pki": pki,
            "db": db,
            "speed": speed,
            "base_port": base_port,
            "host": host,
            "ops_host": ops_host,
            "ops_port": ops_port,
            "pool_capacity_bits": pool_capacity_bits,
            "warm_up_s": None if warm_up is None else parse_duration_option(warm_up, "--warm-up", allow_zero=True),
            "master_key_file": master_key_file,
            "log_format": log_format,
            "ready_file": ready_file,
            "sae_quota_bits": sae_quota_bits,
            "sae_quota_window_s": None
            if sae_quota_window is None
            else parse_duration_option(sae_quota_window, "--sae-quota-window"),
            "reservation_ttl_s": None
            if reservation_ttl is None
            else parse_duration_option(reservation_ttl, "--reservation-ttl", allow_zero=True),
            "redelivery_window_s": redelivery_window_s(redelivery_window),
            "devices": devices,
        },
    )
    # A key store or links set by the environment or --config are the one-process mode's too (never dropped).
    sourced = sorted({"db", "devices"} & settings.model_fields_set - {"devices" if processes else ""})
    if processes and "db" in sourced:
        raise ParameterError("--processes", "a db setting (environment or --config) is not used: each KME has its own")
    processes = processes or not (in_process or given or sourced)
    processes_only = {"--state-dir": state_dir, "--max-block-bits": max_block_bits, "--relay-timeout": relay_timeout}
    for option, value in processes_only.items() if not processes else []:
        if value is not None:
            why = "--in-process" if in_process else f"{given[0] if given else f'the {sourced[0]} setting'}"
            raise ParameterError(option, f"is for KME processes, not used with {why} (one process for every KME)")
    if processes:
        settings = settings.model_copy(update={"devices": "external"})
    if settings.devices == "external" and not processes:
        for acting, option in ((attack, "--attack"), (dashboard, "--dashboard"), (warm_up, "--warm-up")):
            if acting:
                raise ParameterError(option, "acts on links running in the server; with --devices external none does")
    stop_after = None if duration is None else parse_duration_option(duration, "--duration")
    if settings.ready_file is not None:
        check_output_file(settings.ready_file, "--ready-file")
    configure_logging(settings.log_format)
    plan = prepare_kmes(spec, settings)
    announce = functools.partial(
        _print_endpoints,
        Console(soft_wrap=True),
        spec.name,
        plan.topology.sae_kme,
        plan.files,
        settings,
        processes=processes,
        state_dir=state_dir or Path("kme-state"),
    )
    if processes:
        state = state_dir or Path("kme-state")
        _serve_processes(scenario, spec, plan, state, announce, stop_after, max_block_bits or 1e6, timeout_s)
        return
    side_apps = [_dashboard_app(settings.ops_host, dashboard_port)] if dashboard else []
    run_service(
        spec,
        settings,
        plan.topology,
        plan.limits,
        plan.files,
        announce=announce,
        stop_after_s=stop_after,
        policy=plan.policy,
        side_apps=side_apps,
        devices=plan.devices,
    )


def _serve_processes(
    scenario: str,
    spec: Scenario,
    plan: KmsPlan,
    state_dir: Path,
    announce: Callable[[list[KmeServer]], None],
    stop_after: float | None,
    max_block_bits: float,
    relay_timeout_s: float | None,
) -> None:
    """``serve --processes``: the KMEs and devices as processes (:mod:`qinternet.kms.processes`)."""
    from qinternet.cli.fork import fork_child, preload
    from qinternet.kms.pki import unsigned
    from qinternet.kms.processes import run_processes

    old = unsigned(plan.files, sorted(plan.topology.kmes), client_auth=True)
    if old:
        raise ParameterError(
            "--pki",
            f"{', '.join(f'{name}.pem' for name in old[:5])} may not call other KMEs (signed before KMEs relayed "
            "to each other): delete them and run again to re-sign them",
        )
    check_output_folder(state_dir, "--state-dir")
    _check_ports(plan)
    pushes = sum(2 * max_block_bits / 256 / link.block_s for link in spec.links) * plan.settings.speed
    if pushes > MAX_PUSHES_PER_S:
        logger.warning(
            "--speed %g: the devices may push up to %.0f keys/s to the KMEs, more than %d processes on one machine "
            "keep up with (relays then time out); --in-process runs an accelerated network",
            plan.settings.speed,
            pushes,
            len(spec.links) + len(plan.topology.kmes),
        )
    try:
        state_dir.mkdir(exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ParameterError("--state-dir", f"cannot be made: {exc.strerror or exc}") from None
    preload()  # before the first fork: the children import nothing
    run_processes(
        scenario,
        spec,
        plan,
        state_dir,
        announce=announce,
        stop_after_s=stop_after,
        max_block_bits=max_block_bits,
        start_child=fork_child,
        relay_timeout=relay_timeout_s,
    )


MAX_PUSHES_PER_S = 2000.0
"""Above this many 256-bit keys a second pushed by all devices (at most ``--max-block-bits`` a block, at
``--speed``), ``serve`` warns: ``beijing-shanghai`` at ``--speed 100`` (about 23,000 a second) left its relays
timing out on 2 cores, at ``--speed 1`` (230) they took 0.2 s over 35 hops (2026-12-08)."""


def _check_ports(plan: KmsPlan) -> None:
    """Every KME's port and ops port free, or one line naming the option before any process starts (each KME
    binds its own later; one taken in between stops serve with that KME's line)."""
    from qinternet.kms.processes import ops_ports
    from qinternet.kms.service import listen_on

    settings = plan.settings
    kmes = sorted(plan.topology.kmes)
    if settings.ops_port and settings.ops_port + len(kmes) - 1 > 65535:
        raise ParameterError("--ops-port", f"leaves no port for the last of {len(kmes)} KMEs")
    if settings.ops_port and abs(settings.ops_port - settings.base_port) < len(kmes):
        raise ParameterError(
            "--ops-port", f"{settings.ops_port} and on overlaps the KMEs' ports ({settings.base_port} and on)"
        )
    wanted = [
        (settings.host, settings.base_port + i, ("--host", "--base-port", f"{kme}'s port"))
        for i, kme in enumerate(kmes)
    ]
    wanted += [
        (settings.ops_host, port, ("--ops-host", "--ops-port", f"{kme}'s ops port"))
        for kme, port in ops_ports(kmes, settings.ops_port).items()
        if port
    ]
    for host, port, options in wanted:
        listen_on(host, port, options=options).close()


def _dashboard_app(host: str, port: int | None) -> SideApp:
    """The live dashboard beside the KMEs (:mod:`qinternet.dashboard`), its address printed once they serve."""
    from qinternet.cli.dashboard_cmd import DEFAULT_PORT
    from qinternet.dashboard.app import create_dashboard_app
    from qinternet.dashboard.live import live_source

    return SideApp(
        option="--dashboard-port",
        host=host,
        port=DEFAULT_PORT if port is None else port,
        build=lambda feeder, store, topology: create_dashboard_app(live_source(feeder, store, topology)),
        ready=lambda url: typer.echo(f"dashboard: {url}"),
    )


def _print_endpoints(
    console: Console,
    name: str,
    sae_kme: Mapping[str, str],
    files: PkiFiles,
    settings: ServeSettings,
    servers: list[KmeServer],
    *,
    processes: bool = False,
    state_dir: Path | None = None,
) -> None:
    table = Table(title=f"{name}: KMEs serving ETSI GS QKD 014 over mutual TLS")
    own_ops = processes and bool(settings.ops_port)
    for column in ("KME", "URL", "its SAEs (certificate, key)", *(["status, /metrics"] if own_ops else [])):
        table.add_column(column, overflow="fold")  # whole addresses, also in a narrow or non-terminal output
    attached: dict[str, list[str]] = {}
    for sae, kme in sae_kme.items():
        attached.setdefault(kme, []).append(sae)
    from qinternet.kms.processes import ops_ports

    ops = ops_ports([server.kme_id for server in servers], settings.ops_port)
    for server in servers:
        saes = ", ".join(f"{s} ({files.cert(s).name}, {files.key(s).name})" for s in attached.get(server.kme_id, []))
        table.add_row(
            server.kme_id,
            client_url(server.host, server.port),
            saes or "-",
            *([client_url(settings.ops_host, ops[server.kme_id], "http")] if own_ops else []),
        )
    console.print(table)
    if settings.ops_port and not processes:
        ops_url = client_url(settings.ops_host, settings.ops_port, "http")
        console.print(f"Status page and Prometheus metrics: {ops_url}/ and /metrics")
    if processes:
        console.print(
            f"One qinternet kme process per KME (stores in {state_dir}) and one qinternet device process per link; "
            "keys cross trusted nodes by KME-to-KME relay (docs/kme-processes.md).",
            markup=False,
            highlight=False,
        )
    else:
        console.print(
            "Every KME in this process on one key store (--in-process, selected by --db, --attack, --dashboard or "
            "--devices); without them each KME is a process of its own.",
            markup=False,
            highlight=False,
        )
    if not processes and settings.devices == "external":
        console.print(
            f"The pools fill only from QKD devices: qinternet device <link> --scenario {name} --pki {files.folder} "
            "--kme-a <URL of its end a> --kme-b <URL of its end b>",
            markup=False,
            highlight=False,
        )
    console.print(f"CA: {files.ca}. Try (one line; <sae> and <slave SAE> from the table):")
    console.print(
        f"curl --cacert {files.ca} --cert {files.folder}/<sae>.pem --key {files.folder}/<sae>.key "
        f"{client_url(settings.host, servers[0].port)}/api/v1/keys/<slave SAE>/status",
        markup=False,
        highlight=False,
    )
