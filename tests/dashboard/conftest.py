"""A small network to watch live, the outputs of a run and of a sweep, and a dashboard served in a thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from qinternet.apps.network_apps import run_scenario
from qinternet.kms.feeder import NetworkFeeder
from qinternet.kms.store import KeyStore
from qinternet.kms.tls import QuietServer, listen
from qinternet.network.schema import Scenario, load_scenario
from qinternet.report.files import save_run
from qinternet.report.sweep import write_sweep_report
from qinternet.sweep.runner import STUDY_COPY, write_results
from qinternet.sweep.study import load_study

NETWORK = """
name: three-sites
seed: 5
time: {duration_s: 10min, step_s: 60s}
nodes:
  - {id: alice, kind: user, lat_deg: 46.2, lon_deg: 6.1}
  - {id: relay, kind: user, trusted: true, lat_deg: 46.5, lon_deg: 6.6}
  - {id: bob, kind: user, lat_deg: 46.9, lon_deg: 7.4}
links:
  - {id: ar, a: alice, b: relay, length_km: 20, block_s: 60}
  - {id: rb, a: relay, b: bob, length_km: 30, block_s: 60}
demands:
  - {id: ab, a: alice, b: bob, rate_bps: 1000}
"""
"""Three users in a line, the middle one trusted: keys from alice to bob are relayed, to the relay are not."""

STUDY = """
name: efficiency
description: key against detector efficiency
base: {kind: keyrate}
vary:
  - {field: detector.efficiency, values: [0.1, 0.2]}
metrics: [key_rate_per_pulse]
"""


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(NETWORK)


@pytest.fixture
def feeder(scenario: Scenario, tmp_path: Path) -> Iterator[NetworkFeeder]:
    store = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
    yield NetworkFeeder(scenario, store, capacity_bytes=10**8)
    store.close()


ATTACK_FROM_S = 900.0
"""When Eve starts intercepting and resending every photon of link ``rb`` in :func:`attacked_feeder`."""


@pytest.fixture
def attacked_feeder(tmp_path: Path) -> Iterator[NetworkFeeder]:
    """:data:`NETWORK` with an intercept-resend attack on ``rb`` from :data:`ATTACK_FROM_S`."""
    scenario = load_scenario(NETWORK + f"attacks:\n  - {{link: rb, kind: intercept-resend, from_s: {ATTACK_FROM_S}}}\n")
    store = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
    yield NetworkFeeder(scenario, store, capacity_bytes=10**8)
    store.close()


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs of ``qinternet run`` on :data:`NETWORK` (ten minutes in steps of a minute)."""
    folder = tmp_path_factory.mktemp("outputs") / "three-sites"
    save_run(run_scenario(load_scenario(NETWORK)), folder)
    return folder


@pytest.fixture(scope="session")
def sweep_folder(run_folder: Path) -> Path:
    """The outputs of a sweep beside the run's: results.parquet (one metric is NaN) and the study."""
    folder = run_folder.parent / "efficiency"
    folder.mkdir()
    study_file = folder.parent / "study.yaml"
    study_file.write_text(STUDY)
    study, _ = load_study(study_file)
    rows = [
        {"detector.efficiency": 0.1, "seed": 1, "key_rate_per_pulse": 5e-4},
        {"detector.efficiency": 0.2, "seed": 1, "key_rate_per_pulse": float("nan")},
    ]
    write_results(folder / "results.parquet", rows, study, "--out")
    (folder / STUDY_COPY).write_text(json.dumps(study.model_dump(mode="json")))
    fields = [axis.field for axis in study.vary]
    write_sweep_report(folder, rows, name=study.name, description=study.description, fields=fields,
                       metrics=study.metrics, grid=True, details=[])  # fmt: skip
    return folder


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` served on a free port of 127.0.0.1 in a thread: yields its URL; stops it afterwards."""
    sock = listen("127.0.0.1", 0)
    server = QuietServer(uvicorn.Config(app, access_log=False, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
