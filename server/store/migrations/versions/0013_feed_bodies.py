"""feed_bodies: each submission's OData `Submissions` row rendered once, keyed by the digest of
the feed layout it was rendered for, so the feed sends stored bytes instead of decoding and
rendering 500 answers per row; a trigger deletes a body when its submission's data changes

Revision ID: 0013_feed_bodies
Revises: 0012_consent_standings
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_feed_bodies"
down_revision = "0012_consent_standings"
branch_labels = None
depends_on = None

# A body is rendered from `data` (and `instance_id`, in repeat links): any change of either
# (an erasure strips answers in place) deletes it, whatever code path made the change.
SQLITE_TRIGGER = """
CREATE TRIGGER feed_bodies_stale AFTER UPDATE OF data, instance_id ON submissions
BEGIN
    DELETE FROM feed_bodies WHERE submission_id = NEW.id;
END
"""
POSTGRES_FUNCTION = """
CREATE FUNCTION feed_bodies_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DELETE FROM %I.feed_bodies WHERE submission_id = $1', TG_TABLE_SCHEMA)
        USING NEW.id;
    RETURN NULL;
END
$$
"""
POSTGRES_TRIGGER = """
CREATE TRIGGER feed_bodies_stale AFTER UPDATE OF data, instance_id ON submissions
FOR EACH ROW EXECUTE FUNCTION feed_bodies_stale()
"""


def upgrade() -> None:
    op.create_table(
        "feed_bodies",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("layout", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text().with_variant(sa.LargeBinary(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_feed_bodies_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_feed_bodies")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER feed_bodies_stale ON submissions")
        op.execute("DROP FUNCTION feed_bodies_stale()")
    else:
        op.execute("DROP TRIGGER feed_bodies_stale")
    op.drop_table("feed_bodies")
