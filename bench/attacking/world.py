"""The served deployment as the attacks see it: signed-in browsers of every role, the three
phones, and the cases unit A's phones sent first (the victim whose identity the attacks try
to reach)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from bench.attacking.clients import Ledger, Phone, SubmissionSeen, Web, case_code
from bench.attacking.deployment import (
    COMMUNE_A,
    COMMUNE_A2,
    PHONE_A,
    PHONE_B,
    PHONE_BASIC,
    SUPERVISOR_A,
    SUPERVISOR_B,
    UNIT_A,
    Deployment,
)


@dataclass(frozen=True)
class Person:
    """Someone's identity as a phone types it."""

    full_name: str
    phone: str
    id_doc_number: str
    address: str

    @property
    def values(self) -> tuple[str, ...]:
        """What must never reach another unit, a log line or a page without a reveal."""
        return (self.full_name, self.phone, self.id_doc_number, self.address)


VICTIM = Person("Hoàng Thị Mận", "0987 654 321", "001190077777", "Số 7 ngõ 9 phố Hàng Gai")
SECOND_VICTIM = Person("Lường Văn Khánh", "0912 888 111", "001190055555", "Bản Nà Hang")
IMPOSTOR = Person("Kẻ Mạo Danh", "0999 000 999", "009999999999", "Không rõ")


def serial() -> str:
    """The random part of a case code, as the intake form draws it."""
    return f"{secrets.randbelow(90_000) + 10_000:05d}"


def intake(code: str, province: str, commune: str, person: Person) -> dict[str, str]:
    """vt01_intake's answers for one person received by an office."""
    return {
        "office_province": province,
        "office_commune": commune,
        "receiving_unit": "border_guard",
        "reception_date": "2025-03-02",
        "reception_channel": "handover_foreign",
        "case_code": code,
        "consent_intake": "yes",
        "consent_by": "self",  # an adult consents for herself (forms/consent.py age rule)
        "sex": "female",
        "age_years": "24",
        "age_band_vn": "18_29",
        "purpose": "forced_marriage",
        "destination_country": "cn",
        "full_name": person.full_name,
        "phone": person.phone,
        "id_doc_type": "cccd",
        "id_doc_number": person.id_doc_number,
        "res_address_detail": person.address,
    }


def followup(code: str, status: str) -> dict[str, str]:
    """vt05_followup's answers: a visit that leaves the case in `status`."""
    return {
        "case_code": code,
        "person_type": "victim",
        "visit_date": "2025-04-02",
        "visit_mode": "home_visit",
        "contact_made": "yes",
        "case_status": status,
    }


def support(code: str, kind: str = "loan_vbsp") -> dict[str, str]:
    """vt04_support's answers: one support given."""
    return {
        "case_code": code,
        "person_type": "victim",
        "status_at_support": "victim",
        "support_date": "2025-04-03",
        "support_type": kind,
        "provider": "attacker",
    }


def outreach(province: str, commune: str) -> dict[str, str]:
    """vt06_outreach's answers (a plain form: no identifying field)."""
    return {
        "session_date": "2025-03-02",
        "province": province,
        "commune": commune,
        "activity_type": "awareness_session",
        "n_male": "3",
        "n_female": "4",
        "n_total": "7",
    }


@dataclass
class World:
    """What every attack starts from."""

    deployment: Deployment
    admin: Web
    supervisor_a: Web
    supervisor_b: Web
    viewer: Web
    phone_a: Phone
    phone_b: Phone
    phone_basic: Phone
    ledger: Ledger
    victim_code: str = ""
    victim_submission: SubmissionSeen | None = None
    victim_case_id: int = 0
    second_code: str = ""  # a unit A case in commune 00008
    second_case_id: int = 0
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return self.deployment.url


def english(web: Web) -> Web:
    """Pages in English for this browser (the attacks read English texts)."""
    web.post("/lang", {"lang": "en", "next": "/"}, "/login")
    return web


def sign_in_everyone(deployment: Deployment) -> World:
    """Browsers of every role signed in, and the three phones."""
    passwords = deployment.passwords

    def browser(name: str) -> Web:
        return english(Web(deployment.url)).signed_in(name, passwords[name])

    admin = browser("admin")
    return World(
        deployment=deployment,
        admin=admin,
        supervisor_a=browser(SUPERVISOR_A),
        supervisor_b=browser(SUPERVISOR_B),
        viewer=browser("viewer"),
        phone_a=Phone(deployment.phone_urls[PHONE_A]),
        phone_b=Phone(deployment.phone_urls[PHONE_B]),
        phone_basic=Phone(deployment.url, auth=(PHONE_BASIC, deployment.basic_password)),
        ledger=Ledger(admin),
    )


def seed(world: World) -> None:
    """Unit A's phone receives two victims (communes 00004 and 00008): the cases to attack."""
    world.victim_code = case_code(UNIT_A, serial())
    world.second_code = case_code(UNIT_A, serial())
    sent = []
    for code, commune, person in (
        (world.victim_code, COMMUNE_A, VICTIM),
        (world.second_code, COMMUNE_A2, SECOND_VICTIM),
    ):
        status, instance_id = world.phone_a.send(
            "vt01_intake", intake(code, UNIT_A, commune, person)
        )
        if status != 201:
            raise AssertionError(f"{PHONE_A}'s own intake answered {status}")
        sent.append(instance_id)
    victim = world.ledger.find("vt01_intake", sent[0])
    second = world.ledger.find("vt01_intake", sent[1])
    for seen in (victim, second):
        if seen.unit_check != "accepted" or seen.case_id is None:
            raise AssertionError(f"unit A's own intake was not accepted: {seen.unit_check}")
    world.victim_submission = victim
    world.victim_case_id = victim.case_id or 0
    world.second_case_id = second.case_id or 0
    assert world.phone_b.form("vt01_intake").public_key, "the real intake form is encrypted"
