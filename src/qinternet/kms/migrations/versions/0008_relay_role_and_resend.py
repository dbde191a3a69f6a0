"""One KME per process, fixes: ``relays.role`` wide enough for ``tombstone`` (9 characters; PostgreSQL refused
it in the 8 of revision 0007, so voids of relays a KME never saw failed there), and ``device_keys.resend_at``,
when the sweep sends a pending half's digest again (with back-off, for as long as the half is pending).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Widen the column, add the other."""
    with op.batch_alter_table("relays") as batch:
        batch.alter_column("role", existing_type=sa.String(8), type_=sa.String(12), existing_nullable=False)
    with op.batch_alter_table("device_keys") as batch:
        batch.add_column(sa.Column("resend_at", sa.Float(), nullable=True))


def downgrade() -> None:
    """Back to revision 0007 (a ``tombstone`` row is kept as ``tomb``, which 8 characters hold)."""
    op.execute("UPDATE relays SET role = 'tomb' WHERE role = 'tombstone'")
    with op.batch_alter_table("device_keys") as batch:
        batch.drop_column("resend_at")
    with op.batch_alter_table("relays") as batch:
        batch.alter_column("role", existing_type=sa.String(12), type_=sa.String(8), existing_nullable=False)
