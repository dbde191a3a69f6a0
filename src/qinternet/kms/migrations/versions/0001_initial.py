"""The first schema: link pools, keys reserved per slave SAE, the ledger.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "pool_blocks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kme_low", sa.String(100), nullable=False),
        sa.Column("kme_high", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("used_bytes", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("material", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_pool_blocks_pool", "pool_blocks", ["kme_low", "kme_high", "id"])
    op.create_table(
        "keys",
        sa.Column("kme_id", sa.String(100), primary_key=True),
        sa.Column("key_id", sa.String(36), primary_key=True),
        sa.Column("slave_sae_id", sa.String(100), primary_key=True),
        sa.Column("master_sae_id", sa.String(100), nullable=False),
        sa.Column("size_bits", sa.Integer(), nullable=False),
        sa.Column(
            "state", sa.Enum("RESERVED", "DELIVERED", name="keystate", native_enum=False, length=16), nullable=False
        ),
        sa.Column("material", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_keys_slave", "keys", ["kme_id", "slave_sae_id", "master_sae_id", "state"])
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("kme_id", sa.String(100), nullable=False),
        sa.Column("peer_kme_id", sa.String(100), nullable=True),
        sa.Column("key_id", sa.String(36), nullable=True),
        sa.Column("master_sae_id", sa.String(100), nullable=True),
        sa.Column("slave_sae_id", sa.String(100), nullable=True),
        sa.Column("bits", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    """Drop everything."""
    op.drop_table("ledger")
    op.drop_index("ix_keys_slave", table_name="keys")
    op.drop_table("keys")
    op.drop_index("ix_pool_blocks_pool", table_name="pool_blocks")
    op.drop_table("pool_blocks")
