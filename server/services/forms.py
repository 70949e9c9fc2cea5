"""Publishing form versions: what `fieldcase forms publish` and the admin upload call.

A version is immutable once published: publishing the same form id and version again with the
same XForm changes nothing; with different content it is refused (the compiler derives the
version from the content, so this only happens with hand-made XForms).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from forms.compiler import CompiledForm
from forms.instance import XmlRefused, local_name, nfc, parse_xml
from server import errors
from server.blobs import BlobStore
from server.store import audit
from server.store import forms as form_store
from server.store import keys as key_store
from server.store.models import Form, FormAttachment, FormVersion


@dataclass(frozen=True)
class XFormInfo:
    """What the server needs to know of an XForm."""

    form_id: str
    version: str
    title: str
    public_key_b64: str | None


@dataclass
class PublishResult:
    """One form's publication: new version, or already there."""

    form_id: str
    version: str
    created: bool
    warnings: list[str] = field(default_factory=list)


def read_xform(xml: str) -> XFormInfo:
    """Form id, version, title and encryption key of an XForm."""
    try:
        root = parse_xml(xml.encode("utf-8"))
    except XmlRefused as exc:
        raise errors.malformed_xml(exc.reason) from None
    title = ""
    instance_root = None
    public_key = None
    for element in root.iter():
        name = local_name(element.tag)
        if name == "title" and not title:
            title = (element.text or "").strip()
        elif name == "instance" and instance_root is None and element.get("id") is None:
            children = list(element)
            if children:
                instance_root = children[0]
        elif name == "submission" and element.get("base64RsaPublicKey"):
            public_key = element.get("base64RsaPublicKey", "").strip()
    if instance_root is None or not instance_root.get("id"):
        raise errors.validation_failed("The XForm has no primary instance with an id.")
    if re.search(r"[/\\\s\x00-\x1f]", instance_root.get("id", "")):
        raise errors.validation_failed(
            "A form id cannot hold slashes, spaces or control characters: it appears in URLs."
        )
    return XFormInfo(
        form_id=nfc(instance_root.get("id", "")),
        version=instance_root.get("version") or "",
        title=title or instance_root.get("id", ""),
        public_key_b64=public_key,
    )


def _fingerprint_of_b64(public_key_b64: str) -> str:
    der = base64.b64decode(public_key_b64)
    key = serialization.load_der_public_key(der)
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def publish_xform(
    session: Session,
    blobs: BlobStore,
    xml: str,
    attachments: dict[str, bytes],
    actor: str,
    source_sha256: str | None = None,
    fields: list[dict[str, Any]] | None = None,
) -> PublishResult:
    """Store a form version (and its form, the first time); idempotent for the same content."""
    info = read_xform(xml)
    key_id = None
    if info.public_key_b64:
        try:
            fingerprint = _fingerprint_of_b64(info.public_key_b64)
        except ValueError:
            raise errors.validation_failed(
                "The form's base64RsaPublicKey is not an RSA key."
            ) from None
        match = [k for k in key_store.all_keys(session) if k.fingerprint == fingerprint]
        if not match:
            raise errors.validation_failed(
                "The form is encrypted with a key this server does not hold; build it with "
                "the server's key (fieldcase forms publish does)."
            )
        key_id = match[0].id
    md5 = hashlib.md5(xml.encode("utf-8")).hexdigest()  # noqa: S324 - OpenRosa form hash

    form = form_store.by_xml_form_id(session, info.form_id)
    if form is None:
        form = form_store.add_form(session, info.form_id, info.title, key_id is not None)
    existing = form_store.version(session, form.id, info.version)
    if existing is not None:
        if existing.md5 != md5:
            raise errors.already_exists(
                f"Version {info.version!r} of form {info.form_id!r} with other content"
            )
        return PublishResult(info.form_id, info.version, created=False)

    form.title = info.title
    form.encrypted = key_id is not None
    version = form_store.add_version(
        session,
        FormVersion(
            form_id=form.id,
            version=info.version,
            xml=xml,
            md5=md5,
            key_id=key_id,
            source_sha256=source_sha256,
            fields=fields,
        ),
    )
    for name, content in sorted(attachments.items()):
        sha, size = blobs.put_bytes(content)
        session.add(
            FormAttachment(
                form_version_id=version.id,
                name=name,
                blob_sha256=sha,
                md5=hashlib.md5(content).hexdigest(),  # noqa: S324 - OpenRosa manifest hash
                size=size,
                content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
            )
        )
    session.flush()
    audit.append(session, actor, "form.publish", f"form:{info.form_id}", {"version": info.version})
    return PublishResult(info.form_id, info.version, created=True)


def publish_compiled(
    session: Session,
    blobs: BlobStore,
    compiled: CompiledForm,
    actor: str,
    source_sha256: str | None = None,
) -> PublishResult:
    """Publish what the forms compiler made (XForm, attachments, field list)."""
    result = publish_xform(
        session,
        blobs,
        compiled.xml.decode("utf-8"),
        dict(compiled.attachments),
        actor,
        source_sha256=source_sha256,
        fields=[f.as_dict() for f in compiled.fields],
    )
    result.warnings = list(compiled.warnings)
    return result


# Reading the published forms, for the pages and commands.


def all_forms(session: Session) -> Sequence[Form]:
    """Every published form, in the store's order."""
    return form_store.all_forms(session)


def form_by_id(session: Session, xml_form_id: str) -> Form | None:
    """The form with this form id, or None."""
    return form_store.by_xml_form_id(session, xml_form_id)


def current_xform(session: Session, xml_form_id: str) -> str | None:
    """The XForm of a form's current version, or None when there is no such form."""
    form = form_store.by_xml_form_id(session, xml_form_id)
    version = form_store.current_version(session, form.id) if form else None
    return version.xml if version else None


def forms_with_versions(session: Session) -> list[tuple[Form, FormVersion | None, int]]:
    """Each form with its current version and how many versions it has."""
    return [
        (
            form,
            form_store.current_version(session, form.id),
            len(form_store.versions(session, form.id)),
        )
        for form in form_store.all_forms(session)
    ]
