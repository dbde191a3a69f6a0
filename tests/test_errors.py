"""Errors name the field and the reason."""

import pickle
import signal
import subprocess
import sys

import pytest

from qinternet.errors import ParameterError, QinternetError


def test_parameter_error_names_field_and_reason() -> None:
    error = ParameterError("detector.efficiency", "must be in (0, 1], got 1.5")
    assert str(error) == "detector.efficiency: must be in (0, 1], got 1.5"
    assert (error.field, error.reason) == ("detector.efficiency", "must be in (0, 1], got 1.5")
    assert isinstance(error, QinternetError)
    assert isinstance(error, ValueError)


def test_parameter_error_survives_pickling_for_worker_processes() -> None:
    error = pickle.loads(pickle.dumps(ParameterError("fibre.loss_db_per_km", "must be >= 0")))
    assert error.field == "fibre.loss_db_per_km"


@pytest.mark.parametrize("handled", [False, True])
def test_an_interrupt_handled_after_it_left_exec_code_lets_the_process_exit_cleanly(handled: bool) -> None:
    # CPython kills at exit with SIGINT (-2) a process whose KeyboardInterrupt left exec(str) code, even when the
    # program caught it (as an interrupt during an import's dataclass creation is): interrupt_handled clears that.
    code = (
        "from qinternet.errors import interrupt_handled\n"
        "try:\n    exec('raise KeyboardInterrupt')\nexcept KeyboardInterrupt:\n"
        f"    {'interrupt_handled()' if handled else 'pass'}\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert result.returncode == (0 if handled else -signal.SIGINT)
