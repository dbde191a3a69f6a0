"""The package keeps the layers of ARCHITECTURE.md: a layer imports only the layers above it in this list."""

from __future__ import annotations

import ast
from pathlib import Path

import qinternet

LAYERS = [
    "params",
    "states",
    "physics",
    "qkd",
    "postprocessing",
    "entanglement",
    "sim",
    "network",
    "kms",
    "apps",
]
"""Top to bottom, as docs/architecture.md lists them (``states`` before ``physics``: memories and heralding return
states); the interfaces (cli, dashboard, report, sweep) may import everything."""
INTERFACES = {"cli", "dashboard", "report", "sweep"}
"""The shells around the layers (ARCHITECTURE.md's interfaces): they may import everything, nothing imports them."""
SHARED = {"errors", "outputs", "messages"}
"""Modules at the package's root that every layer may use."""

ROOT = Path(qinternet.__file__).parent


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [n for n in names if n.startswith("qinternet.")]


def test_no_layer_imports_a_layer_below_it() -> None:
    wrong = []
    for layer in LAYERS:
        below = set(LAYERS[LAYERS.index(layer) + 1 :]) | INTERFACES
        for path in (ROOT / layer).rglob("*.py"):
            for name in _imports(path):
                target = name.split(".")[1]
                if target in below:
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_layer_list_covers_the_package() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages - INTERFACES == set(LAYERS) | (packages & SHARED)
