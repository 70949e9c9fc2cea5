"""Submissions received and not yet looked at by processing, found from an index of their own:
the processing process of `fieldcase serve` asks for them several times a second.

Revision ID: 0016_received_index
Revises: 0015_feed_bodies_indexes
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_received_index"
down_revision = "0015_feed_bodies_indexes"
branch_labels = None
depends_on = None

RECEIVED = "decrypt_state = 'pending' AND decrypt_reason = 'received'"


def upgrade() -> None:
    op.create_index(
        "ix_submissions_received",
        "submissions",
        # received_at too, for the sweep's age condition; the condition keeps the index as
        # small as the backlog.
        ["id", "received_at", "decrypt_state", "decrypt_reason"],
        sqlite_where=sa.text(RECEIVED),
        postgresql_where=sa.text(RECEIVED),
    )


def downgrade() -> None:
    op.drop_index("ix_submissions_received", table_name="submissions")
