"""The documentation site builds without a warning, and its notebooks run as written and say what they should."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from qinternet import Protocol, fibre_link_channel, get_preset, key_rate

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    result = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_the_site_builds_strict_with_every_section(site: Path) -> None:
    api = (site / "api" / "index.html").read_text()
    assert 'id="qinternet.key_rate"' in api
    assert 'id="qinternet.run_repeater_chain"' in api
    sources = (site / "models" / "sources" / "index.html").read_text()
    assert "Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017)" in sources  # qkd.bounds
    assert "Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014)" in sources
    for page in ("scenarios", "architecture", "getting-started", "models/physics", "api/params"):
        assert (site / page / "index.html").is_file(), page
    for notebook in NOTEBOOKS:
        assert (site / "notebooks" / notebook.stem / "index.html").is_file()
        assert (site / "notebooks" / notebook.name).is_file()  # the download link's target


def test_the_docstrings_rest_roles_become_links_or_code(site: Path) -> None:
    pages = [p.read_text() for p in (*(site / "models").glob("*/index.html"), *(site / "api").rglob("index.html"))]
    assert len(pages) >= 11
    assert all(re.search(r":(func|mod|class|meth|data|attr):", page) is None for page in pages)
    entanglement = (site / "models" / "entanglement" / "index.html").read_text()
    assert 'href="#qinternet.entanglement.chain"' in entanglement  # from :mod:`.chain` in the package docstring


def test_the_notebooks_are_stored_without_outputs() -> None:
    assert len(NOTEBOOKS) == 3
    for path in NOTEBOOKS:
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in cells), path.name


def _run(name: str, tmp_path: Path) -> tuple[str, int]:
    """Execute a notebook on this tree's code; the text its key-output cell printed, and the figures it drew."""
    notebook = nbformat.read(ROOT / "docs" / "notebooks" / name, as_version=4)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    resources = {"metadata": {"path": str(tmp_path)}}
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources)
    client.execute(env=env)
    (key,) = [c for c in notebook.cells if "key-output" in c.metadata.get("tags", [])]
    text = "".join(o.get("text", "") for o in key.outputs if o.output_type == "stream")
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    figures = sum("image/png" in o.get("data", {}) for o in outputs)
    return text, figures


def test_the_key_rate_notebook(tmp_path: Path) -> None:
    text, figures = _run("01-link-key-rate.ipynb", tmp_path)
    assert figures == 1
    rate = float(re.search(r"decoy BB84 at 50 km: (\S+) bits per pulse", text)[1])  # type: ignore[index]
    system = get_preset("gys2004").system
    expected = key_rate(Protocol.DECOY_BB84, system, fibre_link_channel(system, 50.0)).key_rate_per_pulse
    assert rate > 0
    assert rate == pytest.approx(expected, rel=5e-3)  # printed to 3 significant figures
    plob = float(re.search(r"PLOB at 50 km: (\S+) bits", text)[1])  # type: ignore[index]
    assert rate < plob


def test_the_network_day_notebook(tmp_path: Path) -> None:
    text, figures = _run("02-network-day.ipynb", tmp_path)
    assert figures == 2
    demands = re.findall(r"^(\S+): .* delivered (\S+) Gbit \((\d+)% met\)$", text, flags=re.M)
    assert [d[0] for d in demands] == ["beijing-shanghai", "beijing-jinan", "hefei-shanghai", "jinan-hefei-backup"]
    assert all(float(delivered) > 0 for _, delivered, _ in demands)


def test_the_repeater_notebook(tmp_path: Path) -> None:
    text, figures = _run("03-repeater-study.ipynb", tmp_path)
    assert figures == 2
    verdicts = dict(re.findall(r"^\s*(\d+) km: .*\((beats|below) PLOB\)$", text, flags=re.M))
    assert verdicts["100"] == "below"  # short links: a direct link does better
    assert verdicts["900"] == "beats"  # 8 links of 112.5 km against one of 900 km
