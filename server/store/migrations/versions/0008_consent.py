"""consent: the consent ledger per person and purpose, and tombstones of erased cases

Revision ID: 0008_consent
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_consent"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("person_index", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("recipient_type", sa.String(length=40), nullable=True),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("given_by", sa.String(length=20), nullable=True),
        sa.Column("age_years", sa.Integer(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("flag", sa.String(length=30), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("xml_form_id", sa.String(length=255), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_consent_events_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_events_person", ["case_code", "person_index", "purpose"], unique=False
        )
        batch_op.create_index("ix_consent_events_purpose", ["purpose", "case_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_consent_events_submission_id"), ["submission_id"], unique=False
        )
    op.create_table(
        "case_tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_tombstones")),
        sa.UniqueConstraint("case_code", name=op.f("uq_case_tombstones_case_code")),
    )


def downgrade() -> None:
    op.drop_table("case_tombstones")
    op.drop_table("consent_events")
