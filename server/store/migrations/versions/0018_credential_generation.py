"""A counter of changes to what a collector's token stands for, kept by triggers.

Each worker process keeps the collectors its submissions' tokens named, so that a POST does not
look its token up again (one statement per submission: 12% of the instructions of receiving
one, bench/receiving.py under callgrind). What such a remembered answer holds (the collector,
not revoked, its token, its unit, its assigned forms) may change at any moment, so every change
bumps `credential_generation.value`, whoever makes it and however (a command, the web view, a
restore script, by hand in SQL): these triggers, not the application, keep it. A submission
authenticated from memory is recorded only in a transaction that has read the counter and found
it unchanged since the answer was read, or has looked the token up again
(server/services/recording.py).

Revision ID: 0018_credential_generation
Revises: 0017_no_decrypt_state_index
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_credential_generation"
down_revision = "0017_no_decrypt_state_index"
branch_labels = None
depends_on = None

BUMP = "UPDATE credential_generation SET value = value + 1"
# The columns of collectors a token lookup reads or a check depends on; last_seen_at and
# app_version, written as phones sync, are not among them.
WATCHED = "token_sha256, revoked_at, unit_code, name, user_id"

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER credential_changed AFTER UPDATE OF {WATCHED} ON collectors BEGIN {BUMP}; END",
    f"CREATE TRIGGER credential_removed AFTER DELETE ON collectors BEGIN {BUMP}; END",
    f"CREATE TRIGGER credential_assigned AFTER INSERT ON collector_forms BEGIN {BUMP}; END",
    f"CREATE TRIGGER credential_reassigned AFTER UPDATE ON collector_forms BEGIN {BUMP}; END",
    f"CREATE TRIGGER credential_unassigned AFTER DELETE ON collector_forms BEGIN {BUMP}; END",
]
POSTGRES_TRIGGERS = [
    "CREATE FUNCTION credential_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN {BUMP}; RETURN NULL; END $$",
    f"CREATE TRIGGER credential_changed AFTER UPDATE OF {WATCHED} OR DELETE ON collectors "
    "FOR EACH STATEMENT EXECUTE FUNCTION credential_changed()",
    "CREATE TRIGGER credential_assigned AFTER INSERT OR UPDATE OR DELETE ON collector_forms "
    "FOR EACH STATEMENT EXECUTE FUNCTION credential_changed()",
]


def upgrade() -> None:
    op.create_table(
        "credential_generation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO credential_generation (id, value) VALUES (1, 0)")
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER credential_changed ON collectors")
        op.execute("DROP TRIGGER credential_assigned ON collector_forms")
        op.execute("DROP FUNCTION credential_changed()")
    else:
        for name in ("changed", "removed", "assigned", "reassigned", "unassigned"):
            op.execute(f"DROP TRIGGER credential_{name}")
    op.drop_table("credential_generation")
