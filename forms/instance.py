"""Reading submission XML safely: the header ingest needs, and the instance as nested data.

All XML from outside goes through defusedxml with DTDs forbidden, so entity expansion and
external references are refused before any element is built. Refusals raise `XmlRefused`;
the server turns it into its 400.2 Problem (server/errors.py `malformed_xml`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

MAX_XML_BYTES = 10 * 1024 * 1024


class XmlRefused(ValueError):
    """Submission or form XML that cannot be read or is hostile; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def local_name(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1] if "}" in tag else tag


def nfc(text: str) -> str:
    """Unicode NFC: older Collect sent form ids decomposed."""
    return unicodedata.normalize("NFC", text)


def parse_xml(data: bytes) -> Element:
    """Parse untrusted XML, refusing DTDs, entities, external references and huge documents."""
    if len(data) > MAX_XML_BYTES:
        raise XmlRefused(f"larger than {MAX_XML_BYTES // (1024 * 1024)} MB")
    try:
        root: Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException:
        raise XmlRefused("DTDs, entities and external references are not allowed") from None
    except SafeET.ParseError as exc:
        line, column = exc.position
        raise XmlRefused(f"not well-formed XML (line {line}, column {column})") from None
    return root


@dataclass(frozen=True)
class PlainHeader:
    """What ingest reads from an unencrypted submission's root."""

    form_id: str
    version: str | None
    instance_id: str
    deprecated_id: str | None


def _meta_value(root: Element, name: str) -> str | None:
    for child in root:
        if local_name(child.tag) == "meta":
            for item in child:
                if local_name(item.tag) == name and item.text and item.text.strip():
                    return item.text.strip()
    return None


def plain_header(root: Element) -> PlainHeader:
    """Form id, version, instanceID and deprecatedID of a plain submission."""
    form_id = root.get("id")
    if not form_id:
        raise XmlRefused("the root element has no id attribute")
    instance_id = _meta_value(root, "instanceID")
    if not instance_id:
        raise XmlRefused("meta/instanceID is missing")
    return PlainHeader(
        form_id=nfc(form_id),
        version=root.get("version") or None,
        instance_id=instance_id,
        deprecated_id=_meta_value(root, "deprecatedID"),
    )


def instance_data(root: Element, repeat_paths: Iterable[str]) -> dict[str, Any]:
    """The instance as nested dicts; repeat groups are lists (even with one entry).

    `repeat_paths` are slash paths below the root, e.g. "minors" or "grp/support_item".
    Leaves are strings ("" for empty); attributes other than the root's are ignored.
    """
    repeats = set(repeat_paths)

    def convert(element: Element, path: str) -> dict[str, Any] | str:
        children = list(element)
        if not children:
            return (element.text or "").strip()
        node: dict[str, Any] = {}
        for child in children:
            name = local_name(child.tag)
            child_path = f"{path}/{name}" if path else name
            value = convert(child, child_path)
            if child_path in repeats:
                node.setdefault(name, []).append(value)
            elif name in node:
                # An undeclared repetition: keep every value rather than lose one.
                existing = node[name]
                node[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
            else:
                node[name] = value
        return node

    data = convert(root, "")
    return data if isinstance(data, dict) else {}


def repeat_paths_of_xform(xform_xml: str) -> list[str]:
    """The repeat groups of an XForm, as slash paths below the instance root."""
    root = parse_xml(xform_xml.encode("utf-8"))
    paths = []
    for element in root.iter():
        if local_name(element.tag) == "repeat":
            nodeset = element.get("nodeset", "")
            parts = [p for p in nodeset.split("/") if p]
            if len(parts) >= 2:
                paths.append("/".join(parts[1:]))
    return paths


def get_path(data: dict[str, Any], name: str) -> Any:
    """The first value of a field named `name` anywhere outside repeats (groups searched)."""
    if name in data:
        return data[name]
    for value in data.values():
        if isinstance(value, dict):
            found = get_path(value, name)
            if found is not None:
                return found
    return None


def parse_date(value: Any) -> date | None:
    """An ODK date (YYYY-MM-DD, maybe with a time) or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def bind_types_of_xform(xform_xml: str) -> dict[str, str]:
    """Each bound field's XForms type (`int`, `decimal`, `date`, `dateTime`, `string`, ...),
    by slash path below the instance root; a type with a prefix (`xsd:int`) loses it."""
    root = parse_xml(xform_xml.encode("utf-8"))
    types: dict[str, str] = {}
    for element in root.iter():
        if local_name(element.tag) != "bind":
            continue
        parts = [p for p in element.get("nodeset", "").split("/") if p]
        kind = element.get("type")
        if len(parts) >= 2 and kind:
            types["/".join(parts[1:])] = kind.rsplit(":", 1)[-1]
    return types
