"""The store's own facts: whether its key material is encrypted at rest, and under which master key.

A store sealed under a master key and later opened without it (or with another) would hand the sealed
bytes out as keys; from 0003 the store records ``sealing`` (``none`` or ``aes-256``) and, when sealed, a
check value made with the master key, and :class:`qinternet.kms.store.KeyStore` refuses to open with a
key that does not match (:class:`qinternet.kms.store.MasterKeyError`).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the ``store_meta`` table (filled when the store is first opened)."""
    op.create_table(
        "store_meta",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("store_meta")
