"""Queries on forms, their versions and attachments, and their assignment to collectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import Session

from server.store.models import CollectorForm, Form, FormAttachment, FormVersion, table_of

_F = table_of(Form)
_V = table_of(FormVersion)
_A = table_of(CollectorForm)
_PK_BY_XML_ID = select(_F.c.id).where(_F.c.xml_form_id == bindparam("b_xml_id"))
_VERSION_KEY = select(_V.c.id, _V.c.key_id).where(
    _V.c.form_id == bindparam("b_form"), _V.c.version == bindparam("b_version")
)
_FEED_VERSIONS = (
    select(_F.c.id, _F.c.title, _V.c.id.label("version_id"), _V.c.version)
    .join(_V, _V.c.form_id == _F.c.id)
    .where(_F.c.xml_form_id == bindparam("b_xml_id"))
    .order_by(_V.c.id)
)
_VERSION_SOURCE = select(_V.c.xml, _V.c.fields).where(_V.c.id == bindparam("b_version"))
_ASSIGNED = select(_A.c.form_id).where(
    _A.c.collector_id == bindparam("b_collector"), _A.c.form_id == bindparam("b_form")
)


def pk_by_xml_form_id(connection: Connection, xml_form_id: str) -> int | None:
    """The primary key of the form with this XForm id (ingest hot path)."""
    found: int | None = connection.scalar(_PK_BY_XML_ID, {"b_xml_id": xml_form_id})
    return found


def version_key(connection: Connection, form_id: int, version: str) -> Row[Any] | None:
    """(id, key_id) of a given version of a form (ingest hot path)."""
    return connection.execute(_VERSION_KEY, {"b_form": form_id, "b_version": version}).first()


def feed_versions(connection: Connection, xml_form_id: str) -> Sequence[Row[Any]]:
    """(id, title, version_id, version) of every version of a form, oldest first, with the
    form's columns on each; none when the form has no version. Columns only: no version's
    XML is read (the OData feed's hot path, `exports/odata.py` `load_feed`)."""
    return connection.execute(_FEED_VERSIONS, {"b_xml_id": xml_form_id}).all()


def version_source(connection: Connection, version_id: int) -> Row[Any] | None:
    """(xml, fields) of one form version."""
    return connection.execute(_VERSION_SOURCE, {"b_version": version_id}).first()


def assigned(connection: Connection, collector_id: int, form_id: int) -> bool:
    """True when the form is assigned to the collector (ingest hot path)."""
    found = connection.scalar(_ASSIGNED, {"b_collector": collector_id, "b_form": form_id})
    return found is not None


def by_xml_form_id(session: Session, xml_form_id: str) -> Form | None:
    """The form with this XForm id (already NFC-normalised by the caller)."""
    return session.scalar(select(Form).where(Form.xml_form_id == xml_form_id))


def all_forms(session: Session) -> Sequence[Form]:
    """Every form, by id."""
    return session.scalars(select(Form).order_by(Form.xml_form_id)).all()


def add_form(session: Session, xml_form_id: str, title: str, encrypted: bool) -> Form:
    """Insert a form."""
    form = Form(xml_form_id=xml_form_id, title=title, encrypted=encrypted)
    session.add(form)
    session.flush()
    return form


def current_version(session: Session, form_id: int) -> FormVersion | None:
    """The newest published version of a form: the one phones get."""
    return session.scalar(
        select(FormVersion)
        .where(FormVersion.form_id == form_id)
        .order_by(FormVersion.id.desc())
        .limit(1)
    )


def version(session: Session, form_id: int, version: str) -> FormVersion | None:
    """A given version of a form."""
    return session.scalar(
        select(FormVersion).where(FormVersion.form_id == form_id, FormVersion.version == version)
    )


def versions(session: Session, form_id: int) -> Sequence[FormVersion]:
    """Every version of a form, oldest first."""
    return session.scalars(
        select(FormVersion).where(FormVersion.form_id == form_id).order_by(FormVersion.id)
    ).all()


def add_version(session: Session, version: FormVersion) -> FormVersion:
    """Insert a version."""
    session.add(version)
    session.flush()
    return version


def attachments(session: Session, form_version_id: int) -> Sequence[FormAttachment]:
    """The media files of a version, by name."""
    return session.scalars(
        select(FormAttachment)
        .where(FormAttachment.form_version_id == form_version_id)
        .order_by(FormAttachment.name)
    ).all()


def attachment(session: Session, form_version_id: int, name: str) -> FormAttachment | None:
    """One media file of a version."""
    return session.scalar(
        select(FormAttachment).where(
            FormAttachment.form_version_id == form_version_id, FormAttachment.name == name
        )
    )


def assigned_forms(session: Session, collector_id: int) -> Sequence[Form]:
    """The forms a collector may list, download and submit."""
    return session.scalars(
        select(Form)
        .join(CollectorForm, CollectorForm.form_id == Form.id)
        .where(CollectorForm.collector_id == collector_id)
        .order_by(Form.xml_form_id)
    ).all()


def is_assigned(session: Session, collector_id: int, form_id: int) -> bool:
    """True when the form is assigned to the collector."""
    return (
        session.get(CollectorForm, {"collector_id": collector_id, "form_id": form_id}) is not None
    )


def assign(session: Session, collector_id: int, form_id: int) -> None:
    """Assign a form to a collector (no-op when already assigned)."""
    if not is_assigned(session, collector_id, form_id):
        session.add(CollectorForm(collector_id=collector_id, form_id=form_id))
        session.flush()
