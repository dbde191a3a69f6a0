"""The SeQUeNCe peer: finding or building its Python 3.12 venv, and running its benchmarks.

SeQUeNCe 1.x needs Python >= 3.12 (qinternet supports 3.11), so the peer runs in its own interpreter:
``benchmarks/peers/sequence_bb84.py`` (BB84), ``benchmarks/peers/sequence_cascade.py`` (Cascade on
frames passed in an ``.npz`` file) and ``benchmarks/peers/sequence_repeater.py`` (a repeater chain) are
started with that interpreter and print one JSON object each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CASCADE_PEER_SCRIPT",
    "PEER_ENV_VAR",
    "PEER_SCRIPT",
    "REPEATER_PEER_SCRIPT",
    "SEQUENCE_REQUIREMENT",
    "CascadePeerRun",
    "PeerRun",
    "RepeaterPeerRun",
    "find_peer_python",
    "peer_version",
    "run_cascade_peer",
    "run_peer",
    "run_repeater_peer",
    "run_repeater_peers",
    "setup_peer",
]

REPO = Path(__file__).resolve().parent.parent
PEER_SCRIPT = REPO / "benchmarks" / "peers" / "sequence_bb84.py"
CASCADE_PEER_SCRIPT = REPO / "benchmarks" / "peers" / "sequence_cascade.py"
REPEATER_PEER_SCRIPT = REPO / "benchmarks" / "peers" / "sequence_repeater.py"
BENCH_VENV = REPO / ".bench-venv" / "sequence"
PEER_ENV_VAR = "QINTERNET_SEQUENCE_PYTHON"
SEQUENCE_REQUIREMENT = "sequence==1.3.1"
PEER_TIMEOUT_S = 1800.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerRun:
    """One run of the peer script: its JSON record, or why there is none.

    Attributes:
        distance_km: link length passed to the peer.
        record: the peer's JSON object (None if the run failed).
        error: the tail of the peer's stderr when it failed.
    """

    distance_km: float
    record: dict[str, Any] | None
    error: str | None = None


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def find_peer_python(explicit: str | None) -> Path | None:
    """The interpreter of a venv with ``sequence`` installed, or None.

    In order: ``explicit`` (``--peer-python``), the ``QINTERNET_SEQUENCE_PYTHON`` environment
    variable, the venv made by :func:`setup_peer` (``.bench-venv/sequence``).
    """
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(PEER_ENV_VAR)
    if from_env:
        return Path(from_env)
    built = _venv_python(BENCH_VENV)
    return built if built.exists() else None


def peer_version(python: Path) -> str | None:
    """The version of ``sequence`` importable by ``python``, or None if there is none."""
    code = "import importlib.metadata as m, sequence; print(m.version('sequence'))"
    try:
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _python_312() -> Path | None:
    """A Python >= 3.12 interpreter: the newest pyenv 3.12.x, else ``python3.12`` on PATH."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        candidates = sorted(Path(root).glob("versions/3.12*/bin/python3.12")) if root else []
        if candidates:
            return candidates[-1]
    on_path = shutil.which("python3.12")
    return Path(on_path) if on_path else None


def setup_peer(log: Callable[[str], object]) -> Path:
    """Create ``.bench-venv/sequence`` with Python 3.12 and ``sequence==1.3.1``; return its python.

    Args:
        log: called with one line of progress at a time (e.g. ``console.print``).

    Raises:
        RuntimeError: no Python >= 3.12 was found, or venv/pip failed.
    """
    base = _python_312()
    if base is None:
        raise RuntimeError("no Python >= 3.12 found (tried `pyenv root`/versions/3.12* and python3.12)")
    python = _venv_python(BENCH_VENV)
    if not python.exists():
        log(f"creating {BENCH_VENV} with {base}")
        subprocess.run([str(base), "-m", "venv", str(BENCH_VENV)], check=True)
    log(f"installing {SEQUENCE_REQUIREMENT} (about 40 s, ~130 packages)")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, SEQUENCE_REQUIREMENT], check=True)
    return python


def _run_json(command: list[str]) -> tuple[dict[str, Any] | None, str | None]:
    """Run a peer script; its last stdout line parsed as JSON, or None and the tail of its stderr."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=PEER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {PEER_TIMEOUT_S:g} s"
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        return None, tail or f"exit code {done.returncode}"
    return json.loads(lines[-1]), None


def run_peer(python: Path, distance_km: float, seed: int, sim_time_s: float | None) -> PeerRun:
    """Run the SeQUeNCe BB84 peer script once at ``distance_km``; ``sim_time_s`` None uses its default."""
    command = [str(python), str(PEER_SCRIPT), "--distance-km", str(distance_km), "--seed", str(seed)]
    if sim_time_s is not None:
        command += ["--sim-time-s", str(sim_time_s)]
    record, error = _run_json(command)
    return PeerRun(distance_km=distance_km, record=record, error=error)


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadePeerRun:
    """One run of SeQUeNCe's Cascade on a batch of frames: its JSON record, or why there is none."""

    record: dict[str, Any] | None
    error: str | None = None


def run_cascade_peer(
    python: Path, alice: NDArray[np.uint8], bob: NDArray[np.uint8], qber: float, seed: int
) -> CascadePeerRun:
    """Run SeQUeNCe's Cascade (``peers/sequence_cascade.py``) once on the frames ``alice``/``bob`` (F, n).

    The frames go through a temporary ``.npz`` file, so both simulators correct identical frames;
    ``qber`` is the error rate of the key pair SeQUeNCe's Cascade estimates its block size from.
    """
    with tempfile.TemporaryDirectory(prefix="qinternet-cascade-") as folder:
        frames = Path(folder) / "frames.npz"
        np.savez(frames, alice=alice, bob=bob)
        command = [str(python), str(CASCADE_PEER_SCRIPT), "--frames", str(frames), "--qber", str(qber)]
        record, error = _run_json([*command, "--seed", str(seed)])
    return CascadePeerRun(record=record, error=error)


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeaterPeerRun:
    """One run of SeQUeNCe's repeater chain (``peers/sequence_repeater.py``): its JSON record, or why there is none.

    Attributes:
        nodes: routers in the chain.
        sim_time_s: simulated time of the end-to-end request, s.
        record: the peer's JSON object (None if the run failed): ``pairs``, ``pairs_per_wall_s``,
            ``pairs_per_sim_s``, ``mean_fidelity``, ``wall_s``, ``parameters``, ...
        error: the tail of the peer's stderr when it failed.
    """

    nodes: int
    sim_time_s: float
    record: dict[str, Any] | None
    error: str | None = None


def run_repeater_peer(
    python: Path,
    nodes: int,
    sim_time_s: float,
    seed: int,
    spacing_km: float = 50.0,
    params: dict[str, float | int] | None = None,
) -> RepeaterPeerRun:
    """Run SeQUeNCe's repeater chain once: ``nodes`` routers ``spacing_km`` apart for ``sim_time_s``.

    Args:
        python: the interpreter of the SeQUeNCe venv (:func:`find_peer_python`).
        nodes: routers in the chain (>= 2).
        sim_time_s: simulated time of the end-to-end request, s.
        seed: seed of the nodes' generators (the run is repeatable for a seed).
        spacing_km: router-to-router fibre length, km.
        params: overrides of the peer's ``DEFAULTS`` (memory, detector, fibre, swap and request parameters,
            by the keys the record's ``parameters`` shows); None keeps its defaults.
    """
    command = [
        str(python),
        str(REPEATER_PEER_SCRIPT),
        "--nodes",
        str(nodes),
        "--spacing-km",
        str(spacing_km),
        "--sim-time-s",
        str(sim_time_s),
        "--seed",
        str(seed),
    ]
    if params:
        command += ["--params-json", json.dumps(params)]
    record, error = _run_json(command)
    return RepeaterPeerRun(nodes=nodes, sim_time_s=sim_time_s, record=record, error=error)


def run_repeater_peers(
    python: Path,
    seed: int,
    *,
    nodes: tuple[int, ...] = (3, 5),
    sim_time_s: float = 1.0,
    growth_nodes: int = 3,
    growth_sim_times_s: tuple[float, ...] = (1.0, 2.0, 4.0),
    params: dict[str, float | int] | None = None,
    log: Callable[[str], object] = lambda _line: None,
) -> dict[str, Any]:
    """SeQUeNCe's chain for each of ``nodes`` at 50 km spacing, and its wall time against simulated time.

    The growth series runs ``growth_nodes`` routers for each of ``growth_sim_times_s`` (a run of the
    first series with the same size and time is reused): SeQUeNCe's cost per simulated second can rise with
    the length of a run (its heap of cancelled expiry events grows for one coherence time), so each run's
    pairs per wall- and CPU-second are kept.

    Returns:
        ``{"chains": [record, ...], "growth": [record, ...], "errors": [...]}``: the peer's JSON records
        (see :class:`RepeaterPeerRun`), failed runs listed in ``errors`` with their stderr tail.
    """
    done: dict[tuple[int, float], RepeaterPeerRun] = {}

    def one(n: int, t: float) -> RepeaterPeerRun:
        if (n, t) not in done:
            log(f"SeQUeNCe repeater chain: {n} nodes, {t:g} simulated s")
            done[n, t] = run_repeater_peer(python, n, t, seed, params=params)
        return done[n, t]

    chains = [one(n, sim_time_s) for n in nodes]
    growth = [one(growth_nodes, t) for t in growth_sim_times_s]
    errors = [
        {"nodes": run.nodes, "sim_time_s": run.sim_time_s, "error": run.error}
        for run in done.values()
        if run.record is None
    ]
    return {
        "chains": [run.record for run in chains if run.record is not None],
        "growth": [run.record for run in growth if run.record is not None],
        "errors": errors,
    }
