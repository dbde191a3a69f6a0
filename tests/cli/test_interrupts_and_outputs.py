"""Interrupts end with status 130 and one line; outputs are written whole or not at all, by one rule.

A story per test: the user presses ^C during a long run (or the run fails half-way), and finds the output
folder exactly as the previous run left it, and a shell ``&&`` chain that stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qinternet.cli import entry
from qinternet.report import files as run_files

SCENARIO = """
name: net
nodes:
  - {id: a, kind: user, lat_deg: 0, lon_deg: 0}
  - {id: b, kind: user, lat_deg: 0, lon_deg: 1}
links:
  - {id: ab, a: a, b: b, length_km: 20}
demands:
  - {id: d, a: a, b: b, rate_bps: 10}
"""


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(SCENARIO)
    return path


def _run_entry(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["qinternet", *args])
    monkeypatch.setattr(entry, "_install_handlers", lambda: None)  # keep pytest's own signal handlers
    code = 0
    try:
        entry.main()
    except SystemExit as stop:
        code = int(stop.code or 0)
    return code, capsys.readouterr().err


def test_an_interrupted_run_exits_130_with_one_line_and_leaves_the_previous_outputs(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, err = _run_entry(monkeypatch, capsys, "run", str(scenario), "--duration", "10min", "--out", str(out))
    assert code == 0, err
    before = _files(out)
    assert set(before) == set(run_files.RUN_OUTPUTS)

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt  # ^C while the report is being written, after the other files

    monkeypatch.setattr(run_files, "write_report", interrupted)
    code, err = _run_entry(monkeypatch, capsys, "run", str(scenario), "--duration", "20min", "--out", str(out))
    assert code == 130
    assert err.strip().splitlines() == [
        "qinternet: interrupted: qinternet run " + str(scenario) + " stopped before it finished; nothing was written"
    ]
    assert _files(out) == before  # the same four files, byte for byte, and no staging folder left


def test_a_failing_output_file_leaves_the_previous_run_whole(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _run_entry(monkeypatch, capsys, "run", str(scenario), "--duration", "10min", "--out", str(out))[0] == 0
    before = _files(out)

    def disk_full(path: Path, *_args: object) -> None:
        path.write_text("<html>half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_files, "write_report", disk_full)
    code, err = _run_entry(monkeypatch, capsys, "run", str(scenario), "--duration", "20min", "--out", str(out))
    assert code == 2
    assert "No space left on device" in err
    assert "--out" in err
    assert _files(out) == before


def test_a_run_into_a_folder_whose_report_is_a_folder_is_refused_before_it_starts(
    scenario: Path,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    out = tmp_path / "out"
    assert cli("run", str(scenario), "--duration", "10min", "--out", str(out))[0] == 0
    (out / "report.html").unlink()
    (out / "report.html").mkdir()
    before = _files(out)
    code, _, err = cli("run", str(scenario), "--duration", "20min", "--out", str(out))
    assert code == 2
    assert "report.html" in err
    assert "is a folder" in err
    assert _files(out) == before


def test_a_new_output_folder_appears_only_when_complete(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_files, "write_report", interrupted)
    code, _ = _run_entry(
        monkeypatch, capsys, "run", str(scenario), "--duration", "10min", "--out", str(tmp_path / "new")
    )
    assert code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.yaml"]  # no folder, no hidden staging folder


@pytest.mark.parametrize(
    "args",
    [
        ["run", "micius", "--out", ""],
        ["pki", "init", ""],
        ["keygen-mlkem", ""],
        ["scenario", "schema", "--out", ""],
        ["keyrate", "--csv", ""],
    ],
)
def test_an_empty_output_path_is_refused(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*args)
    assert code == 2
    assert "must not be empty" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["scenario", "schema", "--out", "{missing}/s.json"],
        ["run", "{scenario}", "--duration", "10min", "--out", "{missing}/out"],
        ["pki", "init", "{missing}/pki"],
        ["keygen-mlkem", "{missing}/keys"],
        ["keyrate", "--csv", "{missing}/rates.csv"],
        ["link", "--pulses", "1e6", "--save", "{missing}/record.npz"],
    ],
)
def test_no_command_creates_missing_parent_folders(cli, tmp_path: Path, scenario: Path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "nonexistent"
    code, _, err = cli(*(a.format(missing=missing, scenario=scenario) for a in args))
    assert code == 2, err
    assert f"folder {str(missing)!r} does not exist" in err, err
    assert not missing.exists()


def test_pki_init_with_force_is_all_or_nothing(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A new CA interrupted half-way must not leave certificates of two CAs side by side."""
    from qinternet.kms import pki

    folder = tmp_path / "pki"
    assert cli("pki", "init", str(folder))[0] == 0
    before = _files(folder)
    calls = []
    real_issue = pki._issue

    def issue_then_fail(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_issue(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pki, "_issue", issue_then_fail)
    with pytest.raises(KeyboardInterrupt):
        cli("pki", "init", str(folder), "--force")
    assert _files(folder) == before


def _sigint_later(args: list[str], seconds: float, signum: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m qinternet ARGS`` and send it ``signum`` after ``seconds``, as ^C or ``kill`` would."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qinternet", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that starts a background job makes it ignore SIGINT; a terminal's ^C does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(seconds)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("seconds", [0.3, 6.0])  # while Python imports the commands, and while the run works
def test_a_real_signal_stops_a_long_run_with_one_line_and_no_output(
    tmp_path: Path, signum: int, status: int, seconds: float
) -> None:
    result = _sigint_later(["run", "micius", "--duration", "365d", "--out", "out"], seconds, signum, tmp_path)
    assert result.returncode == status, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "qinternet: interrupted: qinternet run micius stopped before it finished; nothing was written"
    ]
    assert os.listdir(tmp_path) == []


def test_help_shows_flags_without_a_type(cli) -> None:  # type: ignore[no-untyped-def]
    for args in (["run", "--help"], ["link", "--help"], ["serve", "--help"], ["--help"]):
        code, out, _ = cli(*args)
        assert code == 0
        assert "<bool>" not in out, args
