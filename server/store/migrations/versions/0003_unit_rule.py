"""unit rule: the unit a submission acts in, its judgement, and who holds each case code

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_code", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("unit_check", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_submissions_unit_check"), ["unit_check"], unique=False)
    # Submissions received so far acted in their collector's unit of today (the best known);
    # `fieldcase cases rebuild` then judges them all by the rule (docs/operations.md).
    op.execute(
        "UPDATE submissions SET unit_code = (SELECT collectors.unit_code FROM collectors "
        "WHERE collectors.id = submissions.collector_id) WHERE collector_id IS NOT NULL"
    )
    op.create_table(
        "case_holdings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("province_code", sa.String(length=10), nullable=True),
        sa.Column("commune_code", sa.String(length=10), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_case_holdings_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_holdings")),
        sa.UniqueConstraint("case_code", "seq", name="uq_case_holdings_case_seq"),
    )


def downgrade() -> None:
    op.drop_table("case_holdings")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submissions_unit_check"))
        batch_op.drop_column("unit_check")
        batch_op.drop_column("unit_code")
