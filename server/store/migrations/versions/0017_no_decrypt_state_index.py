"""Index only the submissions not decrypted, instead of every submission's decrypt_state.

Nearly every submission is `decrypted`, so an index of that column cannot narrow a search for
those: it only served counting by state (the metrics), which an index of the few undecrypted
rows does better (`counts_by_decrypt_state`: the undecrypted from it, the rest from the
total). Worse, SQLite, which keeps no statistics unless asked, takes an equality on any index
for a narrow one: it read the projection's rows of a batch of cases (`case_code IN (...) AND
decrypt_state = 'decrypted'`) through this index, that is every decrypted submission, instead
of through ix_submissions_case_code: 61 ms a batch at 100,000 submissions against 2 ms, growing
with every submission stored. And every insert and update of a submission paid for it.

Revision ID: 0017_no_decrypt_state_index
Revises: 0016_received_index
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_no_decrypt_state_index"
down_revision = "0016_received_index"
branch_labels = None
depends_on = None


UNDECRYPTED = "decrypt_state <> 'decrypted'"


def upgrade() -> None:
    op.drop_index("ix_submissions_decrypt_state", table_name="submissions")
    op.create_index(
        "ix_submissions_undecrypted",
        "submissions",
        ["decrypt_state", "id"],
        sqlite_where=sa.text(UNDECRYPTED),
        postgresql_where=sa.text(UNDECRYPTED),
    )


def downgrade() -> None:
    op.drop_index("ix_submissions_undecrypted", table_name="submissions")
    op.create_index("ix_submissions_decrypt_state", "submissions", ["decrypt_state"])
