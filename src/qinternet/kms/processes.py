"""``qinternet serve --processes``: a whole network on one machine as separate processes, one ``qinternet kme``
per node and one ``qinternet device`` per QKD link.

:func:`run_processes` starts every KME (each on its own store in the state folder, at the port ``serve``
gives it), waits until each has written its ready file, then starts the links' device pairs pointed at
their two KMEs, writes the network's ready file (every KME's URL, as ``serve`` does), and on SIGINT or
SIGTERM (or after ``stop_after_s``) stops them all: SIGTERM to each, then SIGKILL to any still running
after :data:`STOP_GRACE_S`. A child that exits while the network runs is logged, and the others go on (a
restarted KME completes or voids its relays, :mod:`.relay`).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qinternet.errors import ParameterError, interrupt_handled
from qinternet.kms.feeder import kme_id
from qinternet.kms.node import peer_urls
from qinternet.kms.prepare import KmsPlan
from qinternet.kms.settings import ServeSettings
from qinternet.kms.tls import KmeServer, SignalStop
from qinternet.network.schema import Scenario
from qinternet.outputs import write_file

__all__ = ["KME_SETTINGS", "STOP_GRACE_S", "Child", "kme_command", "kme_environment", "run_processes"]

logger = logging.getLogger("qinternet.kms")

STOP_GRACE_S = 10.0
"""Seconds a child has to stop after SIGTERM before it is killed."""
START_TIMEOUT_S = 120.0
"""Longest the KMEs may take to be ready."""


@dataclass(slots=True)
class Child:
    """A process of the network: what it is (``kme-a``, ``device ab``) and the process."""

    name: str
    process: subprocess.Popen[bytes]


def kme_command(
    scenario: str, node: str, plan: KmsPlan, state_dir: Path, *, ready_file: Path | None = None
) -> list[str]:
    """The ``qinternet kme`` command line of ``node``'s KME in ``plan`` (its store in ``state_dir``)."""
    settings = plan.settings
    command = [
        *(sys.executable, "-m", "qinternet", "kme", "--node", node, "--scenario", scenario),
        *("--pki", str(plan.files.folder), "--state-dir", str(state_dir), "--base-port", str(settings.base_port)),
        *("--host", settings.host, "--pool-capacity-bits", f"{settings.pool_capacity_bits:g}"),
        *("--log-format", settings.log_format),
        *("--redelivery-window", repr(settings.redelivery_window_s)),
    ]
    if settings.master_key_file is not None:
        command += ["--master-key-file", str(settings.master_key_file)]
    if ready_file is not None:
        command += ["--ready-file", str(ready_file)]
    return command


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
) -> None:
    """Run the network of ``plan`` as processes until ^C, SIGTERM or ``stop_after_s`` (module docstring).

    ``scenario`` is what the children are given (a built-in name or a file); ``spec`` is it read;
    ``max_block_bits`` the most key of a block the devices push.

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
            for kme in sorted(urls):
                command = kme_command(scenario, node_of[kme], plan, state_dir, ready_file=ready[kme])
                environment = os.environ | kme_environment(settings)
                children.append(Child(kme, subprocess.Popen(command, stdin=subprocess.DEVNULL, env=environment)))
            _wait_ready(children, ready)
            for link in spec.links:
                command = [
                    *(sys.executable, "-m", "qinternet", "device", link.id, "--scenario", scenario),
                    *("--pki", str(plan.files.folder), "--speed", f"{settings.speed:g}"),
                    *("--kme-a", urls[kme_id(link.a)], "--kme-b", urls[kme_id(link.b)]),
                    *("--log-format", settings.log_format, "--max-block-bits", f"{max_block_bits:g}"),
                ]
                children.append(Child(f"device {link.id}", subprocess.Popen(command, stdin=subprocess.DEVNULL)))
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


def _wait_ready(children: Sequence[Child], ready: dict[str, Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not all(path.exists() for path in ready.values()):
        for child in children:
            if child.process.poll() is not None:
                raise ParameterError(
                    "--processes", f"{child.name} exited with status {child.process.returncode} while starting"
                )
        if time.monotonic() > deadline:
            late = sorted(kme for kme, path in ready.items() if not path.exists())
            raise ParameterError("--processes", f"{', '.join(late[:5])} not ready in {START_TIMEOUT_S:g} s")
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
    """SIGTERM every child still running, then SIGKILL those still running after :data:`STOP_GRACE_S`."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %g s: killed", child.name, STOP_GRACE_S)
            child.process.kill()
            child.process.wait()
