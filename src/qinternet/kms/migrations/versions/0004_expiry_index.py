"""Keys reserved and never fetched are voided after a time (``expired``): an index to find them by age.

The state column is a plain string (no CHECK constraint: ``native_enum=False``), so the new state
``EXPIRED`` needs no change to it; the sweep (:meth:`qinternet.kms.store.KeyStore.expire_reserved`) looks
for reserved keys older than a time, which ``ix_keys_state_created`` finds without reading the table.

Revision ID: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the index."""
    op.create_index("ix_keys_state_created", "keys", ["state", "created_at"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_keys_state_created", table_name="keys")
