"""Collectors: field workers' phone accounts, their server URLs and ODK Collect QR codes.

A collector authenticates with a long random token carried in its server URL
(`<public url>/c/<token>`), as ODK Central's app users do. Only the token's SHA-256 is stored,
so the database alone does not let anyone impersonate a phone; a lost token means a new
collector (revoke the old one).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import zlib
from dataclasses import dataclass
from typing import Any

import segno
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from server import errors
from server.clock import utcnow
from server.store import audit
from server.store import collectors as collector_store
from server.store import forms as form_store
from server.store.models import Collector

TOKEN_BYTES = 32


def token_digest(token: str) -> str:
    """What is stored for a token (SHA-256 hex): tokens are random, so no salt is needed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def server_url(public_url: str, token: str) -> str:
    """The URL ODK Collect is pointed at; it appends /formList and /submission itself."""
    return f"{public_url.rstrip('/')}/c/{token}"


@dataclass(frozen=True)
class NewCollector:
    """A collector just created; `token` is shown once and never stored."""

    collector: Collector
    token: str
    url: str


def create(
    session: Session,
    public_url: str,
    name: str,
    unit_code: str | None,
    actor: str,
    assign_all_forms: bool = True,
) -> NewCollector:
    """Create a collector with a fresh token, assigned every form unless told otherwise."""
    name = name.strip()
    if not name or len(name) > 200:
        raise errors.validation_failed("A collector needs a name of 1 to 200 characters.")
    if collector_store.by_name(session, name) is not None:
        raise errors.already_exists(f"A collector named {name!r}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    collector = collector_store.add(session, name, token_digest(token), unit_code)
    if assign_all_forms:
        for form in form_store.all_forms(session):
            form_store.assign(session, collector.id, form.id)
    audit.append(
        session,
        actor,
        "collector.add",
        f"collector:{collector.id}",
        {"name": name, "unit": unit_code},
    )
    return NewCollector(collector, token, server_url(public_url, token))


def authenticate(session: Session, token: str) -> Collector | None:
    """The active collector holding this token, or None (unknown or revoked)."""
    if not token or len(token) > 200:
        return None
    collector = collector_store.by_token_sha256(session, token_digest(token))
    if collector is None or collector.revoked_at is not None:
        return None
    return collector


@dataclass(frozen=True)
class CollectorRef:
    """The collector behind a request: enough to check what it may send."""

    id: int
    name: str
    form_ids: frozenset[int]  # the forms assigned to it when the request began


def authenticate_token(connection: Connection, token: str) -> CollectorRef | None:
    """`authenticate` on a Core connection, for every OpenRosa request."""
    if not token or len(token) > 200:
        return None
    row = collector_store.active_by_token_sha256(connection, token_digest(token))
    if row is None:
        return None
    assigned = frozenset(int(form_id) for form_id in (row.form_ids or "").split(",") if form_id)
    return CollectorRef(row.id, row.name, assigned)


def revoke(session: Session, collector_id: int, actor: str) -> None:
    """Stop a collector at once: its token no longer authenticates."""
    collector = collector_store.by_id(session, collector_id)
    if collector is None:
        raise errors.not_found("The collector")
    if collector.revoked_at is None:
        collector.revoked_at = utcnow()
        audit.append(session, actor, "collector.revoke", f"collector:{collector_id}")


def collect_settings(url: str, project_name: str) -> dict[str, Any]:
    """ODK Collect settings for a collector: its server, and safe defaults for sensitive work.

    Sent forms are deleted from the phone, finished forms cannot be reopened, forms on the
    phone follow the server exactly, and the server cannot be changed by the user.
    """
    return {
        "general": {
            "server_url": url,
            "form_update_mode": "match_exactly",
            "autosend": "wifi_and_cellular",
            "delete_send": True,
            "automatic_update": True,
        },
        "admin": {"change_server": False, "edit_saved": False},
        "project": {"name": project_name, "icon": "F", "color": "#0b5cad"},
    }


def collect_qr_payload(settings: dict[str, Any]) -> str:
    """The text a Collect settings QR code carries: base64 of zlib-compressed JSON."""
    raw = json.dumps(settings, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(zlib.compress(raw)).decode("ascii")


def decode_qr_payload(payload: str) -> dict[str, Any]:
    """The settings a Collect QR payload carries (for tests and support)."""
    result: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(payload)))
    return result


def qr_code(payload: str, kind: str = "svg") -> bytes:
    """The QR code image (SVG or PNG) for a settings payload."""
    code = segno.make(payload, micro=False, error="m")
    out = io.BytesIO()
    if kind == "png":
        code.save(out, kind="png", scale=5, border=4)
    else:
        code.save(out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True)
    return out.getvalue()
