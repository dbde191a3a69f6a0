"""The key store's schema comes from the Alembic migrations, and they match the models."""

from __future__ import annotations

import os
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

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
