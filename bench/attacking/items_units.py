"""A phone of another unit (item 2) and case search as an oracle (item 9)."""

from __future__ import annotations

import re

from bench.attacking.clients import SubmissionSeen, case_code, case_codes_on
from bench.attacking.deployment import (
    COMMUNE_A,
    COMMUNE_A2,
    COMMUNE_B,
    SUPERVISOR_A,
    UNIT_A,
    UNIT_B,
)
from bench.attacking.report import Report, Scenario
from bench.attacking.world import (
    IMPOSTOR,
    SECOND_VICTIM,
    VICTIM,
    World,
    followup,
    intake,
    outreach,
    serial,
    support,
)

FLAGS = ("no_unit", "unit_unknown", "unit_mismatch", "foreign_case", "foreign_edit")
CASE_FORMS = ("vt01_intake", "vt04_support", "vt05_followup", "vt06_outreach")


def _status_of(page: str) -> str:
    match = re.search(r'<span class="tag tag-([a-z_]+)">', page)
    return match.group(1) if match else "?"


def _held_back(
    s: Scenario,
    world: World,
    form_id: str,
    instance_id: str,
    status: int,
    expected: str,
    from_unit_b: bool = True,
) -> SubmissionSeen | None:
    """The submission was kept (the phone got 201) and flagged: it acts on nothing."""
    if not s.check(status == 201, f"phone answered {status}"):
        return None
    seen = world.ledger.find(form_id, instance_id)
    s.check(
        seen.unit_check in FLAGS,
        f"#{seen.id} flagged {seen.unit_check}"
        + ("" if seen.unit_check == expected else f" (expected {expected})"),
    )
    _attacks(world)[seen.id] = from_unit_b
    return seen


def _attacks(world: World) -> dict[int, bool]:
    """Every held-back submission of the replay: id -> sent by unit B's phone."""
    return world.notes.setdefault("attacks", {})  # type: ignore[return-value]


def _victim_case_intact(s: Scenario, world: World) -> None:
    page = world.supervisor_a.get(f"/cases/{world.victim_case_id}")
    status = _status_of(page.text)
    unit = re.search(r"<dt>Unit</dt><dd>([^<]*)</dd>", page.text)
    held_in = unit.group(1) if unit else "?"
    s.check(
        page.status_code == 200
        and not status.startswith("closed")
        and held_in == f"{UNIT_A} / {COMMUNE_A}",
        f"supervisor-01 still holds case {world.victim_case_id}: {page.status_code}, "
        f"{status}, unit {held_in}",
    )
    other = world.supervisor_b.get(f"/cases/{world.victim_case_id}").status_code
    s.check(other == 404, f"supervisor-02 GET the case: {other}")


def other_unit_phone(world: World, report: Report) -> None:
    """Item 2: a submission acts only inside its collector's unit."""
    code = world.victim_code
    phone_b, phone_basic = world.phone_b, world.phone_basic
    with report.scenario("2.1", "unit B intake reusing A's case code") as s:
        status, sent = phone_b.send("vt01_intake", intake(code, UNIT_B, COMMUNE_B, IMPOSTOR))
        _held_back(s, world, "vt01_intake", sent, status, "unit_mismatch")
        _victim_case_intact(s, world)
    with report.scenario("2.2", "same, answering unit A's province") as s:
        status, sent = phone_b.send("vt01_intake", intake(code, UNIT_A, COMMUNE_A, IMPOSTOR))
        _held_back(s, world, "vt01_intake", sent, status, "unit_mismatch")
        _victim_case_intact(s, world)
    with report.scenario("2.3", "unit B plants a case with A's prefix") as s:
        planted = [case_code(UNIT_A, serial()), case_code(UNIT_A, serial())]
        for new_code, province, commune in (
            (planted[0], UNIT_B, COMMUNE_B),
            (planted[1], UNIT_A, COMMUNE_A),
        ):
            status, sent = phone_b.send(
                "vt01_intake", intake(new_code, province, commune, IMPOSTOR)
            )
            _held_back(s, world, "vt01_intake", sent, status, "unit_mismatch")
        codes = case_codes_on(world.admin.get("/cases").text)
        s.check(not set(planted) & set(codes), f"no case {planted} in the admin's case list")
    with report.scenario("2.4", "unit B closes A's case as deceased (vt05)") as s:
        status, sent = phone_b.send("vt05_followup", followup(code, "closed_deceased"))
        _held_back(s, world, "vt05_followup", sent, status, "foreign_case")
        _victim_case_intact(s, world)
    with report.scenario("2.5", "unit B adds a support to A's case (vt04)") as s:
        status, sent = phone_b.send("vt04_support", support(code))
        seen = _held_back(s, world, "vt04_support", sent, status, "foreign_case")
        page = world.supervisor_a.get(f"/cases/{world.victim_case_id}").text
        if seen:
            s.check(f'/submissions/{seen.id}"' not in page, "not on unit A's case page")
    with report.scenario("2.6", "unit B edits A's intake (encrypted deprecatedID)") as s:
        victim = world.victim_submission
        assert victim is not None
        status, sent = phone_b.send(
            "vt01_intake",
            intake(code, UNIT_B, COMMUNE_B, IMPOSTOR),
            deprecated_id=victim.instance_id,
        )
        _held_back(s, world, "vt01_intake", sent, status, "foreign_edit")
        original = world.admin.get(f"/submissions/{victim.id}").text
        s.check("replaced by an edit" not in original, f"#{victim.id} still current")
        revealed = world.supervisor_a.reveal("submissions", victim.id).text
        s.check(
            VICTIM.full_name in revealed and IMPOSTOR.full_name not in revealed,
            "supervisor-01 reveals the victim's own name, not the impostor's",
        )
    with report.scenario("2.7", "unit B's vt05 before A's intake arrives") as s:
        later = case_code(UNIT_A, serial())
        status, early = phone_b.send("vt05_followup", followup(later, "closed_deceased"))
        waiting = world.ledger.find("vt05_followup", early)
        s.note(f"unit B's vt05 for an unheld code: {status}, #{waiting.id} {waiting.unit_check}")
        status, sent = world.phone_a.send("vt01_intake", intake(later, UNIT_A, COMMUNE_A, VICTIM))
        held = world.ledger.find("vt01_intake", sent)
        s.check(held.unit_check == "accepted", f"then unit A's intake: {held.unit_check}")
        after = world.ledger.find(
            "vt05_followup", early, until=lambda seen: seen.unit_check in FLAGS
        )
        s.check(after.unit_check == "foreign_case", f"unit B's vt05 then: {after.unit_check}")
        case_page = world.supervisor_a.get(f"/cases/{held.case_id}").text
        s.check(
            not _status_of(case_page).startswith("closed"),
            f"case status {_status_of(case_page)}",
        )
    with report.scenario("2.8", "commune phone closes a case of another commune") as s:
        status, sent = phone_basic.send(
            "vt05_followup", followup(world.second_code, "closed_deceased")
        )
        _held_back(s, world, "vt05_followup", sent, status, "foreign_case", from_unit_b=False)
        page = world.supervisor_a.get(f"/cases/{world.second_case_id}").text
        s.check(not _status_of(page).startswith("closed"), f"case {COMMUNE_A2}: {_status_of(page)}")
    with report.scenario("2.9", "commune phone intake in another commune") as s:
        status, sent = phone_basic.send(
            "vt01_intake", intake(case_code(UNIT_A, serial()), UNIT_A, COMMUNE_A2, IMPOSTOR)
        )
        _held_back(s, world, "vt01_intake", sent, status, "unit_mismatch", from_unit_b=False)
    with report.scenario("2.10", "unit B outreach counted in unit A") as s:
        status, sent = phone_b.send("vt06_outreach", outreach(UNIT_A, COMMUNE_A))
        _held_back(s, world, "vt06_outreach", sent, status, "unit_mismatch")
    with report.scenario("2.11", "unit B sees nothing of unit A's victims") as s:
        _unit_b_sees_nothing(s, world)
    with report.scenario("2.12", "unit A sees nothing unit B's phone typed") as s:
        attacks = list(_attacks(world))
        foreign = [i for i, from_b in _attacks(world).items() if from_b]
        answers = {world.supervisor_a.get(f"/submissions/{i}").status_code for i in foreign}
        s.check(
            answers == {404}, f"supervisor-01 GET unit B's {len(foreign)} submissions: {answers}"
        )
        page = world.supervisor_a.reveal("cases", world.victim_case_id).text
        s.check(
            VICTIM.full_name in page and not any(v in page for v in IMPOSTOR.values),
            "unit A's revealed case page: the victim's values, none of the impostor's",
        )
        listed = {int(i) for i in re.findall(r'href="/submissions/(\d+)"', page)}
        s.check(not listed & set(attacks), f"case page lists {sorted(listed)}, no attack")
    with report.scenario("2.13", "admin's unit queue lists every attack") as s:
        queue = world.admin.get("/admin/unit-queue").text
        attacks = list(_attacks(world))
        missing = [i for i in attacks if f'href="/submissions/{i}"' not in queue]
        s.check(not missing, f"{len(attacks)} held-back submissions listed, missing {missing}")
        s.check(
            not any(v in queue for v in (*VICTIM.values, *IMPOSTOR.values)),
            "the queue shows flags and units, no value",
        )


def _unit_b_sees_nothing(s: Scenario, world: World) -> None:
    sup_b = world.supervisor_b
    protected = (*VICTIM.values, *SECOND_VICTIM.values)
    codes = case_codes_on(sup_b.get("/cases").text)
    s.check(
        world.victim_code not in codes and world.second_code not in codes,
        f"case list of supervisor-02: {len(codes)} cases, none of unit A's",
    )
    answers = [sup_b.get(f"/cases/{world.victim_case_id}").status_code]
    victim = world.victim_submission
    assert victim is not None
    answers.append(sup_b.get(f"/submissions/{victim.id}").status_code)
    s.check(answers == [404, 404], f"GET unit A's case and submission: {answers}")
    found = [case_codes_on(sup_b.search(words).text) for words in (world.victim_code, "Mận")]
    s.check(found == [[], []], f"search for the case code and the name: {found}")
    seen_ids: set[int] = set()
    for form_id in CASE_FORMS:
        table = sup_b.get(f"/forms/{form_id}/submissions").text
        seen_ids |= {int(i) for i in re.findall(r'href="/submissions/(\d+)"', table)}
    leaks = []
    for submission_id in sorted(seen_ids):
        page = sup_b.reveal("submissions", submission_id).text
        leaks += [f"#{submission_id}: {v}" for v in protected if v in page]
    s.check(not leaks, f"revealed every submission it may see ({len(seen_ids)}): leaks {leaks[:3]}")


def case_search(world: World, report: Report) -> None:
    """Item 9: whole words only, a limited number an hour, every hit audited."""
    sup_a = world.supervisor_a
    with report.scenario("9.1", "search by parts of a name") as s:
        guesses = ["Hoa", "Hoan", "Hoàn", "Thi Ma", "Mậ", "01-2025", world.victim_code[:-3]]
        found = {g: world.victim_code in case_codes_on(sup_a.search(g).text) for g in guesses}
        s.check(not any(found.values()), f"prefixes {guesses} found the case: {found}")
        short = sup_a.search("H").status_code
        s.check(short == 400, f"a one-letter search: {short}")
        whole = [
            world.victim_code in case_codes_on(sup_a.search(w).text)
            for w in ("Hoàng Thị Mận", "hoang thi man", world.victim_code)
        ]
        s.check(all(whole), f"whole name, folded name, full code still find it: {whole}")
    with report.scenario("9.2", "searches per hour") as s:
        statuses, retry = [], None
        earlier = world.supervisor_b.searches
        for _ in range(70):
            answer = world.supervisor_b.search("Nguyễn")
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                retry = answer.headers.get("Retry-After")
                break
        first = statuses.index(429) + 1 if 429 in statuses else None
        s.check(
            first is not None and first + earlier <= 61 and retry is not None,
            f"429 at search {first} (+{earlier} earlier), Retry-After {retry if first else None}",
        )
    with report.scenario("9.3", "every search hit audited per case") as s:
        page = world.admin.get(f"/admin/audit?target=case:{world.victim_case_id}").text
        hits = re.search(r'id="search-hits">(.*?)</p>', page, re.S)
        text = re.sub(r"<[^>]+>", "", hits.group(1)) if hits else ""
        count = re.search(rf"{SUPERVISOR_A}: (\d+)", text)
        s.check(
            count is not None and int(count.group(1)) >= 3,
            f"audit page for case:{world.victim_case_id}: {' '.join(text.split())[:120]}",
        )
