"""MkDocs hooks: pages made at build time from the sources, so that they cannot drift from them.

* ``models/sources.md``: every module of the model packages, its one-line summary and the publications its
  docstrings cite (found by their reference form, ``Authors, Journal volume, page (year)``).
* ``models/<package>.md``: a package's docstring, then each of its modules with all their documented members
  (mkdocstrings), in file order.
* the griffe extension ``griffe_roles.py`` that renders the docstrings' reST markup, given to mkdocstrings;
* ``notebooks/<name>.md``: each notebook of ``docs/notebooks`` as a page (its Markdown, its code in Python
  blocks; the notebooks are stored without outputs), with a link to the ``.ipynb`` file beside it.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("params", "physics", "states", "qkd", "postprocessing", "entanglement", "network", "kms", "apps")
"""The packages whose modules the index lists, in the order of the layers."""
PACKAGE_PAGES = {"params": "api/params.md"}
"""Where a package's modules are documented when not on their own page ``models/<package>.md``."""


def _roles() -> Any:
    """The griffe extension module beside this file (hooks are loaded by path, not as a package)."""
    spec = importlib.util.spec_from_file_location("griffe_roles", Path(__file__).with_name("griffe_roles.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_plain = _roles().plain

_REFERENCE = re.compile(
    r"(?P<authors>(?:[A-Z][\w'\-]+(?: et al\.)?(?:,| and| &) )+)?"
    r"(?P<journal>[A-Z][A-Za-z.]*(?: [A-Z][A-Za-z.]*)*) "
    r"(?P<volume>\d+), (?P<page>[A-Z]?\d+)(?:-\d+)? \((?P<year>\d{4})\)"
)


def citations(source: str) -> list[str]:
    """The references the docstrings of a module's source cite, in order of first appearance, each once (by
    journal, volume and page; the form that names the authors wins)."""
    tree = ast.parse(source)
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docstrings = (ast.get_docstring(node) or "" for node in ast.walk(tree) if isinstance(node, kinds))
    text = " ".join(" ".join(docstring.split()) for docstring in docstrings)
    found: dict[tuple[str, str, str], str] = {}
    for match in _REFERENCE.finditer(text):
        key = (match["journal"], match["volume"], match["page"])
        if key not in found or (match["authors"] and found[key].startswith(match["journal"])):
            found[key] = match[0].strip()
    return list(found.values())


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / "src" / "qinternet" / package).glob("*.py") if p.name != "__init__.py")


def _summary(source: str) -> str:
    """The first sentence of a module's docstring."""
    paragraph = " ".join((ast.get_docstring(ast.parse(source)) or "").split("\n\n")[0].split())
    return _plain(re.split(r"(?<=\.) (?=[A-Z])", paragraph, maxsplit=1)[0])


def models_page() -> str:
    """The Markdown of the index of models and their sources."""
    lines = [
        "# Models and their sources",
        "",
        "Every module of the model layers, what it holds and the publications its docstrings cite (equation and",
        "section numbers are in the docstrings; a module without a citation implements no published model of its",
        "own). This page is made from the source at each build; a module's name leads to its functions and classes.",
        "",
    ]
    for package in PACKAGES:
        init = ROOT / "src" / "qinternet" / package / "__init__.py"
        page = PACKAGE_PAGES.get(package, f"models/{package}.md")
        link = page.removeprefix("models/") if page.startswith("models/") else f"../{page}"
        lines += [f"## [`qinternet.{package}`]({link})", "", _summary(init.read_text()), ""]
        for path in _modules(package):
            source = path.read_text()
            cited = "; ".join(citations(source))
            entry = f"- [`{path.stem}`][qinternet.{package}.{path.stem}]: {_summary(source)}"
            lines.append(entry + (f"  \n  *Sources:* {cited}" if cited else ""))
        lines.append("")
    return "\n".join(lines)


def package_page(package: str) -> str:
    """The Markdown of a package's page: its docstring, then each module."""
    lines = [f"# `qinternet.{package}`", "", f"::: qinternet.{package}", "    options:", "      members: false"]
    lines += ["      show_root_heading: false", ""]
    lines.append("Where each model comes from: the [index of models and their sources](sources.md).")
    for path in _modules(package):
        lines += ["", f"::: qinternet.{package}.{path.stem}"]
    return "\n".join(lines) + "\n"


def notebook_page(notebook: Path) -> str:
    """The Markdown of a notebook's page: its Markdown cells, its code cells as Python blocks."""
    cells = json.loads(notebook.read_text())["cells"]
    parts = []
    for index, cell in enumerate(cells):
        text = "".join(cell["source"])
        parts.append(text if cell["cell_type"] == "markdown" else f"```python\n{text}\n```")
        if index == 0:
            parts.append(
                f"[Download the notebook]({notebook.name}) and run it in Jupyter (`pip install jupyterlab`, then "
                f"`jupyter lab docs/notebooks/{notebook.name}` from the repository) to see its figures: it is "
                "stored without outputs, and the test suite executes it (`tests/test_docs_site.py`)."
            )
    return "\n\n".join(parts) + "\n"


@event_priority(100)  # before mkdocstrings reads its handlers' options
def on_config(config: MkDocsConfig, **kwargs: Any) -> MkDocsConfig:
    """Give mkdocstrings the griffe extension beside this file by its absolute path (griffe reads a relative one
    from the working directory, so ``mkdocs build -f`` from elsewhere would not find it)."""
    options = config.plugins["mkdocstrings"].config.handlers["python"].setdefault("options", {})
    options["extensions"] = [f"{Path(__file__).with_name('griffe_roles.py')}:SphinxRoles"]
    return config


def on_files(files: Files, config: MkDocsConfig, **kwargs: Any) -> Files:
    files.append(File.generated(config, "models/sources.md", content=models_page()))
    for package in PACKAGES:
        if package not in PACKAGE_PAGES:
            files.append(File.generated(config, f"models/{package}.md", content=package_page(package)))
    for notebook in sorted(Path(config.docs_dir, "notebooks").glob("*.ipynb")):
        files.append(File.generated(config, f"notebooks/{notebook.stem}.md", content=notebook_page(notebook)))
    return files
