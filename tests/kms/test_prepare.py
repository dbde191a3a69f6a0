"""The library function behind serve's set-up: a plan with topology, limits and a complete, consistent PKI."""

from __future__ import annotations

from pathlib import Path

import pytest

import qinternet
from qinternet.errors import ParameterError
from qinternet.kms.settings import ServeSettings
from qinternet.network.catalogue import resolve_scenario


def test_a_plan_has_a_certificate_for_every_kme_and_sae(tmp_path: Path) -> None:
    spec = resolve_scenario("micius")[0]
    plan = qinternet.prepare_kmes(spec, ServeSettings(pki=tmp_path / "pki", base_port=9000))
    assert plan.topology.kmes == {"kme-micius", "kme-xinglong", "kme-graz"}
    assert set(plan.topology.sae_kme) == {"sae-xinglong", "sae-graz"}
    for name in [*plan.topology.kmes, *plan.topology.sae_kme]:
        assert plan.files.cert(name).is_file()
        assert plan.files.key(name).stat().st_mode & 0o077 == 0  # private keys are the owner's only
    assert plan.ports == {"kme-graz": 9000, "kme-micius": 9001, "kme-xinglong": 9002}
    assert plan.limits.max_key_count == int(plan.settings.pool_capacity_bits) // plan.settings.key_size
    again = qinternet.prepare_kmes(spec, ServeSettings(pki=tmp_path / "pki", base_port=9000))
    assert again.files.ca.read_bytes() == plan.files.ca.read_bytes()  # the CA is kept, not replaced


def test_a_base_port_without_room_for_every_kme_is_refused(tmp_path: Path) -> None:
    spec = resolve_scenario("beijing-shanghai")[0]
    with pytest.raises(ParameterError) as caught:
        qinternet.prepare_kmes(spec, ServeSettings(pki=tmp_path / "pki", base_port=65530))
    assert caught.value.field == "--base-port"
    assert not (tmp_path / "pki").exists()  # refused before any certificate was made
