"""The manifest of an encrypted submission (the `xml_submission_file` part).

Parsed by local name only: Collect, Enketo, Aggregate and Briefcase use different namespaces,
prefixes, element orders and extra attributes. DTDs, entities and external references are
refused before any element is built.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from crypto.errors import ManifestError
from crypto.names import is_plain_name

MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    """What an encrypted submission says about itself."""

    form_id: str  # NFC-normalised, for comparing with published forms
    version: str | None
    encrypted_key: str
    instance_id: str
    media: tuple[str, ...]
    xml_file: str
    signature: str | None
    raw_form_id: str = ""  # exactly as written: the signature covers this text

    @property
    def files(self) -> tuple[str, ...]:
        """Every encrypted file in IV order: media as listed, then the XML."""
        return (*self.media, self.xml_file)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def check_file_name(name: str) -> str:
    """A manifest file name must be a plain `NAME.enc` (crypto/names.py says what plain is)."""
    if not is_plain_name(name) or not name.endswith(".enc") or len(name) <= len(".enc"):
        raise ManifestError(f"file name {name!r} is not a plain NAME.enc")
    return name


def is_encrypted_manifest(root: Element) -> bool:
    """True when a submission's root says it is an encrypted manifest."""
    return root.get("encrypted", "").strip().lower() == "yes"


def _text(element: Element) -> str:
    return (element.text or "").strip()


def parse_manifest(data: bytes, max_bytes: int = MAX_MANIFEST_BYTES) -> Manifest:
    """Parse and check a manifest; ManifestError says precisely what is wrong or missing."""
    if len(data) > max_bytes:
        raise ManifestError(f"manifest larger than {max_bytes} bytes")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ManifestError("manifest uses a DTD, entities or external references") from exc
    except SafeET.ParseError as exc:
        line, column = exc.position
        raise ManifestError(
            f"manifest is not well-formed XML (line {line}, column {column})"
        ) from exc
    return manifest_from_root(root)


def manifest_from_root(root: Element) -> Manifest:
    """`parse_manifest` for XML already parsed (safely) by the caller."""
    if not is_encrypted_manifest(root):
        raise ManifestError('manifest root has no encrypted="yes"')
    form_id = root.get("id", "").strip()
    if not form_id:
        raise ManifestError("manifest root has no id attribute")

    encrypted_key = xml_file = signature = instance_id = None
    media: list[str] = []
    for element in root.iter():
        name = _local(element.tag)
        if name == "base64EncryptedKey":
            encrypted_key = _text(element)
        elif name == "instanceID" and element is not root:
            instance_id = _text(element) or instance_id
        elif name == "file":
            media.append(check_file_name(_text(element)))
        elif name == "encryptedXmlFile":
            xml_file = check_file_name(_text(element))
        elif name == "base64EncryptedElementSignature":
            signature = _text(element) or None
    instance_id = instance_id or root.get("instanceID", "").strip() or None
    if not encrypted_key:
        raise ManifestError("manifest has no base64EncryptedKey")
    if not instance_id:
        raise ManifestError("manifest has no meta/instanceID")
    if not xml_file:
        raise ManifestError("manifest has no encryptedXmlFile")
    if xml_file in media or len(set(media)) != len(media):
        raise ManifestError("manifest lists the same file twice")
    return Manifest(
        form_id=unicodedata.normalize("NFC", form_id),
        version=root.get("version") or None,
        encrypted_key=encrypted_key,
        instance_id=instance_id,
        media=tuple(media),
        xml_file=xml_file,
        signature=signature,
        raw_form_id=form_id,
    )
