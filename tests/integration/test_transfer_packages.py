"""Transfers between servers: a signed, encrypted package between two data directories.

The sending deployment is the suite's (phones of provinces 01 and 02); the receiving one is a
second data directory on its own database, made with the same forms. Everything goes through
the `fieldcase` commands, as two provinces would run them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from crypto import keys as crypto_keys
from crypto import package as crypto_package
from crypto.decrypt import Decryptor
from forms import consent as rules
from server.app import create_app
from server.auditseal import seal_for
from server.cli import main
from server.config import Config, sqlite_url
from server.errors import Problem
from server.services import case_view, transfers
from server.services import consent as consent_service
from server.services.setup import initialise
from server.store import audit
from server.store import cases as case_store
from server.store import consent as consent_store
from server.store.db import Store
from server.store.models import CaseTransfer, PersonKey, Submission
from tests.conftest import env_for, postgres_schema
from tests.factories import publish, server_public_key, simple_xform
from tests.integration import test_unit_rule
from tests.integration.test_transfers import SUP_01, SUP_02
from tests.integration.test_unit_rule import CODE, Phones

phones = test_unit_rule.phones
REASON = "Người được tiếp nhận cư trú tại tỉnh 02"


@dataclass
class Receiver:
    """The second server: its store and its command runner."""

    store: Store
    runner: CliRunner
    config: Config


@pytest.fixture
def receiver(config: Config, tmp_path: Path) -> Iterator[Receiver]:
    with ExitStack() as stack:
        data_dir = tmp_path / "province-02"
        data_dir.mkdir(mode=0o700)
        if config.database_url.startswith("sqlite"):
            url = sqlite_url(data_dir)
        else:
            url = stack.enter_context(postgres_schema("r"))
        other = config.with_changes(data_dir=data_dir, database_url=url)
        store = Store(url)
        store.attach_audit(seal_for(other))
        initialise(other, store)
        app = create_app(other, store)
        key = server_public_key(app)
        for form_id in ("vt01_intake", "vt05_followup"):
            publish(app, simple_xform(form_id=form_id, public_key=key))
        yield Receiver(store, CliRunner(env=env_for(other)), other)
        store.dispose()


def _run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _fail(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code != 0, result.output
    return result.output


def _count(store: Store) -> int:
    with store.session() as session:
        return session.query(CaseTransfer).count()


def _export(runner: CliRunner, key_file: Path, out: Path, *extra: str) -> str:
    return _run(
        runner,
        "transfer",
        "export",
        CODE,
        "--to",
        str(key_file),
        "--out",
        str(out),
        "--to-unit",
        "02",
        "--reason",
        REASON,
        *extra,
    )


def test_round_trip_between_two_servers(
    phones: Phones, runner: CliRunner, receiver: Receiver, store: Store, tmp_path: Path
) -> None:
    phones.intake("p01")
    phones.followup("p01", "follow_up")
    their_key = tmp_path / "province-02.pem"
    their_key.write_text(_run(receiver.runner, "keys", "public"))
    assert their_key.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    our_fingerprint = crypto_keys.fingerprint(
        crypto_keys.load_public_key(_run(runner, "keys", "public").encode())
    )
    package = tmp_path / "case.fieldcase"
    said = _export(runner, their_key, package)
    assert "2 submissions" in said
    assert "statistical core only" in said
    sealed = package.read_bytes()
    # nothing identifying, not even the case code, crosses in clear
    for clear in (b"L\xc3\xb2 Th\xe1\xbb\x8b Mai", CODE.encode(), b"vt01_intake"):
        assert clear not in sealed
    assert package.stat().st_mode & 0o077 == 0
    with store.session() as session:
        exported = audit.recent(session, 1, "transfer.export")[0]
    assert (exported.detail["from"], exported.detail["to"]) == ("01", "02")
    assert _fail(
        runner,
        *["transfer", "export", CODE, "--to", str(their_key)],
        "--out",
        str(package),
        "--to-unit",
        "02",
        "--reason",
        REASON,
    ).count("never overwritten")
    # the receiving server verifies, shows the sender, and waits for its supervisor
    shown = _run(receiver.runner, "transfer", "import", str(package))
    assert f"key {our_fingerprint}" in shown
    assert "signature: valid" in shown
    assert "pending" in shown
    with receiver.store.session() as session:
        assert case_store.by_code(session, CODE) is None  # not before it is accepted
        pending = transfers.transfers_page(session, SUP_02).incoming
    assert [(t.case_code, t.state, t.origin) for t in pending] == [(CODE, "pending", "package")]
    assert pending[0].sender_fingerprint == our_fingerprint
    assert "already" in _fail(receiver.runner, "transfer", "import", str(package))
    with receiver.store.session() as session:
        transfers.accept(session, SUP_02, pending[0].id, b"m" * 32)
    with receiver.store.session() as session:
        case = case_store.by_code(session, CODE)
        assert case is not None
        assert (case.province_code, case.status) == ("02", "follow_up")
        page = case_view.case_page(session, SUP_02, case.id, "vi", revealed=True)
        assert [e.kind for e in page.timeline] == ["intake", "followup"]
        assert page.identifying == []
        datas = json.dumps([s.data for s in session.query(Submission).all()], ensure_ascii=False)
        assert "Lò Thị Mai" not in datas  # the identity was removed before sealing
        assert session.query(CaseTransfer).one().payload is None
        # identity removed: no name and date of birth, so no match key to make
        assert session.query(PersonKey).count() == 0
        assert (
            audit.recent(session, 1, "transfer.import")[0].detail["sender"]
            == (our_fingerprint[:16])
        )


def test_a_tampered_package_is_refused(
    phones: Phones, runner: CliRunner, receiver: Receiver, tmp_path: Path
) -> None:
    phones.intake("p01")
    their_key = tmp_path / "province-02.pem"
    their_key.write_text(_run(receiver.runner, "keys", "public"))
    package = tmp_path / "case.fieldcase"
    _export(runner, their_key, package)
    members = json.loads(package.read_text())
    for name in ("ciphertext", "wrapped_key", "nonce", "sender_key", "recipient"):
        changed = dict(members)
        value = changed[name]
        changed[name] = value[:-6] + ("A" if value[-6] != "A" else "B") + value[-5:]
        tampered = tmp_path / f"tampered-{name}.fieldcase"
        tampered.write_text(json.dumps(changed))
        said = _fail(receiver.runner, "transfer", "import", str(tampered))
        assert "refused" in said or "not for this server" in said, (name, said)
    # signed by someone else's key while naming ours as the sender: refused
    impostor = Decryptor(crypto_keys.generate_private_key())
    unsigned = {k: v for k, v in members.items() if k != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    forged = dict(members, signature=base64.b64encode(impostor.sign(canonical)).decode())
    (tmp_path / "forged.fieldcase").write_text(json.dumps(forged))
    assert "signature does not verify" in _fail(
        receiver.runner, "transfer", "import", str(tmp_path / "forged.fieldcase")
    )
    (tmp_path / "garbage.fieldcase").write_bytes(b"\x00PK not a package")
    assert "refused" in _fail(
        receiver.runner, "transfer", "import", str(tmp_path / "garbage.fieldcase")
    )
    assert _count(receiver.store) == 0


def test_a_package_for_another_servers_key_cannot_be_read(
    phones: Phones, runner: CliRunner, receiver: Receiver, tmp_path: Path
) -> None:
    phones.intake("p01")
    third = crypto_keys.generate_private_key()
    third_pem = tmp_path / "province-03.pem"
    third_pem.write_bytes(
        third.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    package = tmp_path / "case.fieldcase"
    _export(runner, third_pem, package)
    said = _fail(receiver.runner, "transfer", "import", str(package))
    assert "not for this server" in said
    assert _count(receiver.store) == 0
    # the server it was made for opens it (the refusal is about the key, not the package)
    opened = crypto_package.open_package(package.read_bytes(), Decryptor(third))
    assert json.loads(opened.payload)["case_code"] == CODE
    # and a package naming this server's fingerprint but wrapped for another key is unreadable
    members = json.loads(package.read_text())
    with pytest.raises(crypto_package.CryptoError):
        crypto_package.open_package(
            json.dumps(members).encode(), Decryptor(crypto_keys.generate_private_key())
        )


def test_bad_exports_write_nothing(
    phones: Phones, runner: CliRunner, receiver: Receiver, store: Store, tmp_path: Path
) -> None:
    phones.intake("p01")
    their_key = tmp_path / "province-02.pem"
    their_key.write_text(_run(receiver.runner, "keys", "public"))
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    out = tmp_path / "case.fieldcase"
    base = ["transfer", "export", CODE, "--out", str(out), "--reason", REASON]
    for extra, reason in (
        (["--to", str(not_a_key), "--to-unit", "02"], "not an RSA public key"),
        (["--to", str(their_key), "--to-unit", "2"], "province"),
        (["--to", str(their_key), "--to-unit", "02", "--identity"], "consented"),
    ):
        said = _fail(runner, *base, *extra)
        assert reason in said, said
    said = _fail(
        runner,
        "transfer",
        "export",
        "01-2025-99999-00",
        "--to",
        str(their_key),
        "--out",
        str(out),
        "--to-unit",
        "02",
        "--reason",
        REASON,
    )
    assert "error:" in said
    assert not out.exists()
    with store.session() as session:
        assert audit.recent(session, 5, "transfer.export") == []


def test_with_consent_identity_travels_to_the_other_server(
    phones: Phones, runner: CliRunner, receiver: Receiver, tmp_path: Path
) -> None:
    """Consent given on the intake form travels with the case, so the receiving server asks
    the same question and finds the same answer."""
    body = (
        f"<reception><office_province>01</office_province>"
        f"<reception_date>2025-03-02</reception_date><case_code>{CODE}</case_code></reception>"
        "<core><sex>female</sex><age_years>19</age_years></core>"
        "<consent><consent_by>self</consent_by><consent_intake>yes</consent_intake>"
        "<consent_referral_to>province_health</consent_referral_to></consent>"
        "<pii><full_name>Lò Thị Mai</full_name><dob>2006-01-02</dob></pii>"
    )
    phones.send("p01", "vt01_intake", body)
    their_key = tmp_path / "province-02.pem"
    their_key.write_text(_run(receiver.runner, "keys", "public"))
    package = tmp_path / "case.fieldcase"
    assert "with identity" in _export(runner, their_key, package, "--identity")
    assert "Lò Thị Mai".encode() not in package.read_bytes()
    assert "with identity" in _run(receiver.runner, "transfer", "import", str(package))
    with receiver.store.session() as session:
        transfer_id = transfers.transfers_page(session, SUP_02).incoming[0].id
        transfers.accept(session, SUP_02, transfer_id, b"m" * 32)
    with receiver.store.session() as session:
        case = case_store.by_code(session, CODE)
        assert case is not None
        page = case_view.case_page(session, SUP_02, case.id, "vi", revealed=True)
        assert "Lò Thị Mai" in [item.value for item in page.identifying]
        assert session.query(PersonKey).count() == 1  # name and date of birth


def test_a_paper_withdrawal_travels_and_binds_the_receiving_server(
    phones: Phones, runner: CliRunner, receiver: Receiver, store: Store, tmp_path: Path
) -> None:
    """The intake form said yes to follow-up contact and to data use; the person later
    withdrew follow-up contact on paper, which a supervisor recorded on the web. The receiving
    server must not contact them: the withdrawal travels in the package, as web-recorded,
    naming who recorded it; its free-text reason stays home when the identity does."""
    body = (
        f"<reception><office_province>01</office_province>"
        f"<reception_date>2025-03-02</reception_date><case_code>{CODE}</case_code></reception>"
        "<core><sex>female</sex><age_years>19</age_years></core>"
        "<consent><consent_by>self</consent_by><consent_intake>yes</consent_intake>"
        "<consent_followup_contact>yes</consent_followup_contact>"
        "<consent_data_use>yes</consent_data_use></consent>"
    )
    phones.send("p01", "vt01_intake", body)
    with store.session() as session:
        consent_service.record_change(
            session,
            SUP_01,
            CODE,
            purpose=rules.FOLLOWUP_CONTACT,
            decision=rules.NO,
            given_by=rules.SELF,
            reason="Chị Lan gọi điện rút lại đồng ý",
        )
    with store.read() as connection:
        assert (CODE, 0) in consent_store.persons_refusing(connection, rules.FOLLOWUP_CONTACT)
    their_key = tmp_path / "province-02.pem"
    their_key.write_text(_run(receiver.runner, "keys", "public"))
    package = tmp_path / "case.fieldcase"
    _export(runner, their_key, package)
    _run(receiver.runner, "transfer", "import", str(package))
    with receiver.store.session() as session:
        transfer_id = transfers.transfers_page(session, SUP_02).incoming[0].id
        transfers.accept(session, SUP_02, transfer_id, b"m" * 32)
    with receiver.store.read() as connection:
        assert (CODE, 0) in consent_store.persons_refusing(connection, rules.FOLLOWUP_CONTACT)
        assert (CODE, 0) not in consent_store.persons_allowing(connection, rules.FOLLOWUP_CONTACT)
        assert (CODE, 0) in consent_store.persons_allowing(connection, rules.DATA_USE)
        web = [e for e in consent_store.events_of_case(connection, CODE) if e.source == "web"]
    assert [(e.purpose, e.decision, e.given_by) for e in web] == [
        (rules.FOLLOWUP_CONTACT, rules.NO, rules.SELF)
    ]
    assert web[0].actor.startswith("sup01 @ ")
    assert "Chị Lan" not in (web[0].reason or "")  # no identity sent: no free text either


GOOD = {
    "person_index": 0,
    "purpose": "followup_contact",
    "recipient_type": None,
    "decision": "no",
    "given_by": "self",
    "age_years": 19,
    "decided_on": "2025-04-01",
    "recorded_at": "2025-04-01T08:00:00+00:00",
    "details": None,
    "actor": "sup01",
    "reason": None,
}


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": "everything"},
        {"decision": "maybe"},
        {"given_by": "neighbour"},
        {"person_index": -1},
        {"person_index": "0"},
        {"person_index": True},
        {"age_years": 400},
        {"decided_on": "yesterday"},
        {"decided_on": "2999-01-01"},  # would outrank a later withdrawal here
        {"recorded_at": None},
        {"recipient_type": "swc"},  # only a referral names one
        {"details": {"safe_contact_method": "shout", "safe_contact_times": "morning"}},
        {"details": "call at night"},
    ],
)
def test_a_packages_consent_decisions_are_checked_as_a_supervisors_are(
    change: dict[str, object],
) -> None:
    assert consent_service.checked_travelling([GOOD])[0]["decision"] == "no"
    with pytest.raises(Problem):
        consent_service.checked_travelling([GOOD, {**GOOD, **change}])


def test_a_packages_age_rule_flag_is_worked_out_again() -> None:
    """A sender cannot make a child's lone yes count: the flag comes from the fields."""
    child = {**GOOD, "decision": "yes", "age_years": 15, "flag": None}
    checked = consent_service.checked_travelling([child])
    assert "flag" not in checked[0]
    assert consent_service.checked_travelling(None) == []  # an older sender's package
    with pytest.raises(Problem):
        consent_service.checked_travelling([GOOD] * 1001)
