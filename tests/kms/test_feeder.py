"""Which KMEs and SAEs a scenario's nodes get."""

from __future__ import annotations

from qinternet.kms.feeder import topology_of
from qinternet.network.catalogue import resolve_scenario


def test_ground_stations_host_saes_and_the_satellite_relays_between_them() -> None:
    """Micius: the Xinglong-Graz key is used at the ground stations (Liao et al., PRL 120, 030501, 2018)."""
    topology = topology_of(resolve_scenario("micius")[0])
    assert topology.sae_kme == {"sae-graz": "kme-graz", "sae-xinglong": "kme-xinglong"}
    assert topology.path("kme-xinglong", "kme-graz") == ["kme-xinglong", "kme-micius", "kme-graz"]


def test_users_host_saes_and_trusted_relays_do_not() -> None:
    topology = topology_of(resolve_scenario("beijing-shanghai")[0])
    assert set(topology.sae_kme) == {"sae-beijing", "sae-hefei", "sae-jinan", "sae-shanghai"}
    assert len(topology.kmes) == 36
