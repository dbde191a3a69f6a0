"""The scenarios shipped with qinternet (``qinternet scenarios list``) and how a name or path is resolved."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from qinternet.network.schema import Scenario, ScenarioError, load_scenario, read_scenario_file

__all__ = ["builtin_names", "builtin_text", "resolve_scenario"]

_PACKAGE = "qinternet.network.scenarios"


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in resources.files(_PACKAGE).iterdir()
        if entry.name.endswith(".yaml")
    )


def builtin_text(name: str) -> str:
    """The YAML of the built-in scenario ``name``."""
    if name not in builtin_names():
        raise ScenarioError([("scenario", f"no built-in scenario {name!r}; built in: {', '.join(builtin_names())}")])
    return resources.files(_PACKAGE).joinpath(f"{name}.yaml").read_text()


def resolve_scenario(name_or_path: str) -> tuple[Scenario, str]:
    """A built-in scenario by name, or a YAML file by path: the validated scenario and its text."""
    path = Path(name_or_path)
    if name_or_path in builtin_names() and not path.exists():
        text = builtin_text(name_or_path)
    elif path.suffix.lower() in {".yaml", ".yml"} or path.exists():
        try:
            text = read_scenario_file(path)
        except ScenarioError as exc:
            raise ScenarioError([("scenario", f"{name_or_path!r} {reason}") for _, reason in exc.errors]) from None
    else:
        raise ScenarioError(
            [
                (
                    "scenario",
                    f"{name_or_path!r} is neither a built-in scenario ({', '.join(builtin_names())}) nor a YAML file",
                )
            ]
        )
    return load_scenario(text), text
