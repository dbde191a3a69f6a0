"""Every built-in scenario's report.html as a person sees it: rendered by headless Chromium, screenshotted.

The screenshot must exist, have the window's size and show the page (not a blank or broken one: the map's
colour bar, both ends of viridis, is on it). What a screenshot cannot tell is checked on the same map in
matplotlib after drawing: every node has a marker, no label overlaps another, every label lies inside the
figure and its axes (so not under the colour bar). Without Chromium the browser test is skipped, unless
``CI`` is set: then it fails (``.ci/run`` installs Debian's ``chromium``). Set ``QINTERNET_SCREENSHOTS`` to a
folder to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from qinternet.apps.network_apps import run_scenario
from qinternet.network.catalogue import builtin_names, resolve_scenario
from qinternet.network.schema import load_scenario
from qinternet.network.summary import RunSummary
from qinternet.report.network import network_map_figure, write_report
from tests.report.map_checks import assert_readable_map

DURATION_S = {
    "beijing-shanghai": 3600.0,
    "bristol-8-user": 3600.0,
    "chicago-ieqnet": 3600.0,
    "micius": 4 * 86400.0,  # passes with key over both stations
    "space-ground-4600km": 2 * 86400.0,  # both downlinks give key on the second night
    "oxford-dqc-2025": 60.0,
    "delft-hague-2024": 3600.0,
    "boston-siv-2024": 600.0,
    "hefei-memories-2024": 1800.0,
    "micius-entanglement-1200km": 30 * 86400.0,  # ~1,000 pairs over the joint passes
    "repeater-backbone": 600.0,
    "penn-qchip-2025": 600.0,
    "boaron-421km": 86400.0,  # one finite-key block of a day gives the key at 405 and 421 km
    "toshiba-tokyo-qkd": 1200.0,  # two 10-minute blocks per link, relayed through Otemachi
    "space-ground-2021": 86400.0,  # one night pass with key at each station
    "beijing-hefei-call": 1200.0,  # two 10-minute blocks per hop: both calls served
    "argonne-uchicago-52mi": 1200.0,  # two 10-minute blocks of the loop's key
    "beijing-urumqi-satellite": 86400.0,  # one night pass with key at each station
    "china-multicity-2025": 86400.0,  # a night pass with key at each of the four stations
    "euroqci": 86400.0,  # a January night: every station has a pass with key
    "ieqnet-150km": 1200.0,  # two 10-minute blocks per link
    "chicago-teleportation": 600.0,  # ~1.7e5 teleportations
    "micius-teleportation-uplink": 4 * 86400.0,  # a few night passes over Ngari with teleportations
}
WINDOW = (1400, 3000)
VIRIDIS_ENDS = ((0.267, 0.005, 0.329), (0.993, 0.906, 0.144))
TAB_BLUE = (0.122, 0.467, 0.706)
"""matplotlib's first colour: the first request's pairs in the Entanglement section's fidelity figure."""
TAB_PURPLE = (0.580, 0.404, 0.741)
"""matplotlib's tab:purple: links without key (memory, photonic teleportation) on the map."""


def test_every_built_in_scenario_is_covered() -> None:
    assert sorted(DURATION_S) == sorted(builtin_names())


@pytest.fixture(scope="module", params=sorted(DURATION_S))
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, RunSummary]:
    name = str(request.param)
    data = resolve_scenario(name)[0].model_dump(mode="json")
    data["time"]["duration_s"] = DURATION_S[name]
    scenario = load_scenario(data)
    result = run_scenario(scenario)
    path = tmp_path_factory.mktemp(name) / "report.html"
    write_report(path, result)
    return name, path, result.summary


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "headless Chromium not found: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_the_map_is_readable(report: tuple[str, Path, RunSummary]) -> None:
    _, _, summary = report
    assert_readable_map(network_map_figure(summary), summary)


def test_the_report_renders_in_a_browser(report: tuple[str, Path, RunSummary], chromium: str, tmp_path: Path) -> None:
    name, path, summary = report
    shot = tmp_path / f"{name}.png"
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        path.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert shot.exists(), done.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    inked = np.any(pixels < 0.9, axis=2).mean()
    # a blank or broken page inks well under 1 % (the title alone); the shortest built-in report (one dual-downlink,
    # no demand: micius-entanglement-1200km) inks 2.9 % of this tall window
    assert inked > 0.015, f"the page is nearly blank ({inked:.1%} of pixels inked)"
    key_links = [link for link in summary.links if link.kind not in ("memory", "photonic-teleportation")]
    # the map's colour bar (of key rates) was drawn, or, in a network of memory links only, the first request's
    # fidelity points, or, with teleportation links only, their purple line on the map: either way an inline SVG
    # rendered
    colours = VIRIDIS_ENDS if key_links else (TAB_BLUE,) if summary.entanglement else (TAB_PURPLE,)
    for colour in colours:
        assert np.any(np.all(np.abs(pixels - np.array(colour)) < 0.03, axis=2)), f"no pixel of colour {colour}"
    if keep := os.environ.get("QINTERNET_SCREENSHOTS"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
