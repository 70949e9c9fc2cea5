"""projection_versions: which version of its rules each derived table was last built with,
so that Store.migrate rebuilds a projection (consent_standings) after its table is made or its
rules change, with the code of the release, after every migration has run

Revision ID: 0014_projection_versions
Revises: 0013_feed_bodies
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_projection_versions"
down_revision = "0013_feed_bodies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projection_versions",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projection_versions")),
    )


def downgrade() -> None:
    op.drop_table("projection_versions")
