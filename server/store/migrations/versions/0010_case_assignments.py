"""case_assignments: which collectors (phones) follow up which case, for their cases.csv

Revision ID: 0010_case_assignments
Revises: 0009_referrals
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_case_assignments"
down_revision = "0009_referrals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["collectors.id"],
            name=op.f("fk_case_assignments_collector_id_collectors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_assignments")),
        sa.UniqueConstraint("case_code", "collector_id", name="uq_case_assignments_case_collector"),
    )
    with op.batch_alter_table("case_assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_assignments_collector", ["collector_id", "case_code"], unique=False
        )


def downgrade() -> None:
    op.drop_table("case_assignments")
