"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): a live network and outputs.

The live page is served for a network that a real simulation advances while the page is open (the links of
:data:`tests.dashboard.conftest.NETWORK`, ten simulated seconds every tenth of a second of wall time). The
page must load without a console error, draw every node, show the simulated time change between two polls,
and list the network's alarm once an intercept-resend attack on a link starts (its QBER jumps). The browse pages of a
run's and a sweep's outputs must load without a console error too. Without Chromium the tests are skipped,
unless ``CI`` is set: then they fail (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qinternet.dashboard.app import create_dashboard_app
from qinternet.dashboard.live import live_source
from qinternet.kms.feeder import NetworkFeeder, topology_of
from tests.dashboard.conftest import ATTACK_FROM_S, serving

SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
WAIT_MS = 15_000
"""Longest wait for something the page should show within a poll or two (1 s each)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    found = next((p for p in SYSTEM_CHROMIUM if os.access(p, os.X_OK)), None) or shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if found is None or sync_playwright is None:
        message = "headless Chromium and Playwright needed: apt-get install chromium; pip install playwright"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=found, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new page that records console errors and uncaught exceptions in ``page.errors``."""
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.errors = errors
    yield tab
    tab.close()


def _advancing(feeder: NetworkFeeder, stop: threading.Event) -> None:
    """The network's clock moves 10 simulated seconds every 0.1 s of wall time until ``stop``."""
    until = feeder.simulated_s
    while not stop.wait(0.1):
        until += 10.0
        feeder.advance(until)


def test_the_live_page_draws_the_network_updates_and_shows_the_alarm_of_an_attack(
    attacked_feeder: NetworkFeeder, page: Any
) -> None:
    feeder = attacked_feeder
    source = live_source(feeder, feeder.store, topology_of(feeder.scenario))
    feeder.advance(120.0)
    stop = threading.Event()
    ticking = threading.Thread(target=_advancing, args=(feeder, stop), daemon=True)
    ticking.start()
    try:
        with serving(create_dashboard_app(source)) as url:
            page.goto(url)
            page.wait_for_selector("svg#map circle.node", timeout=WAIT_MS)
            assert page.locator("svg#map circle.node").count() == len(feeder.scenario.nodes)
            drawn = {page.locator("svg#map circle.node").nth(i).get_attribute("data-node") for i in range(3)}
            assert drawn == {node.id for node in feeder.scenario.nodes}
            assert page.locator("svg#map line.link").count() == len(feeder.scenario.links)
            assert not page.locator("#controls").is_visible()  # the replay's controls are for run outputs
            first = page.locator("#clock").inner_text()
            page.wait_for_function(
                "(before) => document.getElementById('clock').textContent !== before", arg=first, timeout=WAIT_MS
            )
            assert page.locator("#alarms li.alarm").count() == 0
            assert feeder.simulated_s < ATTACK_FROM_S  # Eve has not started yet
            selector = '#alarms li.alarm.active[data-link="rb"][data-kind="eavesdropping"]'
            alarm = page.wait_for_selector(selector, timeout=2 * WAIT_MS)  # the attack starts ~8 s of wall time in
            assert "QBER" in alarm.inner_text()
    finally:
        stop.set()
        ticking.join(timeout=10)
    assert page.errors == []


@pytest.mark.parametrize(("output", "ready"), [("three-sites", "svg#map circle.node"), ("efficiency", "#results td")])
def test_the_pages_of_run_and_sweep_outputs_load_without_errors(
    run_folder: Path, sweep_folder: Path, page: Any, output: str, ready: str
) -> None:
    with serving(create_dashboard_app(run_folder.parent)) as url:
        page.goto(f"{url}#/{output}")
        page.wait_for_selector(ready, timeout=WAIT_MS)
        if output == "three-sites":
            assert page.locator("svg#map circle.node").count() == 3
            assert page.locator("#step-label").inner_text() == "step 10 of 10"
            page.locator("#step").fill("2")  # the replay at the third minute
            page.wait_for_function("document.getElementById('clock').textContent.startsWith('00:03:00')")
        else:
            assert page.locator("#results tr").count() == 3  # header and two rows
            page.wait_for_function("[...document.images].every((img) => img.complete)")
    assert page.errors == []
