"""The key store's schema comes from the Alembic migrations, and they match the models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from qinternet.kms.migrate import current_revision, downgrade, head_revision, upgrade
from qinternet.kms.store import Base, KeyStore


def test_a_new_database_is_migrated_to_head_and_matches_the_models(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'k.db'}")
    assert current_revision(store.engine) == head_revision() == "0009"
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    store.close()


def test_reopening_keeps_the_data_and_downgrade_removes_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    first = KeyStore(url)
    first.add_key("a", "b", os.urandom(64))
    first.close()
    again = KeyStore(url)  # upgrade on an up-to-date database changes nothing
    assert again.pool_bytes("a", "b") == 64
    again.close()
    engine = create_engine(url)
    downgrade(engine, "0001")
    downgrade(engine)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert {"pool_blocks", "keys", "ledger"} <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'k.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


def test_revision_0008_upgrades_a_populated_0007_store_and_back(empty_url: str) -> None:
    """A store a KME process filled at 0007 (a relay, a device's pending half) keeps its rows through 0008, whose
    wider role then holds ``tombstone`` (PostgreSQL refused it in 0007's VARCHAR(8)); the downgrade keeps it
    as ``tomb``."""
    engine = create_engine(empty_url)
    upgrade(engine, "0007")
    relay = {"relay_id": "r1", "kme_id": "kme-m", "role": "middle", "state": "completed", "path": '["kme-a"]'}
    relay |= {"master_sae": "sae-a", "slave_sae": "sae-b", "key_ids": "[]", "created_at": 1.0}
    columns = ", ".join(relay)
    with engine.begin() as connection:
        connection.execute(text(f"INSERT INTO relays ({columns}) VALUES ({', '.join(':' + c for c in relay)})"), relay)
        connection.execute(
            text(
                "INSERT INTO device_keys (ksid, idx, kme_id, state, digest, created_at)"
                " VALUES ('s', 7, 'kme-m', 'pending', :digest, 2.0)"
            ),
            {"digest": b"\x01" * 32},
        )
    if engine.dialect.name == "postgresql":  # what 0008 mends
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(
                text(f"INSERT INTO relays ({columns}) VALUES ({', '.join(':' + c for c in relay)})"),
                relay | {"relay_id": "r0", "role": "tombstone"},
            )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.begin() as connection:
        assert connection.execute(text("SELECT role, state FROM relays")).all() == [("middle", "completed")]
        assert connection.execute(text("SELECT idx, state, resend_at FROM device_keys")).all() == [(7, "pending", None)]
        connection.execute(
            text(f"INSERT INTO relays ({columns}) VALUES ({', '.join(':' + c for c in relay)})"),
            relay | {"relay_id": "r2", "role": "tombstone", "state": "voided"},
        )
    downgrade(engine, "0007")
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT relay_id, role FROM relays ORDER BY relay_id")).all()
        assert [tuple(r) for r in rows] == [("r1", "middle"), ("r2", "tomb")]
        assert connection.execute(text("SELECT COUNT(*) FROM device_keys")).scalar() == 1
    engine.dispose()
