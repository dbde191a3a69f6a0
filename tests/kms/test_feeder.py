"""Which KMEs and SAEs a scenario's nodes get."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from qinternet.kms.feeder import NetworkFeeder, topology_of
from qinternet.kms.store import KeyStore
from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.base import next_block_end_s


def test_ground_stations_host_saes_and_the_satellite_relays_between_them() -> None:
    """Micius: the Xinglong-Graz key is used at the ground stations (Liao et al., PRL 120, 030501, 2018)."""
    topology = topology_of(resolve_scenario("micius")[0])
    assert topology.sae_kme == {"sae-graz": "kme-graz", "sae-xinglong": "kme-xinglong"}
    assert topology.path("kme-xinglong", "kme-graz") == ["kme-xinglong", "kme-micius", "kme-graz"]


def test_users_host_saes_and_trusted_relays_do_not() -> None:
    topology = topology_of(resolve_scenario("beijing-shanghai")[0])
    assert set(topology.sae_kme) == {"sae-beijing", "sae-hefei", "sae-jinan", "sae-shanghai"}
    assert len(topology.kmes) == 36


def test_a_block_that_ends_at_the_warm_up_s_end_is_stored_by_it(tmp_path: Path) -> None:
    (tmp_path / "net.yaml").write_text(
        "name: two\nseed: 5\ntime: {duration_s: 1d, step_s: 60s}\nnodes:\n"
        "  - {id: alice, kind: user, lat_deg: 46.2, lon_deg: 6.1}\n"
        "  - {id: bob, kind: user, lat_deg: 46.9, lon_deg: 7.4}\n"
        "links:\n  - {id: l1, a: alice, b: bob, length_km: 20, block_s: 60}\n"
    )
    store = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
    feeder = NetworkFeeder(resolve_scenario(str(tmp_path / "net.yaml"))[0], store, capacity_bytes=10**9)
    feeder.advance(600.0)
    blocks = [e for e in store.ledger() if e.kind == "generated"]
    assert len(blocks) == 10  # the blocks ending at 60, 120, ..., 600 s
    assert feeder.advance(600.0) == 0  # and nothing twice
    assert feeder.next_block_s("kme-bob", "kme-alice") == pytest.approx(60.0)  # the next ends at 660 s
    assert feeder.next_block_s("kme-alice", "kme-carol") is None  # no link between them
    made = sum(e.bits for e in store.ledger() if e.kind in ("generated", "discarded"))
    assert made > 0
    assert feeder.key_rate_bps("kme-bob", "kme-alice") == pytest.approx(made / 600.0, rel=1e-3)  # 600 s + 1 ps
    assert feeder.key_rate_bps("kme-alice", "kme-carol") == 0.0
    store.close()


def test_key_made_by_repeaters_reaches_the_kmes(tmp_path: Path) -> None:
    """An entanglement-qkd link through a repeater feeds its two quantum-nodes' KMEs, as any link does."""
    (tmp_path / "net.yaml").write_text(
        "name: rep\nseed: 5\ntime: {duration_s: 600s, step_s: 60s}\nnodes:\n"
        "  - {id: alice, kind: quantum-node, lat_deg: 46.2, lon_deg: 6.1, hardware: ideal}\n"
        "  - {id: mid, kind: repeater, lat_deg: 46.5, lon_deg: 6.7, hardware: ideal, qubits: 2}\n"
        "  - {id: bob, kind: quantum-node, lat_deg: 46.9, lon_deg: 7.4, hardware: ideal}\n"
        "links:\n"
        "  - {id: am, kind: memory, a: alice, b: mid, length_km: 20}\n"
        "  - {id: mb, kind: memory, a: mid, b: bob, length_km: 20}\n"
        "  - {id: key, kind: entanglement-qkd, a: alice, b: bob, request: pairs, block_s: 60}\n"
        "requests:\n  - {id: pairs, a: alice, b: bob, pairs_per_s: 1000, use: measure}\n"
    )
    scenario = resolve_scenario(str(tmp_path / "net.yaml"))[0]
    topology = topology_of(scenario)
    assert set(topology.sae_kme) == {"sae-alice", "sae-bob"}  # quantum-nodes host applications; repeaters do not
    store = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
    feeder = NetworkFeeder(scenario, store, capacity_bytes=10**9)
    assert feeder.advance(600.0) > 0
    assert store.pool_bytes("kme-alice", "kme-bob") > 0
    store.close()


def test_a_satellite_link_s_next_block_is_the_end_of_its_next_pass() -> None:
    @dataclass
    class Pass:
        end_s: float

    @dataclass
    class Downlink:
        passes: tuple[Pass, ...]
        expected_rate_bps: float = 0.0

    engine = Downlink((Pass(100.0), Pass(6000.0)))
    assert next_block_end_s(engine, 50.0) == 100.0  # type: ignore[arg-type]
    assert next_block_end_s(engine, 100.0) == 6000.0  # type: ignore[arg-type]
    assert next_block_end_s(engine, 7000.0) is None  # type: ignore[arg-type]
