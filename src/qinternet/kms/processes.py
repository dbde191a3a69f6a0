"""``qinternet serve`` (by default, or ``--processes``): a whole network on one machine as separate processes,
one ``qinternet kme`` per node and one ``qinternet device`` per QKD link.

:func:`run_processes` starts every KME (each on its own store in the state folder, at the port ``serve``
gives it), waits until each has written its ready file, then starts the links' device pairs pointed at
their two KMEs and waits until each has pushed its link's warm-up (``--warm-up``), writes the network's
ready file (every KME's URL, as ``serve`` does), and on SIGINT or SIGTERM (or after ``stop_after_s``)
stops them all: SIGTERM to each, then SIGKILL to any still running after :data:`STOP_GRACE_S`. A child
that exits while the network runs is logged, and the others go on (a
restarted KME completes or voids its relays, :mod:`.relay`).

Each child is a process of its own (its own memory, store, port and certificate; a SIGKILL of one leaves the
others running) running the command line ``qinternet kme ...`` / ``qinternet device ...`` (:func:`kme_command`).
``serve`` starts them with :func:`qinternet.cli.fork.fork_child`: a ``fork`` of itself after importing what they
need, rather than :func:`spawn_child`'s ``python -m qinternet``, because an interpreter that imports qinternet,
FastAPI, uvicorn, SQLAlchemy and the link models takes about 2.7 s of CPU and 215 MB: the 71 children of
``beijing-shanghai`` took over 100 s to start on 2 cores that way and did not fit :data:`START_TIMEOUT_S`
under load; forked, they start in seconds and share the imported pages until they write them. ``qinternet kme``
and ``qinternet device`` (what an operator runs on separate machines, docs/kme-processes.md) are unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from qinternet.errors import ParameterError, interrupt_handled
from qinternet.kms.feeder import kme_id
from qinternet.kms.node import peer_urls
from qinternet.kms.prepare import KmsPlan
from qinternet.kms.settings import ServeSettings
from qinternet.kms.tls import KmeServer, SignalStop
from qinternet.kms.topology import KmsTopology, longest_relay_hops
from qinternet.network.schema import Scenario
from qinternet.outputs import write_file

__all__ = [
    "KME_SETTINGS",
    "STOP_GRACE_S",
    "Child",
    "ChildProcess",
    "ChildStarter",
    "kme_command",
    "kme_environment",
    "ops_ports",
    "relay_timeout_s",
    "run_processes",
    "spawn_child",
]

logger = logging.getLogger("qinternet.kms")

STOP_GRACE_S = 10.0
"""Seconds a child has to stop after SIGTERM before it is killed."""
START_TIMEOUT_S = 120.0
"""Longest the KMEs may take to be ready."""
WARM_UP_TIMEOUT_S = 1800.0
"""Longest the devices may take to push their links' warm-up (``--warm-up``) once the KMEs are ready."""


class ChildProcess(Protocol):
    """What the network needs of a child process (:class:`subprocess.Popen` has it, and so has a forked child
    of :mod:`qinternet.cli.fork`)."""

    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...


ChildStarter = Callable[[Sequence[str], Mapping[str, str] | None], ChildProcess]
"""Starts ``qinternet ARGV...`` as a child process with variables added to its environment."""


def spawn_child(argv: Sequence[str], environment: Mapping[str, str] | None = None) -> ChildProcess:
    """A child started as ``python -m qinternet ARGV...`` (a new interpreter: slow to start, see the module
    docstring; ``serve`` forks instead, :func:`qinternet.cli.fork.fork_child`)."""
    command = [sys.executable, "-m", "qinternet", *argv]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, env=os.environ | dict(environment or {}))


@dataclass(slots=True)
class Child:
    """A process of the network: what it is (``kme-a``, ``device ab``) and the process."""

    name: str
    process: ChildProcess


RELAY_TIMEOUT_PER_HOP_S = 0.5
"""What :func:`relay_timeout_s` allows each hop of the network's longest relay path (a hop is a commit and a
request between two KMEs: 15-30 ms at the benchmark's load, benchmarks/README.md item 16, and several times
that with 71 children on 2 cores)."""
MIN_RELAY_TIMEOUT_S = 5.0
"""``qinternet kme``'s default ``--relay-timeout``, the least :func:`relay_timeout_s` gives."""


def relay_timeout_s(topology: KmsTopology) -> float:
    """The relay timeout ``serve`` gives its KMEs: :data:`RELAY_TIMEOUT_PER_HOP_S` per hop of the longest relay
    path (:func:`~.topology.longest_relay_hops`; a relay's steps are sent on hop after hop, so its time grows
    with its path), at least :data:`MIN_RELAY_TIMEOUT_S` and at most 10 min. ``beijing-shanghai``: 35 hops,
    17.5 s."""
    return min(600.0, max(MIN_RELAY_TIMEOUT_S, RELAY_TIMEOUT_PER_HOP_S * longest_relay_hops(topology)))


def kme_command(
    scenario: str,
    node: str,
    plan: KmsPlan,
    state_dir: Path,
    *,
    ready_file: Path | None = None,
    ops_port: int = 0,
    relay_timeout: float | None = None,
) -> list[str]:
    """The ``qinternet kme`` command line of ``node``'s KME in ``plan`` (its store in ``state_dir``; its
    ``/metrics`` and status page on ``ops_port`` at ``plan.settings.ops_host``, none for 0; ``relay_timeout``
    seconds, default :func:`relay_timeout_s` of the plan's topology)."""
    settings = plan.settings
    command = [
        *(sys.executable, "-m", "qinternet", "kme", "--node", node, "--scenario", scenario),
        *("--pki", str(plan.files.folder), "--state-dir", str(state_dir), "--base-port", str(settings.base_port)),
        *("--host", settings.host, "--pool-capacity-bits", f"{settings.pool_capacity_bits:g}"),
        *("--log-format", settings.log_format),
        *("--redelivery-window", repr(settings.redelivery_window_s)),
        *("--relay-timeout", f"{relay_timeout if relay_timeout is not None else relay_timeout_s(plan.topology)!r}s"),
    ]
    if settings.master_key_file is not None:
        command += ["--master-key-file", str(settings.master_key_file)]
    if ready_file is not None:
        command += ["--ready-file", str(ready_file)]
    if ops_port:
        command += ["--ops-host", settings.ops_host, "--ops-port", str(ops_port)]
    return command


def ops_ports(kmes: Sequence[str], first: int) -> dict[str, int]:
    """The ops port of each KME process: ``first`` + its rank among the sorted KME IDs (none for 0), as the
    KMEs' own ports follow ``--base-port``."""
    return {kme: first + i if first else 0 for i, kme in enumerate(sorted(kmes))}


KME_SETTINGS = (
    "key_size",
    "min_key_size",
    "max_key_size",
    "max_key_per_request",
    "max_sae_id_count",
    "sae_quota_bits",
    "sae_quota_window_s",
    "reservation_ttl_s",
)
"""The settings a KME child is given by environment (``QINTERNET_KMS_<NAME>``), not by an option of
``qinternet kme``: the key limits of its Status, the per-SAE quota and the reservations' expiry."""


def kme_environment(settings: ServeSettings) -> dict[str, str]:
    """The ``QINTERNET_KMS_*`` variables that give a KME child ``settings``' values of :data:`KME_SETTINGS`
    (whether they came from an option, the environment or ``--config``: a variable beats the child's
    inherited ones and its own ``--config``, which it is not given)."""
    return {f"QINTERNET_KMS_{name.upper()}": repr(getattr(settings, name)) for name in KME_SETTINGS}


def run_processes(
    scenario: str,
    spec: Scenario,
    plan: KmsPlan,
    state_dir: Path,
    *,
    announce: Callable[[list[KmeServer]], None],
    stop_after_s: float | None = None,
    max_block_bits: float = 1e6,
    start_child: ChildStarter = spawn_child,
    relay_timeout: float | None = None,
) -> None:
    """Run the network of ``plan`` as processes until ^C, SIGTERM or ``stop_after_s`` (module docstring).

    ``scenario`` is what the children are given (a built-in name or a file); ``spec`` is it read;
    ``max_block_bits`` the most key of a block the devices push; ``start_child`` starts each child (``serve``
    forks them, :func:`qinternet.cli.fork.fork_child`); ``relay_timeout`` the KMEs' (seconds; default
    :func:`relay_timeout_s`).

    Raises:
        ParameterError: a KME that exits or is not ready in time (``--processes``, with its last log line).
    """
    settings = plan.settings
    urls = peer_urls(sorted(plan.topology.kmes), settings.base_port)
    children: list[Child] = []
    try:
        with SignalStop(raising=True) as stop, tempfile.TemporaryDirectory(prefix="qinternet-serve-") as scratch:
            ready = {kme: Path(scratch) / f"{kme}.json" for kme in urls}
            node_of = {kme_id(n.id): n.id for n in spec.nodes}
            ops = ops_ports(list(urls), settings.ops_port)
            timeout_s = relay_timeout if relay_timeout is not None else relay_timeout_s(plan.topology)
            for kme in sorted(urls):
                command = kme_command(
                    scenario,
                    node_of[kme],
                    plan,
                    state_dir,
                    ready_file=ready[kme],
                    ops_port=ops[kme],
                    relay_timeout=timeout_s,
                )
                children.append(Child(kme, start_child(command[3:], kme_environment(settings))))
            _wait_ready(children, ready, "KMEs started", START_TIMEOUT_S)
            warmed = {link.id: Path(scratch) / f"device-{i}.json" for i, link in enumerate(spec.links)}
            for link in spec.links:
                command = [
                    *("device", link.id, "--scenario", scenario),
                    *("--pki", str(plan.files.folder), "--speed", f"{settings.speed:g}"),
                    *("--warm-up", f"{settings.warm_up_s!r}s", "--ready-file", str(warmed[link.id])),
                    *("--kme-a", urls[kme_id(link.a)], "--kme-b", urls[kme_id(link.b)]),
                    *("--log-format", settings.log_format, "--max-block-bits", f"{max_block_bits:g}"),
                ]
                children.append(Child(f"device {link.id}", start_child(command, None)))
            _wait_ready(children, warmed, "links warmed up", WARM_UP_TIMEOUT_S)
            stop.raising = False
            servers = [
                KmeServer(kme, None, settings.base_port + i, Path(), Path(), Path(), host=settings.host)
                for i, kme in enumerate(sorted(urls))
            ]
            announce(servers)
            if settings.ready_file is not None:
                write_file(settings.ready_file, json.dumps(urls, indent=2) + "\n", "--ready-file")
            try:
                _watch(children, stop, stop_after_s)
            finally:
                if settings.ready_file is not None:
                    settings.ready_file.unlink(missing_ok=True)
    except KeyboardInterrupt:
        interrupt_handled()
    finally:
        _stop_all(children)
    logger.info("stopped")


def _wait_ready(children: Sequence[Child], ready: dict[str, Path], what: str, timeout_s: float) -> None:
    """Wait until every file of ``ready`` exists (a bar on standard error counts them), or fail: a child that
    exits meanwhile, or ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        auto_refresh=False,  # no refresh thread: the next children are forked from this process
    ) as progress:
        bar = progress.add_task(what, total=len(ready))
        while (done := sum(path.exists() for path in ready.values())) < len(ready):
            progress.update(bar, completed=done)
            progress.refresh()
            for child in children:
                if child.process.poll() is not None:
                    raise ParameterError(
                        "serve", f"{child.name} exited with status {child.process.returncode} while starting"
                    )
            if time.monotonic() > deadline:
                late = sorted(name for name, path in ready.items() if not path.exists())
                raise ParameterError("serve", f"{', '.join(late[:5])} not ready in {timeout_s:g} s ({what})")
            time.sleep(0.05)


def _watch(children: Sequence[Child], stop: SignalStop, stop_after_s: float | None) -> None:
    started = time.monotonic()
    reported: set[str] = set()
    while not stop.requested:
        if stop_after_s is not None and time.monotonic() - started >= stop_after_s:
            return
        for child in children:
            if child.name not in reported and child.process.poll() is not None:
                reported.add(child.name)
                logger.warning("%s exited with status %s", child.name, child.process.returncode)
        time.sleep(0.1)


def _stop_all(children: Sequence[Child]) -> None:
    """SIGTERM every child still running, the devices first (they CLOSE their streams at KMEs still up), then
    SIGKILL those still running after :data:`STOP_GRACE_S`."""
    devices = [child for child in children if child.name.startswith("device ")]
    kmes = [child for child in children if not child.name.startswith("device ")]
    for group in (devices, kmes):
        for child in group:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in group:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %g s: killed", child.name, STOP_GRACE_S)
                child.process.kill()
                child.process.wait()
