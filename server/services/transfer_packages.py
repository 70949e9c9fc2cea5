"""Transfers between servers: a case sealed into a package for another server's key.

`export_package` reads a case this server holds (its current submissions' data, identifying
fields removed unless every person consented to share them with the receiving kind of unit,
and the consent decisions supervisors recorded on the web, which bind the receiver too) and
seals it with crypto/package.py: encrypted for the receiving server's public key, signed
with this server's. `import_package` verifies the signature, decrypts with this server's key
and records a pending transfer (`case_transfers`, origin `package`) holding what came; the
receiving unit's supervisor accepts it like any transfer, and only then the case is created
here (`materialise`): its submissions are stored as received from the sending unit (so the
unit rule places them there) and the receiving unit holds it from the moment of acceptance.
Nothing of the person is ever written in clear outside the two databases.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from crypto import keys as crypto_keys
from crypto import package as crypto_package
from crypto.decrypt import Decryptor
from forms.identifying import identifying_fields
from server import errors
from server.clock import utcnow
from server.services import cases as case_service
from server.services import consent, holdings, sharing, transfers
from server.services.identifying import check_reason
from server.services.keyring import KeyRing
from server.services.units import Unit, as_utc
from server.store import audit
from server.store import cases as case_store
from server.store import forms as form_store
from server.store import keys as key_store
from server.store import submissions as submission_store
from server.store import transfers as transfer_store
from server.store.models import CaseTransfer, FormVersion, Submission

PAYLOAD_FORMAT = "fieldcase-case/1"


def _signer(session: Session, keyring: KeyRing) -> Decryptor:
    key = key_store.active(session)
    decryptor = keyring.decryptor(key.id) if key is not None else None
    if decryptor is None:
        raise errors.validation_failed(
            "The server key is locked: set FIELDCASE_KEY_PASSPHRASE to sign or open packages."
        )
    return decryptor  # type: ignore[no-any-return]


def public_key_pem(session: Session) -> bytes:
    """This server's public key as PEM: what another server seals packages for."""
    key = key_store.active(session)
    if key is None:
        raise errors.validation_failed("This server has no key yet: run `fieldcase init`.")
    return crypto_keys.public_key_pem(crypto_keys.load_public_key(key.public_key_b64))


def _without_identity(node: Any, fields: frozenset[str]) -> Any:
    if isinstance(node, dict):
        return {k: _without_identity(v, fields) for k, v in node.items() if k not in fields}
    if isinstance(node, list):
        return [_without_identity(item, fields) for item in node]
    return node


def _identifying_of(session: Session, submission_id: int) -> frozenset[str]:
    """The P3 fields of a submission's form version: the fixed list and those the form
    compiler marked."""
    submission = session.get(Submission, submission_id)
    version = session.get(FormVersion, submission.form_version_id) if submission else None
    return identifying_fields(version.fields if version else None)


@dataclass(frozen=True)
class Exported:
    """A sealed package and what it says, for the command's output."""

    package: bytes
    case_code: str
    submissions: int
    identity: bool
    recipient_fingerprint: str


def export_package(
    session: Session,
    keyring: KeyRing,
    case_code: str,
    recipient_pem: bytes,
    to_unit_code: str,
    reason: str,
    share_identity: bool,
    actor: str,
    sender_name: str,
) -> Exported:
    """Seal a case this server holds for another server's key; audited `transfer.export`."""
    try:
        recipient = crypto_keys.load_public_key(recipient_pem)
    except Exception as exc:
        raise errors.validation_failed("The recipient key is not an RSA public key (PEM).") from exc
    holding = holdings.current_holding(session, case_code)
    case = case_store.by_code(session, case_code)
    if holding is None or case is None:
        raise errors.not_found("The case")
    target = transfers.target_unit(to_unit_code)
    reason = check_reason(reason)
    if share_identity and not sharing.identity_may_travel(
        session, case_code, sharing.recipient_type_of(target)
    ):
        raise errors.validation_failed(
            "The person has not consented to share their identity with another unit: only "
            "the statistical core can travel."
        )
    connection = session.connection()
    rows = [
        r
        for r in submission_store.rows_of_cases(connection, [case_code])
        if r.unit_check == "accepted"
    ]
    instance_ids = submission_store.instance_ids_of(connection, [r.id for r in rows])
    payload = {
        "format": PAYLOAD_FORMAT,
        "case_code": case_code,
        "from_unit": {"province": holding.province, "commune": holding.commune},
        "to_unit": {"province": target.province, "commune": target.commune},
        "reason": reason,
        "identity": share_identity,
        "sender": sender_name,
        "sent_at": utcnow().isoformat(),
        "submissions": [
            {
                "xml_form_id": r.xml_form_id,
                "instance_id": instance_ids[r.id],
                "received_at": as_utc(r.received_at).isoformat(),
                "event_date": r.event_date.isoformat() if r.event_date else None,
                "data": r.data
                if share_identity
                else _without_identity(r.data, _identifying_of(session, r.id)),
            }
            for r in rows
        ],
        # A supervisor's paper decisions (a withdrawal, say) bind the receiving unit too.
        "consent_events": consent.travelling_events(connection, case_code, share_identity),
    }
    sealed = crypto_package.seal(
        json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        recipient,
        _signer(session, keyring),
    )
    audit.append(
        session,
        actor,
        "transfer.export",
        f"case:{case.id}",
        {
            "case_code": case_code,
            "from": holding.code,
            "to": target.code,
            "identity": share_identity,
            "recipient": crypto_keys.fingerprint(recipient)[:16],
            "package_sha256": hashlib.sha256(sealed).hexdigest(),
        },
    )
    return Exported(
        sealed, case_code, len(rows), share_identity, crypto_keys.fingerprint(recipient)
    )


@dataclass(frozen=True)
class Imported:
    """A verified package, recorded as a pending transfer."""

    transfer_id: int
    case_code: str
    sender_fingerprint: str
    sender_name: str
    from_unit: str
    to_unit: str
    submissions: int
    identity: bool


def _unit_of(value: Any) -> Unit:
    if not isinstance(value, dict):
        raise errors.validation_failed("The package names no unit.")
    province, commune = value.get("province"), value.get("commune")
    return Unit(province if isinstance(province, str) else None, commune or None)


def import_package(session: Session, keyring: KeyRing, data: bytes, actor: str) -> Imported:
    """Verify and open a package for this server; record it as a pending transfer to the
    unit it names (audited `transfer.import`). Refused, changing nothing, when the signature
    fails, it is for another server, it was imported already, or the case is held here."""
    try:
        opened = crypto_package.open_package(data, _signer(session, keyring))
    except crypto_package.NotForThisServer as exc:
        raise errors.validation_failed(f"The package is not for this server: {exc}") from exc
    except crypto_package.PackageRefused as exc:
        raise errors.validation_failed(f"The package is refused: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if transfer_store.by_package(session, digest) is not None:
        raise errors.validation_failed("This package was imported already.")
    try:
        payload = json.loads(opened.payload.decode("utf-8"))
        assert payload["format"] == PAYLOAD_FORMAT
        case_code = str(payload["case_code"])
        submissions = list(payload["submissions"])
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        raise errors.validation_failed("The package's content is not a fieldcase case.") from exc
    consent_events = consent.checked_travelling(payload.get("consent_events"))
    from_unit, to_unit = _unit_of(payload.get("from_unit")), _unit_of(payload.get("to_unit"))
    if to_unit.province is None or from_unit.province is None:
        raise errors.validation_failed("The package names no receiving unit.")
    if holdings.current_holding(session, case_code) is not None:
        raise errors.validation_failed("This server already holds a case with this case code.")
    if transfer_store.pending_of_case(session, case_code) is not None:
        raise errors.validation_failed("A transfer of this case is already waiting for an answer.")
    transfer = transfer_store.add(
        session,
        CaseTransfer(
            case_code=case_code,
            from_province=from_unit.province,
            from_commune=from_unit.commune,
            to_province=to_unit.province,
            to_commune=to_unit.commune,
            reason=str(payload.get("reason") or ""),
            shares_identity=bool(payload.get("identity")),
            state=transfers.PENDING,
            proposed_by=str(payload.get("sender") or "")[:120],
            proposed_at=utcnow(),
            origin="package",
            sender_fingerprint=opened.sender_fingerprint,
            package_sha256=digest,
            payload={"submissions": submissions, "consent_events": consent_events},
        ),
    )
    audit.append(
        session,
        actor,
        "transfer.import",
        None,
        {
            "transfer": transfer.id,
            "case_code": case_code,
            "from": from_unit.code,
            "to": to_unit.code,
            "sender": opened.sender_fingerprint[:16],
            "package_sha256": digest,
        },
    )
    return Imported(
        transfer.id,
        case_code,
        opened.sender_fingerprint,
        transfer.proposed_by,
        from_unit.code,
        to_unit.code,
        len(submissions),
        transfer.shares_identity,
    )


def materialise(session: Session, transfer: CaseTransfer, actor: str) -> None:
    """Create the imported case on acceptance: its submissions as received from the sending
    unit, that unit holding it until now, the receiving unit from now on."""
    items = (transfer.payload or {}).get("submissions") or []
    connection = session.connection()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for item in items:
        form_pk = form_store.pk_by_xml_form_id(connection, str(item.get("xml_form_id")))
        version = form_store.current_version(session, form_pk) if form_pk else None
        if form_pk is None or version is None:
            raise errors.validation_failed(
                "A form of the package is not published on this server: publish the same "
                "forms first."
            )
        if submission_store.by_instance(session, form_pk, str(item["instance_id"])) is not None:
            raise errors.validation_failed("A submission of the package is on this server already.")
        rows.append(
            {
                "form_id": form_pk,
                "form_version_id": version.id,
                "instance_id": str(item["instance_id"]),
                "received_at": datetime.fromisoformat(str(item["received_at"])),
                "updated_at": now,
                "manifest_sha256": transfer.package_sha256 or "",
                "encrypted": False,
                "decrypt_state": "decrypted",
                "decrypt_reason": "imported from a transfer package",
                "data": item.get("data") or {},
                "review_state": "received",
                "case_code": transfer.case_code,
                "event_date": (
                    datetime.fromisoformat(item["event_date"]).date()
                    if item.get("event_date")
                    else None
                ),
                "unit_code": transfer.from_commune or transfer.from_province,
            }
        )
    if not rows:
        raise errors.validation_failed("The package holds no submission of the case.")
    submission_store.insert_many(connection, rows)
    consent.add_travelled(
        connection,
        transfer.case_code,
        (transfer.payload or {}).get("consent_events") or [],
        transfer.proposed_by or (transfer.sender_fingerprint or "")[:16],
    )
    holdings.import_holding(
        session,
        transfer.case_code,
        Unit(transfer.from_province, transfer.from_commune),
        min(as_utc(r["received_at"]) for r in rows),
        Unit(transfer.to_province, transfer.to_commune),
        actor,
    )
    case_service.project_case(connection, transfer.case_code)
