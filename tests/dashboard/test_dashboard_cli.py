"""``qinternet dashboard DIR`` and ``qinternet serve --dashboard`` as a user runs them."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.dashboard.conftest import NETWORK
from tests.servers import free_port, free_ports


def test_dashboard_serves_the_outputs_and_prints_its_address(cli, run_folder: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    code, out, err = cli("dashboard", str(run_folder.parent), "--port", str(port), "--duration", "0.3s")
    assert code == 0, err
    assert f"dashboard: http://127.0.0.1:{port}/" in out.splitlines()


def test_a_dir_without_outputs_or_a_port_in_use_is_one_line_and_exit_2(cli, run_folder: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("dashboard", str(tmp_path), "--duration", "0.3s")
    assert code == 2
    assert err.strip().startswith("qinternet: error: DIR: ")
    assert "holds no outputs" in err
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, _, err = cli("dashboard", str(run_folder), "--port", str(port), "--duration", "0.3s")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"qinternet: error: --port: cannot listen on 127.0.0.1:{port}"), err


def test_dashboard_port_needs_dashboard(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("serve", "bristol-8-user", "--dashboard-port", "8050")
    assert code == 2
    assert err.startswith("qinternet: error: --dashboard-port: ")


def test_serve_prints_the_dashboards_address_and_serves_the_live_state(tmp_path: Path) -> None:
    (tmp_path / "net.yaml").write_text(NETWORK.replace("block_s: 60", "block_s: 5"))
    base, dashboard = free_ports(3), free_port()
    command = [
        sys.executable, "-m", "qinternet", "serve", str(tmp_path / "net.yaml"), "--pki", str(tmp_path / "pki"),
        "--db", f"sqlite:///{tmp_path / 'kms.db'}", "--base-port", str(base), "--ops-port", "0",
        "--warm-up", "30s", "--speed", "20", "--duration", "30s", "--dashboard", "--dashboard-port", str(dashboard),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = ""
        deadline = time.monotonic() + 60
        while not line.startswith("dashboard: ") and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line or process.poll() is None, "serve stopped before printing the dashboard's address"
        assert re.fullmatch(rf"dashboard: http://127\.0\.0\.1:{dashboard}/\n", line), line
        times = []
        for _ in range(50):  # the simulated clock moves (20 s a second) while the KMEs serve
            state = httpx.get(f"http://127.0.0.1:{dashboard}/api/state", timeout=10).json()
            times.append(state["time_s"])
            if times[-1] > times[0]:
                break
            time.sleep(0.1)
        assert times[-1] > times[0] >= 30.0
        assert {n["id"] for n in state["nodes"]} == {"alice", "relay", "bob"}
        assert all(link["pool_bits"] > 0 for link in state["links"])  # the warm-up filled the pools
    finally:
        process.terminate()
        process.wait(timeout=30)
