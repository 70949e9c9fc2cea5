"""The projected consent standings (consent_standings) on SQLite and PostgreSQL: whatever the
ledger holds, the many-person answers read from the projection equal the ledger replayed, after
form projections, web changes, rebuilds and the migration's backfill."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from forms import consent as rules
from server.store import consent as consent_store
from server.store.db import Store
from server.store.models import ConsentEvent, ConsentStanding, table_of

PURPOSES = consent_store.PROJECTED


def _random_events(seed: int, cases: int) -> list[dict[str, Any]]:
    """Ledgers with every shape the rules know: refusals, withdrawals, flagged yeses (a child
    deciding alone), intake withdrawn under a given purpose, ties on the day, referrals."""
    rng = random.Random(seed)
    events = []
    for n in range(cases):
        code = f"01-2025-{n:05d}-00"
        for person in range(rng.choice([1, 1, 2, 3])):
            for _ in range(rng.randint(0, 6)):
                purpose = rng.choice([*PURPOSES, rules.INTAKE, rules.REFERRAL])
                age = rng.choice([8, 15, 17, 30])
                given_by = rng.choice(["self", "legal_rep", "both"])
                decision = rng.choice([rules.YES, rules.NO])
                events.append(
                    {
                        "case_code": code,
                        "person_index": person,
                        "purpose": purpose,
                        "recipient_type": rng.choice([None, "swc", "legal_aid_centre"])
                        if purpose == rules.REFERRAL
                        else None,
                        "decision": decision,
                        "given_by": given_by,
                        "age_years": age,
                        "decided_on": date(2025, 1, 1) + timedelta(days=rng.randint(0, 5)),
                        "flag": rules.age_rule_flag(decision, given_by, age),
                        "source": rng.choice(["form", "web"]),
                    }
                )
    return events


def _answers(connection: Any, *, from_ledger: bool) -> dict[str, Any]:
    allowing = (
        consent_store.ledger_persons_allowing if from_ledger else consent_store.persons_allowing
    )
    refusing = (
        consent_store.ledger_persons_refusing if from_ledger else consent_store.persons_refusing
    )
    withholding = (
        consent_store.ledger_persons_withholding
        if from_ledger
        else consent_store.persons_withholding
    )
    codes = sorted({row.case_code for row in connection.execute(select(table_of(ConsentEvent)))})
    found: dict[str, Any] = {"withholding": withholding(connection, None)}
    found["withholding some"] = withholding(connection, codes[::3])
    for purpose in PURPOSES:
        found[f"allowing {purpose}"] = allowing(connection, purpose, None)
        found[f"allowing {purpose} some"] = allowing(connection, purpose, codes[1::2])
        found[f"refusing {purpose}"] = refusing(connection, purpose, None)
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_projection_answers_as_the_ledger_replayed(store: Store, seed: int) -> None:
    events = _random_events(seed, 120)
    with store.transaction() as connection:
        consent_store.add_events(connection, events[: len(events) // 2])
        consent_store.add_events(connection, events[len(events) // 2 :])
    with store.transaction() as connection:
        projected = _answers(connection, from_ledger=False)
        replayed = _answers(connection, from_ledger=True)
    assert projected == replayed
    assert any(projected.values()), "the random ledgers must give some answers"
    assert projected["withholding"], "some intake consent must be refused or withdrawn"


def test_replacing_a_cases_form_events_projects_it_again(store: Store) -> None:
    events = _random_events(7, 60)
    with store.transaction() as connection:
        consent_store.add_events(connection, events)
        codes = sorted({e["case_code"] for e in events})
        # A case projected again: its form decisions replaced by a withdrawal of intake.
        new = [
            {**e, "decision": rules.NO, "flag": None, "decided_on": date(2025, 2, 1)}
            for e in events
            if e["case_code"] in codes[:20] and e["source"] == "form"
        ]
        consent_store.replace_form_events(connection, codes[:30], new)
        assert _answers(connection, from_ledger=False) == _answers(connection, from_ledger=True)


def test_a_withdrawal_takes_the_person_out_at_once(store: Store) -> None:
    code = "01-2025-00001-00"

    def event(purpose: str, decision: str, day: int) -> dict[str, Any]:
        return {
            "case_code": code,
            "person_index": 0,
            "purpose": purpose,
            "decision": decision,
            "given_by": "self",
            "age_years": 30,
            "decided_on": date(2025, 1, day),
            "source": "web",
        }

    with store.transaction() as connection:
        consent_store.add_events(
            connection,
            [event(rules.INTAKE, rules.YES, 1), event(rules.FOLLOWUP_CONTACT, rules.YES, 1)],
        )
        assert consent_store.persons_allowing(connection, rules.FOLLOWUP_CONTACT) == {(code, 0)}
        consent_store.add_events(connection, [event(rules.INTAKE, rules.NO, 2)])
        assert consent_store.persons_allowing(connection, rules.FOLLOWUP_CONTACT) == set()
        assert consent_store.persons_withholding(connection) == {(code, 0)}
        assert consent_store.persons_refusing(connection, rules.FOLLOWUP_CONTACT) == {(code, 0)}


def test_a_full_refresh_rebuilds_a_lost_or_stale_projection(store: Store) -> None:
    """What the migration does for the ledgers recorded before the projection existed."""
    events = _random_events(11, 80)
    with store.transaction() as connection:
        connection.execute(insert(table_of(ConsentEvent)), events)  # the ledger alone
        connection.execute(delete(table_of(ConsentStanding)))
        assert consent_store.persons_allowing(connection, rules.INTAKE) == set()
        consent_store.refresh_standings(connection, None)
        assert _answers(connection, from_ledger=False) == _answers(connection, from_ledger=True)
        assert consent_store.persons_allowing(connection, rules.INTAKE)


def test_referrals_still_answer_from_the_ledger(store: Store) -> None:
    with store.transaction() as connection:
        consent_store.add_events(connection, _random_events(5, 60))
        for recipient in ("swc", "legal_aid_centre"):
            assert consent_store.persons_allowing(
                connection, rules.REFERRAL, None, recipient_type=recipient
            ) == consent_store.ledger_persons_allowing(
                connection, rules.REFERRAL, None, recipient_type=recipient
            )
        with pytest.raises(ValueError, match="referral"):
            consent_store.persons_refusing(connection, rules.REFERRAL)


def test_check_consent_finds_and_mends_a_drift(store: Store, config: Any) -> None:
    """`fieldcase cases check-consent` replays every ledger and compares: silent agreement
    passes; a standing lost, one added and one changed by hand are counted by purpose
    (exit 1, no case named), and `--repair` projects again, audited."""
    from click.testing import CliRunner
    from sqlalchemy import update

    from server.cli import main
    from server.services.setup import initialise
    from server.store.models import AuditEntry
    from tests.conftest import env_for

    initialise(config, store)
    runner = CliRunner(env=env_for(config))
    with store.transaction() as connection:
        consent_store.add_events(connection, _random_events(13, 80))
    agreed = runner.invoke(main, ["cases", "check-consent"])
    assert agreed.exit_code == 0, agreed.output
    assert "agree" in agreed.output
    standings = table_of(ConsentStanding)
    with store.transaction() as connection:
        rows = connection.execute(select(standings).order_by(standings.c.id)).all()
        given = next(r for r in rows if r.state == rules.GIVEN)
        lost = next(r for r in rows if r.id != given.id)
        connection.execute(
            update(standings).where(standings.c.id == given.id).values(state="refused")
        )
        connection.execute(delete(standings).where(standings.c.id == lost.id))
        connection.execute(
            insert(standings).values(
                case_code="01-2025-99999-00", person_index=0, purpose=rules.DATA_USE, state="given"
            )
        )
    found = runner.invoke(main, ["cases", "check-consent"])
    assert found.exit_code == 1
    purposes = [given.purpose, lost.purpose, rules.DATA_USE]
    for purpose in set(purposes):
        assert f"{purpose}: {purposes.count(purpose)}" in found.output
    assert "01-2025" not in found.output
    mended = runner.invoke(main, ["cases", "check-consent", "--repair"])
    assert mended.exit_code == 0, mended.output
    assert "projected again" in mended.output
    assert runner.invoke(main, ["cases", "check-consent"]).exit_code == 0
    with store.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent.standings_repaired")
        ).one()
        assert sum(entry.detail["differing"].values()) == 3
