"""Plainly fake submissions for training sessions and evaluation (`fieldcase demo seed`).

Each fake case is one filled-in instance of every published form, made from the form itself:
each question gets a value of its type (the first choices of a select, a date of the last
year, a number), every name-like text says it is fake (`GIẢ LẬP / DEMO ...`), and the fields
that tie a case together (case code, office province and commune) are those of the demo
collector's unit. The CLI sends them through the OpenRosa edge, encrypted as the phone would,
so they are stored, decrypted and projected like real ones.

A deployment holding any submission not sent by the demo collector is refused: fake cases
must never mix with real ones.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from xml.etree.ElementTree import Element, SubElement, tostring

from sqlalchemy.orm import Session

from forms import case_code
from forms.identifying import P3_FIELDS
from forms.instance import local_name, parse_xml
from forms.labels import parse_form_labels
from server.store import forms as form_store
from server.store import keys as key_store
from server.store import submissions as submission_store

DEMO_COLLECTOR = "demo-seed"
DEMO_PROVINCE = "01"
DEMO_COMMUNE = "00004"
FAKE = "GIẢ LẬP / DEMO"


@dataclass(frozen=True)
class DemoForm:
    """A published form version the seed fills in."""

    form_id: str
    version: str
    xml: str
    public_key_b64: str | None  # None: a plain form


def real_submissions(session: Session) -> int:
    """How many stored submissions were sent by anyone but the demo collector."""
    return submission_store.count_not_from_collector(session, DEMO_COLLECTOR)


def demo_forms(session: Session) -> list[DemoForm]:
    """The current version of every published form, with the public key it encrypts to."""
    found = []
    for form in form_store.all_forms(session):
        version = form_store.current_version(session, form.id)
        if version is None:
            continue
        key = key_store.by_id(session, version.key_id) if version.key_id else None
        found.append(
            DemoForm(
                form.xml_form_id, version.version, version.xml, key.public_key_b64 if key else None
            )
        )
    return found


def _template(xform: str) -> Element:
    """The main instance's root element of an XForm."""
    root = parse_xml(xform.encode("utf-8"))
    for element in root.iter():
        if local_name(element.tag) == "instance" and element.get("id") is None:
            for child in element:
                return child
    raise ValueError("the XForm has no main instance")


def fake_instance(form: DemoForm, code: str, serial: int, rng: random.Random) -> tuple[bytes, str]:
    """(instance XML, instanceID) of one fake filled-in `form` for the case `code`."""
    labels = parse_form_labels(form.xml)
    template = _template(form.xml)
    instance_id = f"uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    today = date.today()

    def fill(source: Element, target: Element, path: str) -> None:
        for child in source:
            name = local_name(child.tag)
            if child.get("{http://openrosa.org/javarosa}template") is not None:
                continue  # the repeat's template: its first copy is filled instead
            copy = SubElement(target, name)
            child_path = f"{path}/{name}" if path else name
            if len(child):
                fill(child, copy, child_path)
            else:
                copy.text = value(child_path, name)

    def value(path: str, name: str) -> str:
        if name == "instanceID":
            return instance_id
        if name == "case_code":
            return code
        if name in ("office_province", "res_province", "province"):
            return DEMO_PROVINCE
        if name in ("office_commune", "commune"):
            return DEMO_COMMUNE
        if name in P3_FIELDS:
            return f"{FAKE} {serial:04d}"
        question = labels.questions.get(path)
        kind = labels.bind_types.get(path, "string").split(":")[-1]
        if question is not None and question.choices:
            values = [choice[0] for choice in question.choices]
            if question.kind == "select":
                return values[0]
            return rng.choice(values)
        if kind == "date":
            return (today - timedelta(days=rng.randrange(1, 365))).isoformat()
        if kind in ("dateTime", "time"):
            moment = today - timedelta(days=rng.randrange(1, 365))
            return f"{moment.isoformat()}T09:00:00.000+07:00" if kind == "dateTime" else "09:00"
        if kind == "int":
            return "1" if name.startswith(("n_", "minor")) else str(rng.randrange(18, 60))
        if kind == "decimal":
            return "1.0"
        if kind in ("geopoint", "geotrace", "geoshape", "binary", "barcode"):
            return ""
        if question is None:  # calculated or metadata: left as the form computes it
            return ""
        return FAKE

    root = Element(local_name(template.tag), dict(template.attrib))
    root.set("id", form.form_id)
    root.set("version", form.version)
    fill(template, root, "")
    return tostring(root, encoding="utf-8"), instance_id


def case_codes(count: int, rng: random.Random) -> list[str]:
    """`count` distinct case codes of the demo province for this year."""
    year = date.today().year
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(case_code.make(DEMO_PROVINCE, year, f"{rng.randrange(10**5):05d}"))
    return sorted(codes)
