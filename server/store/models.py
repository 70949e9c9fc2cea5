"""SQLAlchemy 2.0 models: the tables of the store.

Queries live in one module per table beside this one (`server/store/<table>.py`); services and
routes never build queries inline. Schema changes go through Alembic migrations in
`server/store/migrations/`, never through `create_all` outside tests of the migrations themselves.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention above."""

    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A model's table, for SQL statements built once and run without the ORM."""
    return cast(Table, model.__table__)


def _now() -> datetime:
    from server.clock import utcnow

    return utcnow()


class ServerKey(Base):
    """An RSA key pair; the private half is stored passphrase-protected (PKCS#8)."""

    __tablename__ = "server_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    public_key_b64: Mapped[str] = mapped_column(Text)
    private_key_pem: Mapped[bytes] = mapped_column(LargeBinary)
    bits: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Form(Base):
    """A form, known by its XForm id (NFC-normalised); versions hang below it.

    The current version is the newest published one; phones always get that one.
    """

    __tablename__ = "forms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    xml_form_id: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    encrypted: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class FormVersion(Base):
    """One published XForm. Old versions stay so old submissions still decode."""

    __tablename__ = "form_versions"
    __table_args__ = (UniqueConstraint("form_id", "version", name="uq_form_versions_form_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"), index=True)
    version: Mapped[str] = mapped_column(String(255))
    xml: Mapped[str] = mapped_column(Text)
    md5: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("server_keys.id"))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class FormAttachment(Base):
    """A media or CSV file a form version needs on the phone (served by the manifest)."""

    __tablename__ = "form_attachments"
    __table_args__ = (
        UniqueConstraint("form_version_id", "name", name="uq_form_attachments_version_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    blob_sha256: Mapped[str] = mapped_column(String(64))
    md5: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))


class Collector(Base):
    """A field worker's phone account; authenticated by a secret token in its server URL."""

    __tablename__ = "collectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    unit_code: Mapped[str | None] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The ODK Collect version its User-Agent last named (`v2024.3.1`), written with last_seen_at.
    app_version: Mapped[str | None] = mapped_column(String(40))


class CredentialGeneration(Base):
    """One row: a count of the changes to what collectors' tokens stand for (a collector
    revoked, removed, renamed, moved to another unit, given a new token or account, a form
    assigned or withdrawn). Triggers keep it (migration 0018), not the application; a worker
    that remembers a token's collector records its submissions only while it is unchanged."""

    __tablename__ = "credential_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class CollectorForm(Base):
    """A form assigned to a collector: the only forms it lists, downloads and submits."""

    __tablename__ = "collector_forms"

    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"), primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"), primary_key=True)


class User(Base):
    """A person who signs in to the web view (admin, supervisor, viewer, collector)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # No longer read or written: since migration 0004 failed sign-ins are counted per (name,
    # client) in `sign_in_failures`. Kept so that backups made before it still restore.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserUnit(Base):
    """An administrative unit (province or commune code) a user may see, with all below it."""

    __tablename__ = "user_units"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(20), primary_key=True)


class Submission(Base):
    """One submission as received, and what decryption and parsing made of it.

    The raw manifest and parts are blobs (see SubmissionPart); they are never changed.
    `data` is the parsed instance (nested dicts, repeats as lists) once decrypted.
    """

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("form_id", "instance_id", name="uq_submissions_form_instance"),
        Index("ix_submissions_form_received", "form_id", "received_at"),
        Index("ix_submissions_units", "province_code", "commune_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"), index=True)
    instance_id: Mapped[str] = mapped_column(String(255))
    deprecated_id: Mapped[str | None] = mapped_column(String(255))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    encrypted: Mapped[bool] = mapped_column(Boolean)
    # pending (waiting for a part or the key), decrypted, failed (kept, retried on demand)
    # Indexed only where not "decrypted" (ix_submissions_undecrypted, migration 0017): nearly
    # every row is, and an index of them all narrows nothing.
    decrypt_state: Mapped[str] = mapped_column(String(20))
    decrypt_reason: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(String(20))
    xml_sha256: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    review_state: Mapped[str] = mapped_column(String(20), default="received", index=True)
    case_code: Mapped[str | None] = mapped_column(String(40), index=True)
    # Who may see it (UnitScope): the unit that acted, i.e. its collector's (see unit_code),
    # narrowed to the commune of its case when it is effective; never the answers alone.
    province_code: Mapped[str | None] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(String(10))
    event_date: Mapped[date | None] = mapped_column(Date, index=True)
    # The unit of its collector when it was received: the only unit it may act in.
    unit_code: Mapped[str | None] = mapped_column(String(20))
    # What the unit rule made of it (server/services/units.py): accepted, awaiting_intake, or
    # a flag (no_unit, unit_unknown, unit_mismatch, foreign_case, foreign_edit); None until
    # it is decrypted and judged.
    unit_check: Mapped[str | None] = mapped_column(String(20), index=True)


class FeedBody(Base):
    """A submission's `Submissions` row of the OData feed, rendered once (exports/odata.py).

    `body` is the JSON text of the row's answers (the members between `__id` and `__system`, no
    braces), rendered for the feed layout whose digest is `layout`: a layout change (form
    version, columns, types, identifying list, renderer) gives another digest, so a stale
    body is never read, only rendered again. Rows are chosen in SQL as always (scope, consent,
    superseded, undecrypted); the body holds no identifying column. A change of the
    submission's `data` or `instance_id` deletes its body (a trigger, migration 0013).
    """

    __tablename__ = "feed_bodies"

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    # The submission's form (as its layout's digest names it): the bodies of a form's older
    # layout are found by it (ix_feed_bodies_form_layout) without reading a submission.
    form_id: Mapped[int | None] = mapped_column(Integer)
    layout: Mapped[str] = mapped_column(String(64))
    # UTF-8 JSON: text on PostgreSQL (it sends bytea hex-encoded: 13 KB rows read 25% slower),
    # a BLOB on SQLite (text is decoded to str and encoded back: 20% of a warm page's time).
    # Read as bytes on SQLite, str on PostgreSQL (server/store/submissions.py `feed_body`).
    body: Mapped[Any] = mapped_column(Text().with_variant(LargeBinary(), "sqlite"))


class SubmissionPart(Base):
    """One file of a submission exactly as received (manifest, .enc media, plain media).

    Decrypted media are not kept on disk: they are decrypted again when someone views them.
    """

    __tablename__ = "submission_parts"
    __table_args__ = (UniqueConstraint("submission_id", "name", name="uq_submission_parts_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    blob_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Case(Base):
    """A person received, identified by the case_code made on the phone at intake.

    A projection of the decrypted submissions: rebuilt from them, never edited by hand.
    """

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_units", "province_code", "commune_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40), unique=True)
    province_code: Mapped[str | None] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(30), index=True)
    reception_date: Mapped[date | None] = mapped_column(Date, index=True)
    next_followup_due: Mapped[date | None] = mapped_column(Date, index=True)
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(40))
    # Lower-case text without diacritics for search; holds identifying data, never exported.
    search_text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class CaseHolding(Base):
    """Which unit holds a case code, from when: a history, never edited.

    The first period is set by the case's first intake that passes the unit rule; every later
    one only by an explicit, audited transfer (`server/services/holdings.py`). The current
    holding is the period with the highest `seq`; it is what `cases.province_code` and
    `commune_code` copy. Kept apart from `cases` because a case is a projection that can
    disappear (its only intake rejected) while the code stays held.
    """

    __tablename__ = "case_holdings"
    __table_args__ = (UniqueConstraint("case_code", "seq", name="uq_case_holdings_case_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    province_code: Mapped[str | None] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    source: Mapped[str] = mapped_column(String(20))  # intake | transfer
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    actor: Mapped[str | None] = mapped_column(String(120))


class CaseAssignment(Base):
    """A case given to a collector (a field worker's phone) for follow-up visits.

    Keyed by case code, like holdings, because a case is a projection that can be made again.
    Only collectors of the unit holding the case are assigned; the row goes when the collector
    is revoked or the case transferred, and a closed case leaves the list after a grace period
    (server/services/case_assignments.py). It is what `cases.csv` lists for that phone.
    """

    __tablename__ = "case_assignments"
    __table_args__ = (
        UniqueConstraint("case_code", "collector_id", name="uq_case_assignments_case_collector"),
        Index("ix_case_assignments_collector", "collector_id", "case_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40))
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    assigned_by: Mapped[str] = mapped_column(String(120))


class CasePerson(Base):
    """The main person (index 0) or an accompanying minor of a case; analytic fields only."""

    __tablename__ = "case_persons"
    __table_args__ = (UniqueConstraint("case_id", "person_index", name="uq_case_persons_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    person_index: Mapped[int] = mapped_column(Integer)
    person_type: Mapped[str | None] = mapped_column(String(30))
    sex: Mapped[str | None] = mapped_column(String(20))
    age_years: Mapped[int | None] = mapped_column(Integer)
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CaseEvent(Base):
    """One entry of a case's timeline, derived from one submission."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_date", "case_id", "event_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    event_date: Mapped[date | None] = mapped_column(Date)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AuditEntry(Base):
    """Append-only audit log; each entry's hash covers the previous entry's hash."""

    __tablename__ = "audit_log"
    # Counting one user's recent entries of one kind (the case search limit).
    __table_args__ = (Index("ix_audit_log_action_actor_at", "action", "actor", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class CaseSearchHit(Base):
    """A case a search returned: which audit entry (the search: who, when) showed it.

    The audit entry lists the same case ids in its detail (so they are under the chain);
    this table is their index, so an auditor can count how often a case was found, by whom.
    No foreign key to cases: a case may be projected away and made again; its hits stay.
    """

    __tablename__ = "case_search_hits"
    __table_args__ = (Index("ix_case_search_hits_case", "case_id", "audit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audit_log.id"))
    case_id: Mapped[int] = mapped_column(Integer)


class SubmissionReview(Base):
    """One review decision on a submission: the state it moved to and the reviewer's comment.

    The submission's `review_state` is the latest of these; the rows are its history.
    """

    __tablename__ = "submission_reviews"
    __table_args__ = (Index("ix_submission_reviews_submission", "submission_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)


class SignInFailure(Base):
    """Failed password sign-ins of one typed name from one client, or of one client across
    every name (`name_digest` empty): what the sign-in back-off is computed from.

    Names and client addresses are stored only as HMAC-SHA256 digests under a key derived from
    the server secret, so the table holds neither what was typed (it may be a password or a
    person's name) nor an address. A row is deleted once `expires_at` has passed.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        UniqueConstraint("name_digest", "client_digest", name="uq_sign_in_failures_name_client"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name_digest: Mapped[str] = mapped_column(String(64))
    client_digest: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class WebSession(Base):
    """A signed-in browser: the cookie carries a random token, only its SHA-256 is stored.

    Kept on the server so logout, idle timeout, password change and disabling an account end
    the session for real, whatever the browser still holds.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(30))


class ApiToken(Base):
    """A bearer token of the /v1 API (pyodk, scripts): only its SHA-256 is stored.

    Given by POST /v1/sessions after the same sign-in guard as the web; it ends at
    `expires_at`, on DELETE /v1/sessions/..., or when the account is disabled.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(30))


class ConsentEvent(Base):
    """One consent decision of one person for one purpose: the consent ledger.

    A person is a case code and a person index (0 the person received, 1.. each accompanying
    minor, as in the forms). Events from a form (`source` = form) are projected from the
    case's effective submissions like the rest of the case, so a rejected or superseded
    submission takes its decisions with it; events a supervisor records from paper (`source`
    = web, with a reason, audited) are never rebuilt. No foreign key to cases: a case may be
    projected away and made again, its ledger stays. What an event means is decided by
    forms/consent.py.
    """

    __tablename__ = "consent_events"
    __table_args__ = (
        Index("ix_consent_events_person", "case_code", "person_index", "purpose"),
        Index("ix_consent_events_purpose", "purpose", "case_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40))
    person_index: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(30))
    # For a referral, the referral_target code it is about; None = every recipient type.
    recipient_type: Mapped[str | None] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(10))  # yes | no
    given_by: Mapped[str | None] = mapped_column(String(20))  # self | legal_rep | both
    age_years: Mapped[int | None] = mapped_column(Integer)  # the person's age when decided
    decided_on: Mapped[date | None] = mapped_column(Date)
    # The age rule's flag when recorded (forms/consent.py); a flagged yes counts as not given.
    flag: Mapped[str | None] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(10))  # form | web
    xml_form_id: Mapped[str | None] = mapped_column(String(255))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    actor: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    # Codes only (e.g. the safe contact method and times of a follow-up contact consent).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ProjectionVersion(Base):
    """The version of the rules a derived table was last built with (server/store/projections.py).

    `Store.migrate` compares it with the code's after every migration has run and rebuilds
    the table from its source when they differ: after the table is made, and whenever a
    release changes the rules it is built by.
    """

    __tablename__ = "projection_versions"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class ConsentStanding(Base):
    """What one person's ledger says about one purpose now: the consent ledger projected.

    Made from consent_events by server/store/consent.py (`refresh_standings`) in the same
    transaction as every change of the ledger, for every purpose but referrals (those are per
    recipient type and read from the ledger). A person and purpose without a row is
    `not_asked`. The rules are forms/consent.py (`standing`); no answer depends on the day, so
    the projection stays true until the ledger changes. Exits that ask many persons at once
    (a phone's case list, exports, the OData feed) read this table instead of the ledger.
    """

    __tablename__ = "consent_standings"
    __table_args__ = (
        UniqueConstraint(
            "case_code", "person_index", "purpose", name="uq_consent_standings_person_purpose"
        ),
        Index("ix_consent_standings_purpose", "purpose", "state", "case_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40))
    person_index: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20))  # forms/consent.py: given, refused, ...


class CaseTombstone(Base):
    """What is left of an erased case's identity: that it was erased, when, why, by whom.

    The case's identifying answers are gone from the decrypted store and its raw encrypted
    parts are destroyed; the statistical core stays for the report tables.
    """

    __tablename__ = "case_tombstones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40), unique=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    actor: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))  # request | retention
    reason: Mapped[str] = mapped_column(Text)
    # Counts only: submissions cleaned, parts and blobs destroyed, fields removed.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CaseTransfer(Base):
    """A proposed hand-over of a case to another unit (or from another server), and its answer.

    `state` is pending until the receiving unit accepts (a new holding period starts,
    `server/services/holdings.py`) or declines. `shares_identity` is what the proposer chose and
    consent allowed: the statistical core always travels, identity only with it. A transfer
    imported from another server's package carries what it brought in `payload` (the case's
    submissions' data, decrypted from the package) until it is accepted.
    """

    __tablename__ = "case_transfers"
    __table_args__ = (
        Index("ix_case_transfers_to", "to_province", "state"),
        Index("ix_case_transfers_from", "from_province", "state"),
        Index("ix_case_transfers_case", "case_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40))
    from_province: Mapped[str | None] = mapped_column(String(10))
    from_commune: Mapped[str | None] = mapped_column(String(10))
    to_province: Mapped[str | None] = mapped_column(String(10))
    to_commune: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    shares_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20))  # pending | accepted | declined
    proposed_by: Mapped[str] = mapped_column(String(120))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(20), default="local")  # local | package
    sender_fingerprint: Mapped[str | None] = mapped_column(String(64))
    package_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Referral(Base):
    """A case referred to a service (health, legal aid, schooling, the Women's Union...).

    Written by a supervisor of the unit holding the case; its outcome comes from a vt04/vt05
    answer (`referral_to` / `referral_outcome`) or from the web view.
    """

    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_case", "case_code"),
        Index("ix_referrals_units_outcome", "province_code", "outcome"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40))
    province_code: Mapped[str | None] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(String(10))
    service_type: Mapped[str] = mapped_column(String(40))
    organisation: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    referred_on: Mapped[date] = mapped_column(Date)
    shared: Mapped[str] = mapped_column(String(20))  # core | core_identity
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_on: Mapped[date | None] = mapped_column(Date)
    outcome_source: Mapped[str | None] = mapped_column(String(20))  # web | submission
    outcome_submission_id: Mapped[int | None] = mapped_column(Integer)
    outcome_by: Mapped[str | None] = mapped_column(String(120))


class PersonKey(Base):
    """A keyed, non-reversible match key of a case's person (HMAC-SHA256 with the deployment's
    match secret over the ID number, or name and date of birth normalised).

    Only ever compared, never shown: no page, log line or export reads this table.
    """

    __tablename__ = "person_keys"
    __table_args__ = (Index("ix_person_keys_key", "match_key"),)

    case_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # id_number | name_dob
    match_key: Mapped[str] = mapped_column(String(64))


class PersonLink(Base):
    """Two case codes a supervisor said are one person: reports count them once."""

    __tablename__ = "person_links"
    __table_args__ = (UniqueConstraint("case_code", "same_as", name="uq_person_links_case_same"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(String(40))
    same_as: Mapped[str] = mapped_column(String(40), index=True)
    linked_by: Mapped[str] = mapped_column(String(120))
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


# Indexes of migration 0002 on older tables, declared here so the models match the schema.
Index("ix_submissions_form_id_id", Submission.form_id, Submission.id)
Index("ix_submissions_form_review_id", Submission.form_id, Submission.review_state, Submission.id)
Index("ix_submissions_form_event_date", Submission.form_id, Submission.event_date)
Index("ix_audit_log_actor", AuditEntry.actor)
# Migration 0015: the feed's current submissions of a form in id order (the background's
# look for rows without a stored body reads this index only, no submission row), and the
# bodies by form and layout (one without a body, or with one of an older layout, is found
# without reading the bodies themselves).
Index(
    "ix_submissions_feed_current",
    Submission.form_id,
    Submission.id,
    # In the index too, though its condition fixes them: else SQLite reads each row to check.
    Submission.decrypt_state,
    Submission.superseded_by_id,
    sqlite_where=text("decrypt_state = 'decrypted' AND superseded_by_id IS NULL"),
    postgresql_where=text("decrypt_state = 'decrypted' AND superseded_by_id IS NULL"),
)
# Submissions no processing has looked at yet (the processing process polls for them); the
# state columns are in it too, so SQLite need not read the rows to check the condition.
Index(
    "ix_submissions_received",
    Submission.id,
    Submission.received_at,
    Submission.decrypt_state,
    Submission.decrypt_reason,
    sqlite_where=text("decrypt_state = 'pending' AND decrypt_reason = 'received'"),
    postgresql_where=text("decrypt_state = 'pending' AND decrypt_reason = 'received'"),
)
# The few submissions not decrypted (migration 0017): counted by state for the metrics, listed
# for decrypt-pending; nothing indexes the decrypt_state of the rest.
Index(
    "ix_submissions_undecrypted",
    Submission.decrypt_state,
    Submission.id,
    sqlite_where=text("decrypt_state <> 'decrypted'"),
    postgresql_where=text("decrypt_state <> 'decrypted'"),
)
Index("ix_feed_bodies_form_layout", FeedBody.form_id, FeedBody.layout, FeedBody.submission_id)
