"""Data-subject requests and retention: what is held about a person (export), erasure, and
the retention rule that erases closed cases after FIELDCASE_RETENTION_YEARS.

A person is found by the case code, as everywhere. An export gathers every submission naming
the code (decrypted answers, whatever their state), the consent ledger and the audit of who
saw the file, as JSON and a readable bilingual HTML page. An erasure removes the identifying
answers (P3, and free text that may name someone) from the decrypted store, destroys every
raw part (the encrypted files and the manifest that holds the wrapped per-submission key:
crypto-shredding, so a backup made later holds nothing that decrypts), keeps the statistical
core the report tables count, and writes a tombstone. Both are audited. docs/privacy.md.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from forms.identifying import FREE_TEXT_FIELDS, identifying_fields
from forms.labels import FormLabels, labels_for
from server.blobs import FileBlobStore
from server.clock import utcnow
from server.config import Config
from server.services import case_assignments, consent
from server.services import cases as case_service
from server.services.identifying import check_reason
from server.store import audit, search_hits
from server.store import cases as case_store
from server.store import consent as consent_store
from server.store import reviews as review_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.models import Form, FormVersion, Submission

REQUEST = "request"
RETENTION = "retention"
# Free-text answers may name a person whatever the form says: erased with P3 (the
# statistical core is coded answers). Names of the fields, any form.
FREE_TEXT_TYPES = ("string", "text")
KEPT_TEXT = frozenset({"case_code", "instanceID", "deprecatedID", "instanceName", "worker_code"})


class SubjectError(Exception):
    """A request that cannot be carried out; nothing was changed. The message says why."""


@dataclass
class SubjectExport:
    """Where an export was written and what it holds (counts only)."""

    json_path: Path
    html_path: Path
    submissions: int
    consent_events: int
    audit_entries: int


@dataclass
class Erasure:
    """What an erasure did (counts only) or, in a dry run, would do."""

    case_code: str
    submissions: int = 0
    fields_removed: int = 0
    parts_removed: int = 0
    blobs_destroyed: int = 0
    already: bool = False
    blobs: list[str] = field(default_factory=list)


def _reason(reason: str) -> str:
    try:
        return check_reason(reason)
    except Exception as exc:  # a Problem: shown as the command's one-line reason
        raise SubjectError(str(exc)) from None


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value


def _labels(session: Session, cache: dict[int, FormLabels | None], version_id: int) -> Any:
    if version_id not in cache:
        version = session.get(FormVersion, version_id)
        try:
            cache[version_id] = labels_for(version.xml) if version else None
        except Exception:  # a version whose XML does not parse (tests store a stub)
            cache[version_id] = None
    return cache[version_id]


def _answers(data: Any, labels: FormLabels | None, prefix: str = "") -> list[dict[str, str]]:
    """Every answer as (path, question and value in Vietnamese and English)."""
    found: list[dict[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}/{key}" if prefix else key
            if isinstance(value, dict | list):
                found += _answers(value, labels, path)
            elif value not in (None, ""):
                clean = _strip_index(path)
                question = {
                    lang: ((labels.question(clean, lang) if labels else None) or key)
                    for lang in ("vi", "en")
                }
                shown = {
                    lang: (labels.display(clean, str(value), lang) if labels else str(value))
                    for lang in ("vi", "en")
                }
                found.append(
                    {
                        "path": path,
                        "value": str(value),
                        "question_vi": question["vi"],
                        "question_en": question["en"],
                        "value_vi": shown["vi"],
                        "value_en": shown["en"],
                    }
                )
    elif isinstance(data, list):
        for position, item in enumerate(data, start=1):
            found += _answers(item, labels, f"{prefix}[{position}]")
    return found


def _strip_index(path: str) -> str:
    out, depth = [], 0
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def gather(session: Session, case_code: str) -> dict[str, Any]:
    """Everything held about the persons of a case, as plain JSON-ready data."""
    submissions = submission_store.all_naming(session, case_code)
    case = case_store.by_code(session, case_code)
    tomb = consent_store.tombstone(session.connection(), case_code)
    if not submissions and case is None and tomb is None:
        raise SubjectError(f"no case {case_code!r} is held")
    cache: dict[int, FormLabels | None] = {}
    held = []
    targets = [f"submission:{s.id}" for s in submissions]
    parts = submission_store.parts_of(session, [s.id for s in submissions])
    for submission in submissions:
        form = session.get(Form, submission.form_id)
        labels = _labels(session, cache, submission.form_version_id)
        held.append(
            {
                "form": form.xml_form_id if form else None,
                "form_title": form.title if form else None,
                "instance_id": submission.instance_id,
                "received_at": submission.received_at.isoformat(),
                "review_state": submission.review_state,
                "decrypt_state": submission.decrypt_state,
                "current": submission.superseded_by_id is None,
                "answers": _answers(submission.data or {}, labels),
                "files_received": [
                    {"name": p.name, "size": p.size}
                    for p in parts
                    if p.submission_id == submission.id
                ],
            }
        )
    persons = []
    if case is not None:
        targets.append(f"case:{case.id}")
        persons = [
            {
                "person_index": p.person_index,
                "person_type": p.person_type,
                "sex": p.sex,
                "age_years": p.age_years,
            }
            for p in case_store.persons(session, case.id)
        ]
    entries = audit.about(session, targets, search_hits.searches_of_case(case.id) if case else None)
    ledger = consent.history(session, case_code)
    return {
        "case_code": case_code,
        "generated_at": utcnow().isoformat(),
        "case": None
        if case is None
        else {
            "status": case.status,
            "province_code": case.province_code,
            "commune_code": case.commune_code,
            "reception_date": _plain(case.reception_date),
            "closed_on": _plain(case.closed_on),
            "next_followup_due": _plain(case.next_followup_due),
        },
        "persons": persons,
        "consent_now": [
            {
                "person_index": person.person_index,
                "purposes": {
                    key: {"state": s.state, "flag": s.flag} for key, s in person.standings.items()
                },
            }
            for person in consent.case_consent(session, case_code)
        ],
        "consent_history": [
            {
                "person_index": e.person_index,
                "purpose": e.purpose,
                "recipient_type": e.recipient_type,
                "decision": e.decision,
                "given_by": e.given_by,
                "decided_on": _plain(e.decided_on),
                "flag": e.flag,
                "source": e.source,
                "form": e.xml_form_id,
                "recorded_by": e.actor,
                "reason": e.reason,
            }
            for e in ledger
        ],
        "submissions": held,
        "seen_by": [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "reason": (e.detail or {}).get("reason"),
            }
            for e in entries
        ],
        "erased": None
        if tomb is None
        else {
            "erased_at": tomb.erased_at.isoformat(),
            "by": tomb.actor,
            "kind": tomb.kind,
            "reason": tomb.reason,
        },
    }


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def render_html(held: dict[str, Any]) -> str:
    """The export as one readable page, Vietnamese first with English alongside."""
    out = [
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>",
        f"<title>Dữ liệu được lưu giữ / Data held: {_e(held['case_code'])}</title></head><body>",
        f"<h1>Dữ liệu được lưu giữ về trường hợp / Data held about case "
        f"{_e(held['case_code'])}</h1>",
        f"<p>Lập lúc / Made at {_e(held['generated_at'])}</p>",
    ]
    if held["erased"]:
        erased = held["erased"]
        out.append(
            f"<p><strong>Đã xóa dữ liệu định danh / Identifying data erased</strong>: "
            f"{_e(erased['erased_at'])}, {_e(erased['by'])}, {_e(erased['reason'])}</p>"
        )
    if held["case"]:
        out.append("<h2>Trường hợp / Case</h2><table border='1'>")
        for key, value in held["case"].items():
            out.append(f"<tr><th>{_e(key)}</th><td>{_e(value)}</td></tr>")
        out.append("</table>")
    out.append("<h2>Đồng ý hiện nay / Consent now</h2><table border='1'>")
    out.append(
        "<tr><th>Người / Person</th><th>Mục đích / Purpose</th><th>Tình trạng / State</th></tr>"
    )
    for person in held["consent_now"]:
        for purpose, standing in person["purposes"].items():
            out.append(
                f"<tr><td>{_e(person['person_index'])}</td><td>{_e(purpose)}</td>"
                f"<td>{_e(standing['state'])} {_e(standing['flag'] or '')}</td></tr>"
            )
    out.append("</table><h2>Lịch sử đồng ý / Consent history</h2><table border='1'>")
    out.append(
        "<tr><th>Ngày / Date</th><th>Người / Person</th><th>Mục đích / Purpose</th>"
        "<th>Quyết định / Decision</th><th>Người quyết định / Decided by</th>"
        "<th>Nguồn / Source</th></tr>"
    )
    for event in held["consent_history"]:
        purpose = event["purpose"] + (
            f": {event['recipient_type']}" if event["recipient_type"] else ""
        )
        out.append(
            f"<tr><td>{_e(event['decided_on'])}</td><td>{_e(event['person_index'])}</td>"
            f"<td>{_e(purpose)}</td><td>{_e(event['decision'])}</td>"
            f"<td>{_e(event['given_by'])}</td>"
            f"<td>{_e(event['form'] or event['recorded_by'])}</td></tr>"
        )
    out.append("</table><h2>Các biểu mẫu / Submissions</h2>")
    for submission in held["submissions"]:
        out.append(
            f"<h3>{_e(submission['form_title'] or submission['form'])} — "
            f"{_e(submission['received_at'])} ({_e(submission['review_state'])})</h3>"
            "<table border='1'><tr><th>Câu hỏi</th><th>Question</th><th>Trả lời</th>"
            "<th>Answer</th></tr>"
        )
        for answer in submission["answers"]:
            out.append(
                f"<tr><td>{_e(answer['question_vi'])}</td><td>{_e(answer['question_en'])}</td>"
                f"<td>{_e(answer['value_vi'])}</td><td>{_e(answer['value_en'])}</td></tr>"
            )
        out.append("</table>")
    out.append("<h2>Ai đã xem hồ sơ / Who saw the file</h2><table border='1'>")
    out.append(
        "<tr><th>Lúc / At</th><th>Người dùng / User</th><th>Việc / Action</th>"
        "<th>Lý do / Reason</th></tr>"
    )
    for entry in held["seen_by"]:
        out.append(
            f"<tr><td>{_e(entry['at'])}</td><td>{_e(entry['actor'])}</td>"
            f"<td>{_e(entry['action'])}</td><td>{_e(entry['reason'])}</td></tr>"
        )
    out.append("</table></body></html>")
    return "\n".join(out)


def export_subject(
    store: Store, case_code: str, reason: str, out_dir: Path, actor: str = "cli"
) -> SubjectExport:
    """Write `subject.json` and `subject.html` for a case into `out_dir`; audited."""
    reason = _reason(reason)
    with store.session() as session:
        held = gather(session, case_code)
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        json_path, html_path = out_dir / "subject.json", out_dir / "subject.html"
        json_path.write_text(json.dumps(held, ensure_ascii=False, indent=2), encoding="utf-8")
        html_path.write_text(render_html(held), encoding="utf-8")
        audit.append(
            session,
            actor,
            "subject.export",
            f"case_code:{case_code}",
            {
                "reason": reason,
                "submissions": len(held["submissions"]),
                "consent_events": len(held["consent_history"]),
            },
        )
    return SubjectExport(
        json_path,
        html_path,
        len(held["submissions"]),
        len(held["consent_history"]),
        len(held["seen_by"]),
    )


def _erasable(version: FormVersion | None) -> frozenset[str]:
    fields = version.fields if version else None
    free_text = {
        str(f.get("name"))
        for f in fields or ()
        if str(f.get("type")) in FREE_TEXT_TYPES and str(f.get("name")) not in KEPT_TEXT
    }
    return identifying_fields(fields) | free_text | FREE_TEXT_FIELDS


def _strip(data: Any, names: frozenset[str]) -> tuple[Any, int]:
    """The data without the answers named, and how many were removed."""
    if isinstance(data, dict):
        kept, removed = {}, 0
        for key, value in data.items():
            if key in names and not isinstance(value, dict | list):
                removed += value not in (None, "")
                continue
            kept[key], inner = _strip(value, names)
            removed += inner
        return kept, removed
    if isinstance(data, list):
        items, removed = [], 0
        for item in data:
            stripped, inner = _strip(item, names)
            items.append(stripped)
            removed += inner
        return items, removed
    return data, 0


def _destroy(config: Config, digests: list[str]) -> int:
    blobs = FileBlobStore(config.blob_dir)
    return sum(blobs.destroy(digest) for digest in digests)


def erase(
    config: Config,
    store: Store,
    case_code: str,
    reason: str,
    *,
    kind: str = REQUEST,
    actor: str = "cli",
    dry_run: bool = False,
) -> Erasure:
    """Erase a case's identifying data (see the module docstring); audited, tombstoned.

    An erased case is not erased again: its tombstone is reported (and any blob it names that
    is still on disk, left by a crash after the commit, is destroyed now).
    """
    reason = _reason(reason)
    result = Erasure(case_code)
    with store.session() as session:
        tomb = consent_store.tombstone(session.connection(), case_code)
        if tomb is not None:
            result.already = True
            result.blobs = list((tomb.detail or {}).get("blobs", []))
            if not dry_run:
                result.blobs_destroyed = _destroy(config, result.blobs)
            return result
        submissions: list[Submission] = list(submission_store.all_naming(session, case_code))
        if not submissions and case_store.by_code(session, case_code) is None:
            raise SubjectError(f"no case {case_code!r} is held")
        ids = [s.id for s in submissions]
        parts = submission_store.parts_of(session, ids)
        result.submissions = len(submissions)
        result.parts_removed = len(parts)
        for submission in submissions:
            names = _erasable(session.get(FormVersion, submission.form_version_id))
            stripped, removed = _strip(submission.data or {}, names)
            result.fields_removed += removed
            if not dry_run:
                submission.data = stripped
                submission.decrypt_reason = "erased"
        if dry_run:
            return result
        digests = sorted({p.blob_sha256 for p in parts})
        submission_store.delete_parts(session, ids)
        review_store.clear_comments(session, ids)
        consent_store.clear_texts(session.connection(), case_code)
        session.flush()
        result.blobs = sorted(set(digests) - submission_store.blobs_still_named(session, digests))
        consent_store.add_tombstone(
            session.connection(),
            {
                "case_code": case_code,
                "erased_at": utcnow(),
                "actor": actor,
                "kind": kind,
                "reason": reason,
                "detail": {
                    "submissions": result.submissions,
                    "fields_removed": result.fields_removed,
                    "parts_removed": result.parts_removed,
                    "blobs": result.blobs,
                },
            },
        )
        case_service.rebuild(session, case_code)
        case_assignments.case_erased(session, case_code, actor)  # off every phone's list
        audit.append(
            session,
            actor,
            "subject.erase",
            f"case_code:{case_code}",
            {
                "kind": kind,
                "reason": reason,
                "submissions": result.submissions,
                "fields_removed": result.fields_removed,
                "parts_removed": result.parts_removed,
            },
        )
    # After the commit: a crash before this leaves blobs no row names, which a backup does
    # not copy and a second erase of the case destroys.
    result.blobs_destroyed = _destroy(config, result.blobs)
    return result


def due_for_retention(store: Store, years: int, today: date | None = None) -> list[str]:
    """Case codes closed more than `years` ago and not yet erased."""
    today = today or utcnow().date()
    try:
        before = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        before = today.replace(year=today.year - years, day=28)
    with store.reader() as session:
        codes = submission_store.closed_before(session, before)
        erased = {t.case_code for t in consent_store.tombstones(session.connection())}
    return [code for code in codes if code not in erased]


def run_retention(
    config: Config, store: Store, *, dry_run: bool = False, today: date | None = None
) -> list[Erasure]:
    """Erase (or, in a dry run, list) every case past the retention period."""
    done = []
    years = config.retention_years
    for code in due_for_retention(store, years, today):
        reason = f"Retention: closed more than {years} years ago (FIELDCASE_RETENTION_YEARS)"
        done.append(
            erase(config, store, code, reason, kind=RETENTION, actor="retention", dry_run=dry_run)
        )
    return done
