"""A deployment for the web view tests: forms with Vietnamese/English labels, users of two
units, collectors, and cases received through the real ingest path.

Unit A is province 01 (communes 00004 and 00008, both in the forms' admin units list), unit B
province 02; each unit's cases come from that unit's phone (phone-a, phone-02), as the unit rule
requires. Every identifying value used here is listed in IDENTIFYING_VALUES so tests can check
none leaks into logs or URLs.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import date

from server.app_context import Services
from server.config import Config
from server.security.passwords import hash_password
from server.services import collectors as collector_service
from server.services.forms import publish_xform
from server.services.ingest import IncomingPart
from server.services.setup import initialise
from server.store import cases as case_store
from server.store import users as user_store
from server.store.db import Store
from tests.factories import make_collector

ADMIN_PASSWORD = "head-office-password-for-tests"  # tests/conftest.py TEST_ADMIN_PASSWORD
PASSWORDS = {
    "admin": ADMIN_PASSWORD,
    "sup_a": "password-of-sup-a",
    "sup_b": "password-of-sup-b",
    "viewer": "password-of-viewer",
    "extra": "password-of-extra",
}
UNITS = {"sup_a": ["01"], "sup_b": ["02"], "viewer": ["01"], "extra": ["01"]}
ROLES = {"sup_a": "supervisor", "sup_b": "supervisor", "viewer": "viewer", "extra": "viewer"}

CHANNELS = {
    "handover_foreign": ("Handed over by a foreign authority", "Phía nước ngoài trao trả"),
    "self_return": ("Returned by themselves", "Tự trở về"),
    "rescued": ("Rescued", "Được giải cứu"),
}


def _itext(entries: dict[str, tuple[str, str]]) -> str:
    en = "".join(f'<text id="{k}"><value>{v[0]}</value></text>' for k, v in entries.items())
    vi = "".join(f'<text id="{k}"><value>{v[1]}</value></text>' for k, v in entries.items())
    return (
        f'<itext><translation lang="English (en)">{en}</translation>'
        f'<translation default="true()" lang="Tiếng Việt (vi)">{vi}</translation></itext>'
    )


def intake_xform(version: str = "2025010101") -> str:
    """vt01_intake as pyxform writes it: itext labels, a choices instance, a repeat, a photo."""
    texts = {
        "/data/case_code:label": ("Case code", "Mã hồ sơ"),
        "/data/office_province:label": ("Province of receiving office", "Tỉnh nơi tiếp nhận"),
        "/data/office_commune:label": ("Commune of receiving office", "Xã nơi tiếp nhận"),
        "/data/reception_date:label": ("Date of reception", "Ngày tiếp nhận"),
        "/data/reception_channel:label": ("Reception channel", "Hình thức tiếp nhận"),
        "/data/sex:label": ("Sex", "Giới tính"),
        "/data/sex/female:label": ("Female", "Nữ"),
        "/data/sex/male:label": ("Male", "Nam"),
        "/data/age_years:label": ("Age in completed years", "Tuổi"),
        "/data/purpose:label": ("Purpose(s) of trafficking", "Mục đích mua bán người"),
        "/data/purpose/sexual_exploitation:label": ("Sexual exploitation", "Bóc lột tình dục"),
        "/data/purpose/forced_labour:label": ("Forced labour", "Cưỡng bức lao động"),
        "/data/destination_country:label": ("Country where exploited", "Nước bị bóc lột"),
        "/data/pii:label": ("Identity", "Nhân thân"),
        "/data/pii/full_name:label": ("Full name", "Họ và tên"),
        "/data/pii/phone:label": ("Phone number", "Số điện thoại"),
        "/data/pii/id_doc_number:label": ("ID document number", "Số giấy tờ tùy thân"),
        "/data/pii/res_address_detail:label": ("Address", "Địa chỉ"),
        "/data/minors:label": ("Accompanying persons under 18", "Người dưới 18 tuổi đi cùng"),
        "/data/minors/minor_sex:label": ("Sex", "Giới tính"),
        "/data/minors/minor_age_years:label": ("Age", "Tuổi"),
        "/data/minors/minor_name:label": ("Name", "Họ tên"),
        "/data/photo_doc:label": ("Photo of the referral letter", "Ảnh giấy giới thiệu"),
    }
    texts.update({f"static_instance-channel-{i}": v for i, v in enumerate(CHANNELS.values())})
    channel_items = "".join(
        f"<item><itextId>static_instance-channel-{i}</itextId><name>{code}</name></item>"
        for i, code in enumerate(CHANNELS)
    )
    return f"""<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
 xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">
 <h:head><h:title>Tiếp nhận ban đầu</h:title>
  <model>
   {_itext(texts)}
   <instance><data id="vt01_intake" version="{version}">
     <case_code/><office_province/><office_commune/><reception_date/><reception_channel/>
     <sex/><age_years/><purpose/><destination_country/>
     <pii><full_name/><phone/><id_doc_number/><res_address_detail/></pii>
     <minors jr:template=""><minor_sex/><minor_age_years/><minor_name/></minors>
     <photo_doc/>
     <meta><instanceID/></meta>
   </data></instance>
   <instance id="channel"><root>{channel_items}</root></instance>
   <bind nodeset="/data/case_code" type="string"/>
   <bind nodeset="/data/reception_date" type="date"/>
   <bind nodeset="/data/reception_channel" type="string"/>
   <bind nodeset="/data/sex" type="string"/>
   <bind nodeset="/data/age_years" type="int"/>
   <bind nodeset="/data/purpose" type="string"/>
   <bind nodeset="/data/pii/full_name" type="string"/>
   <bind nodeset="/data/pii/phone" type="string"/>
   <bind nodeset="/data/photo_doc" type="binary"/>
   <bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
  </model>
 </h:head>
 <h:body>
  <input ref="/data/case_code"><label ref="jr:itext('/data/case_code:label')"/></input>
  <input ref="/data/office_province"><label ref="jr:itext('/data/office_province:label')"/></input>
  <input ref="/data/office_commune"><label ref="jr:itext('/data/office_commune:label')"/></input>
  <input ref="/data/reception_date"><label ref="jr:itext('/data/reception_date:label')"/></input>
  <select1 ref="/data/reception_channel">
   <label ref="jr:itext('/data/reception_channel:label')"/>
   <itemset nodeset="instance('channel')/root/item">
    <value ref="name"/><label ref="jr:itext(itextId)"/>
   </itemset>
  </select1>
  <select1 ref="/data/sex"><label ref="jr:itext('/data/sex:label')"/>
   <item><label ref="jr:itext('/data/sex/female:label')"/><value>female</value></item>
   <item><label ref="jr:itext('/data/sex/male:label')"/><value>male</value></item>
  </select1>
  <input ref="/data/age_years"><label ref="jr:itext('/data/age_years:label')"/></input>
  <select ref="/data/purpose"><label ref="jr:itext('/data/purpose:label')"/>
   <item><label ref="jr:itext('/data/purpose/sexual_exploitation:label')"/>
    <value>sexual_exploitation</value></item>
   <item><label ref="jr:itext('/data/purpose/forced_labour:label')"/>
    <value>forced_labour</value></item>
  </select>
  <input ref="/data/destination_country">
   <label ref="jr:itext('/data/destination_country:label')"/></input>
  <group ref="/data/pii"><label ref="jr:itext('/data/pii:label')"/>
   <input ref="/data/pii/full_name"><label ref="jr:itext('/data/pii/full_name:label')"/></input>
   <input ref="/data/pii/phone"><label ref="jr:itext('/data/pii/phone:label')"/></input>
   <input ref="/data/pii/id_doc_number">
    <label ref="jr:itext('/data/pii/id_doc_number:label')"/></input>
   <input ref="/data/pii/res_address_detail">
    <label ref="jr:itext('/data/pii/res_address_detail:label')"/></input>
  </group>
  <group ref="/data/minors"><label ref="jr:itext('/data/minors:label')"/>
   <repeat nodeset="/data/minors">
    <select1 ref="/data/minors/minor_sex"><label ref="jr:itext('/data/minors/minor_sex:label')"/>
     <item><label ref="jr:itext('/data/sex/female:label')"/><value>female</value></item>
     <item><label ref="jr:itext('/data/sex/male:label')"/><value>male</value></item>
    </select1>
    <input ref="/data/minors/minor_age_years">
     <label ref="jr:itext('/data/minors/minor_age_years:label')"/></input>
    <input ref="/data/minors/minor_name"><label ref="jr:itext('/data/minors/minor_name:label')"/>
    </input>
   </repeat>
  </group>
  <upload ref="/data/photo_doc" mediatype="image/*">
   <label ref="jr:itext('/data/photo_doc:label')"/></upload>
 </h:body>
</h:html>"""


def outreach_xform() -> str:
    """vt06_outreach without identifiers: a session and its participants."""
    return """<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
 xmlns:jr="http://openrosa.org/javarosa">
 <h:head><h:title>Truyền thông</h:title>
  <model>
   <instance><data id="vt06_outreach" version="1">
     <province/><session_date/><n_male/><n_female/><meta><instanceID/></meta>
   </data></instance>
   <bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
  </model>
 </h:head>
 <h:body>
  <input ref="/data/province"><label>Tỉnh</label></input>
  <input ref="/data/session_date"><label>Ngày thực hiện</label></input>
 </h:body>
</h:html>"""


def followup_xform() -> str:
    """vt05_followup reduced to what the case status needs."""
    return """<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
 xmlns:jr="http://openrosa.org/javarosa">
 <h:head><h:title>Theo dõi</h:title>
  <model>
   <instance><data id="vt05_followup" version="1">
     <case_code/><visit_date/><case_status/><meta><instanceID/></meta>
   </data></instance>
   <bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
  </model>
 </h:head>
 <h:body>
  <input ref="/data/case_code"><label>Mã hồ sơ</label></input>
  <input ref="/data/visit_date"><label>Ngày thăm</label></input>
  <input ref="/data/case_status"><label>Tình trạng hồ sơ</label></input>
 </h:body>
</h:html>"""


def followup_instance(case_code: str, visit: date, case_status: str) -> bytes:
    """A filled-in vt05_followup."""
    return (
        f'<data id="vt05_followup" version="1"><case_code>{case_code}</case_code>'
        f"<visit_date>{visit.isoformat()}</visit_date><case_status>{case_status}</case_status>"
        f"<meta><instanceID>uuid:{uuid.uuid4()}</instanceID></meta></data>"
    ).encode()


@dataclass
class Person:
    """One case received in the seed data."""

    case_code: str
    province: str
    commune: str
    full_name: str
    phone: str
    sex: str = "female"
    age: int = 24
    channel: str = "handover_foreign"
    purpose: str = "sexual_exploitation forced_labour"
    destination: str = "CN"
    minors: list[tuple[str, int, str]] = field(default_factory=list)  # (sex, age, name)
    id_number: str = ""
    address: str = ""


PEOPLE = [
    Person(
        "01-2025-aaaaaa",
        "01",
        "00004",
        "Nguyễn Thị Lan",
        "0912 345 678",
        minors=[("male", 4, "Nguyễn Văn Tí")],
        id_number="001190012345",
        address="Số 12 ngõ 34 phố Hàng Bạc",
    ),
    Person(
        "01-2025-cccccc",
        "01",
        "00008",
        "Trần Văn Bình",
        "0987 000 111",
        sex="male",
        age=31,
        channel="rescued",
        purpose="forced_labour",
        destination="KH",
    ),
    Person(
        "02-2025-bbbbbb",
        "02",
        "00100",
        "Nguyễn Thị Hoa",
        "0900 222 333",
        age=17,
        channel="self_return",
    ),
]
IDENTIFYING_VALUES = [
    value
    for p in PEOPLE
    for value in (p.full_name, p.phone, p.id_number, p.address, *(m[2] for m in p.minors))
    if value
]
PHOTO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def intake_instance(
    person: Person,
    reception: date,
    version: str = "2025010101",
    instance_id: str | None = None,
    deprecated_id: str | None = None,
) -> bytes:
    """A filled-in vt01_intake (an edit when `deprecated_id` is given)."""
    instance_id = instance_id or f"uuid:{uuid.uuid4()}"
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    minors = "".join(
        f"<minors><minor_sex>{sex}</minor_sex><minor_age_years>{age}</minor_age_years>"
        f"<minor_name>{name}</minor_name></minors>"
        for sex, age, name in person.minors
    )
    return (
        f'<data id="vt01_intake" version="{version}">'
        f"<case_code>{person.case_code}</case_code><office_province>{person.province}"
        f"</office_province><office_commune>{person.commune}</office_commune>"
        f"<reception_date>{reception.isoformat()}</reception_date>"
        f"<reception_channel>{person.channel}</reception_channel><sex>{person.sex}</sex>"
        f"<age_years>{person.age}</age_years><purpose>{person.purpose}</purpose>"
        f"<destination_country>{person.destination}</destination_country>"
        f"<pii><full_name>{person.full_name}</full_name><phone>{person.phone}</phone>"
        + (f"<id_doc_number>{person.id_number}</id_doc_number>" if person.id_number else "")
        + (f"<res_address_detail>{person.address}</res_address_detail>" if person.address else "")
        + "</pii>"
        f"{minors}<photo_doc>photo.png</photo_doc>"
        f"<meta><instanceID>{instance_id}</instanceID>{deprecated}</meta></data>"
    ).encode()


def outreach_instance(province: str, day: date, male: int, female: int) -> bytes:
    """A filled-in vt06_outreach."""
    return (
        f'<data id="vt06_outreach" version="1"><province>{province}</province>'
        f"<session_date>{day.isoformat()}</session_date><n_male>{male}</n_male>"
        f"<n_female>{female}</n_female><meta><instanceID>uuid:{uuid.uuid4()}</instanceID>"
        "</meta></data>"
    ).encode()


@dataclass
class Seeded:
    """Ids the tests refer to."""

    user_ids: dict[str, int]
    collector_token: str
    collector_id: int
    collector_name: str
    case_ids: dict[str, int]  # by case_code
    submission_ids: dict[str, int]  # intake submission by case_code
    outreach_id: int
    phone_tokens: dict[str, str] = field(default_factory=dict)  # by unit: "01", "02"
    phone_ids: dict[str, int] = field(default_factory=dict)


def seed(config: Config, store: Store, services: Services, reception: date) -> Seeded:
    """Initialise the store and fill it; returns the ids tests use."""
    initialise(config, store)
    with store.session() as session:
        publish_xform(
            session,
            services.blobs,
            intake_xform(),
            {"admin_units.csv": b"code,name\n01,Ha Noi\n"},
            "test",
        )
        publish_xform(session, services.blobs, outreach_xform(), {}, "test")
        token, collector_id = make_collector(session, "phone-a", "01")
        other_token, other_id = make_collector(session, "phone-02", "02")
        phone_tokens = {"01": token, "02": other_token}
        phone_ids = {"01": collector_id, "02": other_id}
        user_ids = {"admin": user_store.by_username(session, "admin").id}  # type: ignore[union-attr]
        for name, role in ROLES.items():
            user = user_store.add(session, name, hash_password(PASSWORDS[name]), role)
            user_store.set_units(session, user.id, UNITS[name])
            user_ids[name] = user.id
    with store.session() as session:
        phones = {u: collector_service.authenticate(session, t) for u, t in phone_tokens.items()}
    collector = phones["01"]
    assert collector is not None
    submission_ids = {}
    for person in PEOPLE:
        result = services.receive_submission(
            phones[person.province],  # type: ignore[arg-type]
            intake_instance(person, reception),
            [IncomingPart("photo.png", io.BytesIO(PHOTO), "image/png")],
        )
        submission_ids[person.case_code] = result.submission_id
    outreach = services.receive_submission(
        collector, outreach_instance("01", reception, 12, 30), []
    )
    with store.session() as session:
        case_ids = {
            p.case_code: case_store.by_code(session, p.case_code).id  # type: ignore[union-attr]
            for p in PEOPLE
        }
    return Seeded(
        user_ids,
        token,
        collector_id,
        "phone-a",
        case_ids,
        submission_ids,
        outreach.submission_id,
        phone_tokens,
        phone_ids,
    )
