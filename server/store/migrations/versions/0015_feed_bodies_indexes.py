"""feed_bodies indexes: the background processor finds the submissions without a body of the
current layout (and the bodies of another layout) from two indexes, never reading the
submissions' data or the bodies themselves

Revision ID: 0015_feed_bodies_indexes
Revises: 0014_projection_versions
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_feed_bodies_indexes"
down_revision = "0014_projection_versions"
branch_labels = None
depends_on = None

CURRENT = "decrypt_state = 'decrypted' AND superseded_by_id IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_submissions_feed_current",
        "submissions",
        # decrypt_state and superseded_by_id too, though the condition fixes them: else
        # SQLite reads each submission's row to check them.
        ["form_id", "id", "decrypt_state", "superseded_by_id"],
        sqlite_where=sa.text(CURRENT),
        postgresql_where=sa.text(CURRENT),
    )
    op.create_index("ix_feed_bodies_layout", "feed_bodies", ["layout", "submission_id"])


def downgrade() -> None:
    op.drop_index("ix_feed_bodies_layout", table_name="feed_bodies")
    op.drop_index("ix_submissions_feed_current", table_name="submissions")
