"""Data-use consent for the seeded people (tests/web/builders.py), as a supervisor records it
from paper: who consents decides which rows the /v1 API gives."""

from __future__ import annotations

from server.services import consent
from server.services.auth import current_user_of
from server.store import users as user_store
from server.store.db import Store

# (case code, person index, given by): 01-2025-cccccc never consents, so it is left out.
CONSENTING = (
    ("01-2025-aaaaaa", 0, "self"),
    ("01-2025-aaaaaa", 1, "legal_rep"),  # the boy of 4 who came with her
    ("02-2025-bbbbbb", 0, "both"),  # 17: the child and her legal representative
)
NOT_CONSENTING_CASE = "01-2025-cccccc"


def give_data_use_consent(store: Store) -> None:
    """Record the data-use consents of CONSENTING, as the admin."""
    with store.session() as session:
        admin = user_store.by_username(session, "admin")
        assert admin is not None
        user = current_user_of(admin, [], 0)
        for case_code, person, given_by in CONSENTING:
            consent.record_change(
                session,
                user,
                case_code,
                purpose=consent.DATA_USE,
                decision="yes",
                given_by=given_by,
                reason="Phiếu đồng ý trên giấy / paper consent form",
                person_index=person,
            )
