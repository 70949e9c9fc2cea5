"""consent_standings: the consent ledger projected, one row per person and purpose (not
referrals), so that exits asking many persons at once join a table instead of replaying
every ledger

Revision ID: 0012_consent_standings
Revises: 0011_api_tokens
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_consent_standings"
down_revision = "0011_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_standings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("person_index", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_standings")),
        sa.UniqueConstraint(
            "case_code", "person_index", "purpose", name="uq_consent_standings_person_purpose"
        ),
    )
    with op.batch_alter_table("consent_standings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_standings_purpose", ["purpose", "state", "case_code"], unique=False
        )
    # Filled after the last migration by Store.migrate (server/store/projections.py): a
    # migration must not run today's store code against an older schema.


def downgrade() -> None:
    op.drop_table("consent_standings")
