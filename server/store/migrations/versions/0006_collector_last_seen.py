"""collectors: the ODK Collect version each phone last reported (beside last_seen_at)

Revision ID: 0006_collector_last_seen
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_collector_last_seen"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_version", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collectors", schema=None) as batch_op:
        batch_op.drop_column("app_version")
