"""KeyStreamClient against our KMEs over mutual TLS: ETSI GS QKD 004 key streams as applications use them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from qinternet.apps.etsi_client import KmeRequestError
from qinternet.apps.key_streams import KeyStreamClient, KeyStreamError
from qinternet.kms.etsi004 import QoS, Status
from qinternet.kms.pki import PkiFiles
from qinternet.kms.topology import KmsTopology
from tests.servers import two_kmes

TOPOLOGY = KmsTopology(sae_kme={"sae-a": "kme-a", "sae-b": "kme-b"}, links=(("kme-a", "kme-b"),))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PkiFiles, dict[str, str]]]:
    with two_kmes(tmp_path_factory.mktemp("ks"), TOPOLOGY, saes=["sae-a", "sae-b"], pool_bytes=4096) as (pki, ports):
        yield pki, {kme: f"https://localhost:{port}" for kme, port in ports.items()}


def client(pki: PkiFiles, url: str, sae: str, kme_id: str | None = None) -> KeyStreamClient:
    return KeyStreamClient(url, pki.cert(sae), pki.key(sae), pki.ca, kme_id=kme_id)


def test_both_applications_read_the_same_keys_over_mutual_tls(network: tuple[PkiFiles, dict[str, str]]) -> None:
    pki, url = network
    with client(pki, url["kme-a"], "sae-a", "kme-a") as a, client(pki, url["kme-b"] + "/api/v1/ks/", "sae-b") as b:
        opened = a.open_connect("sae-b", QoS(key_chunk_size_bytes=16))
        joined = b.open_connect("sae-a", key_stream_id=opened.key_stream_id)
        mine = [a.get_key(opened.key_stream_id) for _ in range(3)]
        theirs = [b.get_key(opened.key_stream_id, index) for index in (2, 0, 1)]
        with_metadata = b.get_key(opened.key_stream_id, metadata_size=64)
        a.close_stream(opened.key_stream_id)
        with pytest.raises(KeyStreamError) as peer_gone:
            b.get_key(opened.key_stream_id)
    assert (opened.peer_connected, joined.peer_connected) == (False, True)
    assert joined.qos == opened.qos
    assert opened.qos.key_chunk_size_bytes == 16
    assert [k.index for k in mine] == [0, 1, 2]
    assert [k.material for k in mine] == [k.material for k in sorted(theirs, key=lambda k: k.index)]
    assert all(len(k.material) == 16 for k in mine)
    assert with_metadata.index == 3
    assert with_metadata.metadata is not None
    assert with_metadata.metadata["hops"] == 1
    assert peer_gone.value.status == Status.GK_PEER_NOT_CONNECTED
    assert "material" not in repr(mine[0])
    assert mine[0].material.hex() not in repr(mine[0])


def test_refusals_carry_the_status_and_what_the_kme_offers(network: tuple[PkiFiles, dict[str, str]]) -> None:
    pki, url = network
    with client(pki, url["kme-a"], "sae-a") as a, client(pki, url["kme-b"], "sae-b") as b:
        with pytest.raises(KeyStreamError) as qos:
            a.open_connect("sae-b", QoS(key_chunk_size_bytes=2))
        ksid = str(uuid.uuid4())
        a.open_connect("sae-b", key_stream_id=ksid)
        with pytest.raises(KeyStreamError) as in_use:
            a.open_connect("sae-b", key_stream_id=ksid)
        b.open_connect("sae-a", key_stream_id=ksid)
        b.get_key(ksid, 0)
        with pytest.raises(KeyStreamError) as small:
            a.get_key(ksid, 0, metadata_size=3)
        retried = a.get_key(ksid, 0, metadata_size=small.value.metadata_size or 0)
        with pytest.raises(KmeRequestError) as unknown:
            a.get_key(str(uuid.uuid4()))
    assert qos.value.status == Status.OC_QOS_NOT_SATISFIABLE
    assert qos.value.qos is not None
    assert qos.value.qos.key_chunk_size_bytes == 8
    assert in_use.value.status == Status.OC_KSID_ALREADY_IN_USE
    assert small.value.status == Status.GK_METADATA_INSUFFICIENT_SIZE
    assert retried.index == 0
    assert retried.metadata is not None
    assert unknown.value.status == 400
    assert "no key stream" in str(unknown.value)
