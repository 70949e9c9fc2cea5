"""audit: search hits per case, and an index to count a user's recent searches

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_search_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audit_log.id"], name=op.f("fk_case_search_hits_audit_id_audit_log")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_search_hits")),
    )
    with op.batch_alter_table("case_search_hits", schema=None) as batch_op:
        batch_op.create_index("ix_case_search_hits_case", ["case_id", "audit_id"], unique=False)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_log_action_actor_at", ["action", "actor", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_action_actor_at")
    op.drop_table("case_search_hits")
