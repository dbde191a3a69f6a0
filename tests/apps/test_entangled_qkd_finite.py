"""The entanglement-based QKD application's opt-in finite key (Tomamichel et al. 2012), beside its asymptotic rate."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import yaml

from qinternet.apps.entangled_qkd import SIFTING, entanglement_qkd, finite_key_bits
from qinternet.apps.network_apps import run_scenario
from qinternet.errors import ParameterError
from qinternet.network.catalogue import builtin_text
from qinternet.network.links.entanglement_qkd import finite_key_of
from qinternet.network.schema import ScenarioError, load_scenario
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.states import bell

STATE = bell.werner(bell.werner_of_fidelity(0.97))
SECURITY = FiniteKeyParams(eps_sec=1e-10, eps_cor=1e-15)


def test_the_finite_key_is_below_the_asymptotic_and_approaches_it_as_the_block_grows() -> None:
    ratios = []
    for pairs in (10**4, 10**5, 10**6, 10**7, 10**8, 10**10):
        asymptotic = entanglement_qkd(STATE, pairs, 10.0, nodes=("a", "b"))
        finite = entanglement_qkd(STATE, pairs, 10.0, nodes=("a", "b"), finite=SECURITY)
        assert 0.0 < finite.value < asymptotic.value
        assert finite.details["asymptotic_rate_bps"] == asymptotic.value
        assert finite.ci95[0] <= finite.value <= finite.ci95[1]
        ratios.append(finite.value / asymptotic.value)
    assert ratios == sorted(ratios)  # closer with every tenfold block
    # the statistical margin mu ~ sqrt(ln(4/eps) / k) and the split's cost shrink as n^(-1/2) to n^(-1/3): at 5e9
    # sifted bits the finite key is within 2 % of the asymptotic one, at 5e3 it is below a fifth of it
    assert ratios[-1] > 0.98
    assert ratios[0] < 0.2
    # a block too short for eq. (2)'s fixed cost log2(2 / (eps_sec^2 eps_cor)) ~ 117 bits gives none
    assert entanglement_qkd(STATE, 200, 1.0, nodes=("a", "b"), finite=SECURITY).value == 0.0


def test_a_fixed_test_fraction_is_the_links_bound_and_caps_the_key() -> None:
    # with the split fixed, the application's key is the entanglement-qkd link's finite key of the same bits
    # (f = 1, the application's ideal error correction) and tends to (1 - t) of the asymptotic key, never above
    e_x, e_z = (float(v) for v in bell.qber(STATE))
    pairs = 10**8
    sifted = pairs * SIFTING
    bits, used = finite_key_bits(sifted, e_x, e_z, SECURITY, test_fraction=0.5)
    assert used == 0.5
    assert bits == finite_key_of(sifted / 2, e_z, sifted / 2, e_x, 1.0, SECURITY)
    fixed = entanglement_qkd(STATE, pairs, 1.0, nodes=("a", "b"), finite=SECURITY, test_fraction=0.5)
    best = entanglement_qkd(STATE, pairs, 1.0, nodes=("a", "b"), finite=SECURITY)
    asymptotic = entanglement_qkd(STATE, pairs, 1.0, nodes=("a", "b"))
    assert fixed.value == bits
    assert 0.45 * asymptotic.value < fixed.value < 0.5 * asymptotic.value
    assert best.value > fixed.value  # the chosen split spends far fewer bits on the test
    assert best.details["test_fraction"] < 0.05
    # the chosen split is the best: a little more or less test gives no more key
    t = best.details["test_fraction"]
    for other in (0.8 * t, 1.25 * t):
        assert finite_key_bits(sifted, e_x, e_z, SECURITY, test_fraction=other)[0] <= best.value
    with pytest.raises(ParameterError, match="test_fraction"):
        entanglement_qkd(STATE, pairs, 1.0, nodes=("a", "b"), finite=SECURITY, test_fraction=1.0)


def _with(options: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(builtin_text("oxford-dqc-2025"))
    app: dict[str, Any] = {"app": "qkd", "request": "measured"}
    if options is not None:
        app["options"] = options
    data["requests"] = [{"id": "measured", "a": "module-a", "b": "module-b", "pairs_per_s": 50, "use": "measure"}]
    data["applications"] = [app]
    return data


def test_a_scenario_opts_in_to_the_finite_key() -> None:
    plain = json.loads(run_scenario(load_scenario(_with(None)), duration="60s").to_json())["applications"][0]
    finite = json.loads(
        run_scenario(load_scenario(_with({"finite_key": True, "eps_sec": 1e-9})), duration="60s").to_json()
    )["applications"][0]
    assert plain["details"]["note"].startswith("asymptotic")
    assert finite["details"]["eps_sec"] == 1e-9
    assert finite["details"]["asymptotic_rate_bps"] == pytest.approx(plain["value"], rel=1e-12)
    assert 0.0 <= finite["value"] < plain["value"]
    assert np.isfinite(finite["details"]["test_fraction"])


@pytest.mark.parametrize(
    ("options", "field", "reason"),
    [
        ({"finite_key": "yes"}, "finite_key", "must be true or false"),
        ({"finite_key": True, "test_fraction": 1.5}, "test_fraction", "must be in (0, 1)"),
        ({"finite_key": True, "eps_sec": 0}, "eps_sec", ""),
        ({"test_fraction": 0.3}, "test_fraction", "is only for finite_key: true"),
    ],
)
def test_bad_finite_key_options_are_named(options: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        run_scenario(load_scenario(_with(options)), duration="20s")
    assert any(p == f"applications[0].options.{field}" and reason in r for p, r in caught.value.errors), (
        caught.value.errors
    )
