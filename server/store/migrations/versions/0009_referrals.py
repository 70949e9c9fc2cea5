"""referrals and transfers: case transfers, referrals to services, person match keys and links

Revision ID: 0009_referrals
Revises: 0008_consent
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_referrals"
down_revision = "0008_consent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("from_province", sa.String(length=10), nullable=True),
        sa.Column("from_commune", sa.String(length=10), nullable=True),
        sa.Column("to_province", sa.String(length=10), nullable=True),
        sa.Column("to_commune", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("shares_identity", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("proposed_by", sa.String(length=120), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("sender_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("package_sha256", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transfers")),
        sa.UniqueConstraint("package_sha256", name=op.f("uq_case_transfers_package_sha256")),
    )
    op.create_index("ix_case_transfers_to", "case_transfers", ["to_province", "state"])
    op.create_index("ix_case_transfers_from", "case_transfers", ["from_province", "state"])
    op.create_index("ix_case_transfers_case", "case_transfers", ["case_code"])
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("province_code", sa.String(length=10), nullable=True),
        sa.Column("commune_code", sa.String(length=10), nullable=True),
        sa.Column("service_type", sa.String(length=40), nullable=False),
        sa.Column("organisation", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("referred_on", sa.Date(), nullable=False),
        sa.Column("shared", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.Column("outcome_on", sa.Date(), nullable=True),
        sa.Column("outcome_source", sa.String(length=20), nullable=True),
        sa.Column("outcome_submission_id", sa.Integer(), nullable=True),
        sa.Column("outcome_by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index("ix_referrals_case", "referrals", ["case_code"])
    op.create_index("ix_referrals_units_outcome", "referrals", ["province_code", "outcome"])
    op.create_table(
        "person_keys",
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("match_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("case_code", "kind", name=op.f("pk_person_keys")),
    )
    op.create_index("ix_person_keys_key", "person_keys", ["match_key"])
    op.create_table(
        "person_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=40), nullable=False),
        sa.Column("same_as", sa.String(length=40), nullable=False),
        sa.Column("linked_by", sa.String(length=120), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_links")),
        sa.UniqueConstraint("case_code", "same_as", name="uq_person_links_case_same"),
    )
    op.create_index(op.f("ix_person_links_same_as"), "person_links", ["same_as"])


def downgrade() -> None:
    op.drop_table("person_links")
    op.drop_table("person_keys")
    op.drop_table("referrals")
    op.drop_table("case_transfers")
