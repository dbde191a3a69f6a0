"""``qinternet --help`` and ``--version`` import no command and no heavy library; importing qinternet changes
no global state. (How fast they answer is measured in benchmarks/startup_bench.py, not asserted here.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qinternet.cli.app import COMMANDS, load_command

HEAVY = ("numpy", "scipy", "numba", "fastapi", "sqlalchemy", "matplotlib", "pydantic", "skyfield", "cryptography")


def _modules_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["--version"], []])
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    code = (
        "import sys\nfrom qinternet.cli.entry import main\n"
        f"sys.argv = ['qinternet', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert _modules_after(code) == []


def test_importing_qinternet_imports_no_heavy_library_until_a_name_is_used() -> None:
    assert _modules_after("import qinternet") == []
    assert "numpy" in _modules_after("import qinternet\nqinternet.key_rate")


def test_importing_the_report_leaves_matplotlib_s_backend_alone() -> None:
    code = (
        "import matplotlib\nmatplotlib.use('svg')\nimport qinternet.report.network, qinternet.report.plots\n"
        "print(matplotlib.get_backend())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "svg"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_summary_in_the_root_help_is_the_command_s_own(name: str) -> None:
    """The root --help shows each command's summary without importing it: it must not drift from the docstring."""
    command = load_command(name)
    assert (command.help or "").strip().split("\n\n")[0].replace("\n", " ") == COMMANDS[name].summary
