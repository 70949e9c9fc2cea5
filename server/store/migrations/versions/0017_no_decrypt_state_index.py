"""Drop the index on submissions.decrypt_state alone.

Nearly every submission is `decrypted`, so the index cannot narrow a search for those, and the
undecrypted ones are found from ix_submissions_received or by `!= 'decrypted'` (which no index
serves). Worse, SQLite, which keeps no statistics unless asked, takes an equality on any index
for a narrow one: it read the projection's rows of a batch of cases (`case_code IN (...) AND
decrypt_state = 'decrypted'`) through this index, that is every decrypted submission, instead
of through ix_submissions_case_code: 61 ms a batch at 100,000 submissions against 2 ms, growing
with every submission stored. And every insert and update of a submission paid for it.

Revision ID: 0017_no_decrypt_state_index
Revises: 0016_received_index
Create Date: 2026-12-04
"""

from alembic import op

revision = "0017_no_decrypt_state_index"
down_revision = "0016_received_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_submissions_decrypt_state", table_name="submissions")


def downgrade() -> None:
    op.create_index("ix_submissions_decrypt_state", "submissions", ["decrypt_state"])
