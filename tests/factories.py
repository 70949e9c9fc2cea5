"""Things tests make: a published XForm, a collector, a submission sent as ODK Collect sends it.

Kept small and explicit so each test says what it builds.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from forms.admin_units import shipped as shipped_units
from server.app_context import SERVICES_KEY, Services
from server.services import collectors as collector_service
from server.services.forms import publish_xform
from server.store import keys as key_store
from server.store.db import Store


def services_of(app: Flask) -> Services:
    """The app's services."""
    found: Services = app.extensions[SERVICES_KEY]
    return found


def simple_xform(
    form_id: str = "vt_test",
    version: str = "1",
    public_key: str | None = None,
    title: str = "Biểu mẫu thử",
) -> str:
    """A small XForm with a group, a repeat and the meta block Collect needs."""
    submission = (
        f'<submission method="post" base64RsaPublicKey="{public_key}"/>' if public_key else ""
    )
    return f"""<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
 xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">
 <h:head><h:title>{title}</h:title>
  <model>
   <instance><data id="{form_id}" version="{version}">
     <case_code/><reception_date/><sex/><full_name/>
     <minors jr:template=""><minor_sex/><minor_age_years/></minors>
     <meta><instanceID/></meta>
   </data></instance>
   <bind nodeset="/data/meta/instanceID" type="string" readonly="true()"
    jr:preload="uid"/>
   {submission}
  </model>
 </h:head>
 <h:body>
  <input ref="/data/case_code"><label>Mã hồ sơ</label></input>
  <group ref="/data/minors"><label>Trẻ đi cùng</label>
   <repeat nodeset="/data/minors"><input ref="/data/minors/minor_sex"/></repeat>
  </group>
 </h:body>
</h:html>"""


def plain_instance(
    form_id: str = "vt_test",
    version: str = "1",
    instance_id: str | None = None,
    case_code: str = "01-2025-aaaaaa",
    full_name: str = "Nguyễn Thị Lan",
    deprecated_id: str | None = None,
    minors: int = 0,
    office_province: str | None = "01",
) -> bytes:
    """A filled-in instance of `simple_xform` (of a phone of province 01 unless told)."""
    instance_id = instance_id or f"uuid:{uuid.uuid4()}"
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    minor_xml = "".join(
        f"<minors><minor_sex>female</minor_sex><minor_age_years>{5 + n}</minor_age_years></minors>"
        for n in range(minors)
    )
    return (
        f'<data xmlns:orx="http://openrosa.org/xforms" id="{form_id}" version="{version}">'
        f"<case_code>{case_code}</case_code>"
        + (f"<office_province>{office_province}</office_province>" if office_province else "")
        + "<reception_date>2025-03-02</reception_date>"
        f"<sex>female</sex><full_name>{full_name}</full_name>{minor_xml}"
        f"<meta><instanceID>{instance_id}</instanceID>{deprecated}</meta></data>"
    ).encode()


@dataclass
class Deployment:
    """An app with a published form and one collector."""

    app: Flask
    client: FlaskClient
    token: str
    url_prefix: str
    collector_id: int
    public_key_b64: str | None


def publish(app: Flask, xml: str, attachments: dict[str, bytes] | None = None) -> None:
    """Publish an XForm into the app's store."""
    services = services_of(app)
    with services.store.session() as session:
        publish_xform(session, services.blobs, xml, attachments or {}, "test")


def make_collector(session: Session, name: str, unit: str | None) -> tuple[str, int]:
    """A collector of `unit` assigned every published form, in the caller's session; returns
    (token, id). Made as the admin pages make one, except for a unit creation refuses today
    (none; a commune or province the admin units list does not hold): the suite's second
    province, 02, is one of the 63 from before the 2025 list (Hà Giang), so its phones are made
    as ones made before that check were (`add_unchecked_collector`); the unit rule treats a
    province code alike either way."""
    if unit is not None and shipped_units().knows(unit):
        created = collector_service.create(session, "http://localhost", name, unit, "test")
        return created.token, created.collector.id
    from server.store import collectors as collector_store
    from server.store import forms as form_store

    token = f"unchecked-{uuid.uuid4().hex}"
    digest = collector_service.token_digest(token)
    collector = collector_store.add(session, name, digest, unit, None)
    for form in form_store.all_forms(session):
        form_store.assign(session, collector.id, form.id)
    return token, collector.id


def add_collector(app: Flask, name: str = "phone-1", unit: str | None = "01") -> tuple[str, int]:
    """`make_collector` in a session of its own."""
    with services_of(app).store.session() as session:
        return make_collector(session, name, unit)


def add_unchecked_collector(app: Flask, name: str, unit: str | None) -> tuple[str, int]:
    """A collector whose unit the creation check would refuse today (none, or a unit the admin
    units list does not hold): one made before the check, or whose commune left the list
    later. Written through the store, assigned every published form; returns (token, id)."""
    if unit is not None and shipped_units().knows(unit):
        raise ValueError(f"{unit} is in the list: use add_collector")
    return add_collector(app, name, unit)


def post_submission(
    client: FlaskClient,
    prefix: str,
    xml: bytes,
    files: dict[str, bytes] | None = None,
    headers: dict[str, str] | None = None,
):
    """POST as ODK Collect does: multipart, xml_submission_file first, then each file."""
    data: dict[str, object] = {
        "xml_submission_file": (io.BytesIO(xml), "submission.xml", "text/xml")
    }
    for name, content in (files or {}).items():
        data[name] = (io.BytesIO(content), name, "application/octet-stream")
    return client.post(
        f"{prefix}/submission",
        data=data,
        content_type="multipart/form-data",
        headers={"X-OpenRosa-Version": "1.0", **(headers or {})},
    )


def server_public_key(app: Flask) -> str:
    """The active server key's base64 public key (made by `fieldcase init`)."""
    services = services_of(app)
    with services.store.session() as session:
        key = key_store.active(session)
        assert key is not None
        return key.public_key_b64


def store_decrypted(
    store: Store,
    form_id: str,
    data: dict[str, Any],
    instance_id: str,
    review_state: str = "received",
    unit: str | None = "01",
) -> int:
    """A decrypted submission of `form_id` with `data`, as a collector of `unit` sends it,
    judged and projected into its case as ingest would.

    For tests of what comes after ingest (cases, exports): no XML, no blobs.
    """
    from forms.admin_units import shipped
    from forms.case_fields import describe
    from server.services import cases as case_service
    from server.services import units
    from server.store import forms as form_store
    from server.store.models import FormVersion, Submission

    described = describe(form_id, data)
    province, commune = units.columns_of(units.acting_unit(unit, shipped()))
    with store.session() as session:
        form = form_store.by_xml_form_id(session, form_id) or form_store.add_form(
            session, form_id, form_id, True
        )
        version = form_store.add_version(
            session, FormVersion(form_id=form.id, version=instance_id, xml="<x/>", md5="0" * 32)
        )
        submission = Submission(
            form_id=form.id,
            form_version_id=version.id,
            instance_id=instance_id,
            manifest_sha256="0" * 64,
            encrypted=True,
            decrypt_state="decrypted",
            review_state=review_state,
            data=data,
            case_code=described["case_code"],
            event_date=described["event_date"],
            unit_code=unit,
            province_code=province,
            commune_code=commune,
        )
        session.add(submission)
        session.flush()
        if described["case_code"]:
            case_service.rebuild(session, described["case_code"])
        else:
            case_service.judge_outside_cases(session.connection(), [submission.id])
        return submission.id
