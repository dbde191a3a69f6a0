"""The README gives exactly two set-up commands, and CI runs the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = setup_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert main_job.startswith("pip install")
    assert "qinternet run beijing-shanghai" in main_job
    assert "--out" in main_job
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = setup_commands()[1]
    assert (
        test_command in ci
        or test_command.replace("pip", "python -m pip", 1).replace("&& pytest", "&& python -m pytest") in ci
    )


def test_the_readme_applications_example_runs() -> None:
    """The Python example of the entanglement section runs as written and prints three figures in their ranges."""
    import contextlib
    import io

    text = (ROOT / "README.md").read_text()
    section = text.split("### Entanglement networks and their applications", 1)[1].split("\n### ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    teleported, grover, blind = (float(line) for line in out.getvalue().split())
    assert 2 / 3 < teleported <= 1.0  # beats the classical bound with a 0.95 pair
    assert 0.25 < grover <= 1.0  # better than guessing
    assert 0.0 <= blind <= 1.0
