"""An in-memory KME pair for the format tests, and the CLI as a user runs it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from qinternet.apps.etsi_client import KmeRequestError, KmeStatus, QkdKey


@dataclass
class FakeKmes:
    """The KMEs of a small network in memory, with ETSI GS QKD 014 semantics: a key is issued to one slave
    SAE and delivered to it once; another SAE asking gets a 401, an unknown or spent key a 400."""

    max_key_size: int = 8192
    min_key_size: int = 64
    max_key_per_request: int = 8
    stored_bits: int = 10**6
    issued: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # key ID -> master, slave, bits
    delivered: set[str] = field(default_factory=set)
    requests: list[tuple[int, int]] = field(default_factory=list)  # (number, size) of every Get key
    keys_left: int | None = None  # None: never runs out; else Get key answers 503 once this many are issued

    def master(self, sae: str) -> FakeMaster:
        return FakeMaster(self, sae)

    def slave(self, sae: str) -> FakeSlave:
        return FakeSlave(self, sae)


@dataclass
class FakeMaster:
    kmes: FakeKmes
    sae: str

    def status(self, slave: str) -> KmeStatus:
        return KmeStatus(
            source_kme_id="kme-1",
            target_kme_id="kme-2",
            master_sae_id=self.sae,
            slave_sae_id=slave,
            key_size=256,
            stored_key_count=self.kmes.stored_bits // 256,
            max_key_count=10**6,
            max_key_per_request=self.kmes.max_key_per_request,
            max_key_size=self.kmes.max_key_size,
            min_key_size=self.kmes.min_key_size,
            max_sae_id_count=0,
        )

    def get_keys(self, slave: str, number: int = 1, size: int | None = None) -> list[QkdKey]:
        size = 256 if size is None else size
        if size % 8 or not self.kmes.min_key_size <= size <= self.kmes.max_key_size:
            raise KmeRequestError("enc_keys", 400, "size shall be a multiple of 8")
        if number > self.kmes.max_key_per_request:
            raise KmeRequestError("enc_keys", 400, "Bad request format")
        if self.kmes.keys_left is not None:
            if self.kmes.keys_left < number:
                raise KmeRequestError("enc_keys", 503, "not enough key material on the way to the slave KME")
            self.kmes.keys_left -= number
        self.kmes.requests.append((number, size))
        keys = [QkdKey(str(uuid.uuid4()), os.urandom(size // 8)) for _ in range(number)]
        for key in keys:
            self.kmes.issued[key.key_id] = (self.sae, slave, key.material)
        return keys


@dataclass
class FakeSlave:
    kmes: FakeKmes
    sae: str

    def get_keys_with_ids(self, master: str, key_ids: Sequence[str]) -> list[QkdKey]:
        if len(key_ids) > self.kmes.max_key_per_request:
            raise KmeRequestError("dec_keys", 400, "Bad request format")
        found = [self.kmes.issued.get(k) for k in key_ids]
        if any(f is not None and f[1] != self.sae for f in found):
            raise KmeRequestError("dec_keys", 401, "")
        if any(f is None or f[0] != master for f in found) or self.kmes.delivered & set(key_ids):
            raise KmeRequestError("dec_keys", 400, "one or more keys specified are not found on KME")
        self.kmes.delivered |= set(key_ids)
        return [QkdKey(k, self.kmes.issued[k][2]) for k in key_ids]


@pytest.fixture
def kmes() -> FakeKmes:
    return FakeKmes()


@pytest.fixture
def apps_cli(cli: Callable[..., tuple[int, str, str]]) -> Callable[..., tuple[int, str, str]]:
    """``qinternet`` through its real ``main`` (one error line, exit 2), arguments made strings."""
    return lambda *args: cli(*[str(a) for a in args])
