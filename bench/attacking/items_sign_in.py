"""Who may authenticate where: HTTP Basic as an oracle (item 3), the redirect after sign-in
(4), the sign-in back-off (5), the passwords people choose (13)."""

from __future__ import annotations

import re
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from bench.attacking.clients import Web, basic_from, fresh_client
from bench.attacking.deployment import (
    PHONE_BASIC,
    SUPERVISOR_A,
    SUPERVISOR_B,
    UNIT_A,
    Deployment,
    run_cli,
)
from bench.attacking.report import Report, Scenario
from bench.attacking.world import World

TIMING_TRIES = 30


def _same_answers(answers: dict[str, tuple[int, dict[str, str], str, float]]) -> set[tuple]:
    return {(status, h.get("WWW-Authenticate"), body) for status, h, body, _ in answers.values()}


def basic_oracle(world: World, report: Report, deployment: Deployment) -> None:
    """Item 3: HTTP Basic authenticates collectors only, alike for every other name."""
    url, passwords = world.url, deployment.passwords
    with report.scenario("3.1", "Basic: right web password = wrong one") as s:
        tries = {
            "supervisor right password": (SUPERVISOR_A, passwords[SUPERVISOR_A]),
            "supervisor wrong password": (SUPERVISOR_A, "not-" + passwords[SUPERVISOR_A]),
            "admin right password": ("admin", passwords["admin"]),
            "viewer right password": ("viewer", passwords["viewer"]),
            "unknown name": (f"nobody-{secrets.token_hex(3)}", passwords[SUPERVISOR_A]),
        }
        answers = {k: basic_from(url, u, p, fresh_client()) for k, (u, p) in tries.items()}
        distinct = _same_answers(answers)
        s.check(
            len(distinct) == 1 and next(iter(distinct))[0] == 401,
            f"{len(tries)} kinds all {sorted({a[0] for a in answers.values()})}, "
            f"{len(distinct)} distinct (status, WWW-Authenticate, body)",
        )
        phone = basic_from(url, PHONE_BASIC, deployment.basic_password, fresh_client())
        s.check(phone[0] == 200, f"the Basic collector's own password: {phone[0]}")
    with report.scenario("3.2", "Basic timing: supervisor vs unknown name") as s:
        times: dict[str, list[float]] = {"supervisor": [], "unknown": []}
        for n in range(TIMING_TRIES):
            order = ["supervisor", "unknown"] if n % 2 else ["unknown", "supervisor"]
            for kind in order:  # interleaved, so a busy moment slows both alike
                name = SUPERVISOR_A if kind == "supervisor" else f"ghost-{secrets.token_hex(4)}"
                status, _, _, took = basic_from(url, name, passwords[SUPERVISOR_A], fresh_client())
                if status == 401:
                    times[kind].append(took)
        med = {k: statistics.median(v) for k, v in times.items() if v}
        low = {k: min(v) for k, v in times.items() if v}
        gap = abs(med.get("supervisor", 0) - med.get("unknown", 0))
        allowed = max(0.05, 0.2 * max(med.values(), default=0))
        s.check(
            len(med) == 2 and gap <= allowed,
            f"{TIMING_TRIES}+{TIMING_TRIES} tries, each from a new client: median "
            f"{med.get('supervisor', 0) * 1000:.0f} vs {med.get('unknown', 0) * 1000:.0f} ms, "
            f"min {low.get('supervisor', 0) * 1000:.0f} vs {low.get('unknown', 0) * 1000:.0f} ms "
            f"(gap {gap * 1000:.0f} ms, allowed {allowed * 1000:.0f})",
        )
    with report.scenario("3.3", "Basic failures share the web back-off") as s:
        attacker = fresh_client()
        statuses = [basic_from(url, SUPERVISOR_B, f"guess-{n}", attacker)[0] for n in range(6)]
        s.check(statuses == [401] * 5 + [429], f"6 Basic guesses at supervisor-02: {statuses}")
        web = Web(url, attacker).login(SUPERVISOR_B, passwords[SUPERVISOR_B])
        s.check(
            web.status_code == 429,
            f"then the web login, right password, same client: {web.status_code}",
        )
        elsewhere = Web(url, fresh_client()).login(SUPERVISOR_B, passwords[SUPERVISOR_B])
        s.check(elsewhere.status_code == 302, f"from another client: {elsewhere.status_code}")
        audit = world.admin.get(f"/admin/audit?action=login.failed&actor={SUPERVISOR_B}").text
        channels = re.findall(r"<b>channel</b>: (\w+)", audit)
        s.check(
            channels.count("openrosa") >= 5,
            f"audited login.failed: {channels.count('openrosa')} x channel openrosa",
        )
    with report.scenario("3.4", "a storm of Basic guesses") as s:
        _storm(s, world, deployment)
    with report.scenario("3.5", "a collector's password on the web view") as s:
        answer = Web(url, fresh_client()).login(PHONE_BASIC, deployment.basic_password)
        s.check(answer.status_code == 401, f"phone-basic signs in to /login: {answer.status_code}")
    with report.scenario("3.6", "a revoked Basic phone, password remembered") as s:
        # The worker remembers a verified phone password for 10 minutes: revoking must still
        # stop it at once, in every worker.
        before = [basic_from(url, PHONE_BASIC, deployment.basic_password, "127.0.0.1")[0]]
        before += [basic_from(url, PHONE_BASIC, deployment.basic_password, "127.0.0.1")[0]]
        revoked = deployment.cli("collectors", "revoke", PHONE_BASIC).returncode
        after = [
            basic_from(url, PHONE_BASIC, deployment.basic_password, "127.0.0.1")[0]
            for _ in range(4)
        ]
        s.check(
            before == [200, 200] and revoked == 0 and set(after) == {401},
            f"formList before {before}; collectors revoke exit {revoked}; then {after}",
        )


def _peak_mb(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def _storm(s: Scenario, world: World, deployment: Deployment, seconds: float = 5.0) -> None:
    """16 guessers, each guess from a new client so no back-off spares a verification."""
    pids = deployment.worker_pids()
    before = {pid: _peak_mb(pid) for pid in pids}
    statuses: list[int] = []
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    password = deployment.passwords[SUPERVISOR_A]

    def guess(n: int) -> None:
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            tried = password if attempt % 2 else f"guess-{n}-{attempt}"
            statuses.append(basic_from(world.url, SUPERVISOR_A, tried, fresh_client())[0])

    def probe() -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                requests.get(f"{world.url}/healthz", timeout=30).raise_for_status()
                latencies.append(time.monotonic() - started)
            except requests.RequestException:
                latencies.append(float("inf"))
            time.sleep(0.2)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(16)]
    threads.append(threading.Thread(target=probe))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    grew = max((_peak_mb(pid) - before[pid] for pid in pids), default=0.0)
    s.check(
        set(statuses) <= {401, 503},
        f"{len(statuses)} guesses (half the right password): {statuses.count(401)} x 401, "
        f"{statuses.count(503)} x 503 (password checks busy: bounded by design), "
        f"others {sorted(set(statuses) - {401, 503})}",
    )
    s.check(max(latencies) < 3.0, f"/healthz worst {max(latencies):.2f} s over {len(latencies)}")
    s.check(grew < 200, f"peak memory per worker +{grew:.0f} MB")


NEXT_TARGETS = [
    "/%09/evil.example/phish",  # the review's: Location //evil.example/phish
    "/%0a/evil.example",  # the review's 500
    "//evil.example/phish",
    "/\\evil.example",
    "%5C%5Cevil.example",
    "/%5Cevil.example",
    "https://evil.example/",
    "http:evil.example",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "%20//evil.example",
    "%E2%88%95%E2%88%95evil.example",  # DIVISION SLASH x2
    "%EF%BC%8F%EF%BC%8Fevil.example",  # FULLWIDTH SOLIDUS x2
    "javascript:alert(1)",
    "/%E3%80%80/evil.example",  # IDEOGRAPHIC SPACE
]


def _offsite(base: str, location: str | None) -> str | None:
    """Why a redirect target leaves the site (or may, in some browser), else None."""
    if location is None:
        return "no Location"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in location):
        return "control character"
    if location.startswith(("//", "\\\\", "/\\", "\\/")):
        return "scheme-relative"
    resolved = urlsplit(urljoin(base + "/login", location))
    if (resolved.scheme, resolved.netloc) != tuple(urlsplit(base)[:2]):
        return f"goes to {resolved.scheme}://{resolved.netloc}"
    return None


def open_redirect(world: World, report: Report, deployment: Deployment) -> None:
    """Item 4: after sign-in (and the language switch) only a path of this site."""
    base = world.url
    with report.scenario("4.1", "open redirect after sign-in") as s:
        client = fresh_client()
        bad, seen = [], []
        for target in NEXT_TARGETS:
            answer = Web(base, client).login("viewer", deployment.passwords["viewer"], target)
            location = answer.headers.get("Location")
            why = _offsite(base, location) if answer.status_code == 302 else "not a redirect"
            seen.append(f"{answer.status_code}->{location}")
            if why:
                bad.append(f"next={target}: {answer.status_code} {location!r} ({why})")
        s.check(
            not bad,
            "; ".join(bad)
            if bad
            else f"{len(NEXT_TARGETS)} targets all stay on the site: {sorted(set(seen))}",
        )
        kept = Web(base, client).login("viewer", deployment.passwords["viewer"], "/exports")
        s.check(
            kept.headers.get("Location") == "/exports",
            f"a real next=/exports still goes there: {kept.headers.get('Location')}",
        )
    with report.scenario("4.2", "open redirect from the language switch") as s:
        web, bad = Web(base), []
        for target in NEXT_TARGETS:
            raw = requests.utils.unquote(target)
            answer = web.post("/lang", {"lang": "vi", "next": raw}, "/login")
            why = _offsite(base, answer.headers.get("Location"))
            if answer.status_code != 302 or why:
                bad.append(f"{target}: {answer.status_code} {answer.headers.get('Location')!r}")
        s.check(not bad, "; ".join(bad) if bad else f"{len(NEXT_TARGETS)} targets stay on the site")


def _normalised(page: str, typed: str) -> str:
    page = re.sub(r'value="[^"]*"', 'value=""', page)
    return page.replace(typed, "NAME")


def _failures(client: str, base: str, name: str, count: int, headers=None) -> list:
    answers = []
    for n in range(count):
        answer = Web(base, client).login(name, f"wrong-password-{n}", headers=headers)
        answers.append(answer)
    return answers


def lockout(world: World, report: Report, deployment: Deployment) -> None:
    """Item 5: one answer for every name, back-off per (name, client), no spoofed client."""
    base, passwords = world.url, deployment.passwords
    with report.scenario("5.1", "unknown and known names answer alike") as s:
        ghost = f"ghost-{secrets.token_hex(3)}"
        unknown = _failures(fresh_client(), base, ghost, 6)
        known = _failures(fresh_client(), base, SUPERVISOR_B, 6)
        codes = ([a.status_code for a in unknown], [a.status_code for a in known])
        s.check(codes[0] == codes[1] == [401] * 5 + [429], f"unknown {codes[0]}, known {codes[1]}")
        pages = {_normalised(a.text, ghost) for a in unknown[:5]}
        pages |= {_normalised(a.text, SUPERVISOR_B) for a in known[:5]}
        s.check(len(pages) == 1, f"{len(pages)} distinct 401 pages (tokens and names aside)")
        retry = (unknown[5].headers.get("Retry-After"), known[5].headers.get("Retry-After"))
        s.check(None not in retry, f"Retry-After {retry}")
    with report.scenario("5.2", "5 bad logins do not lock the account") as s:
        answer = Web(base, fresh_client()).login(SUPERVISOR_B, passwords[SUPERVISOR_B])
        s.check(
            answer.status_code == 302,
            f"supervisor-02, backed off at 5.1's client, signs in elsewhere: {answer.status_code}",
        )
    with report.scenario("5.3", "X-Forwarded-For without trusted proxies") as s:
        client = fresh_client()
        answers = [
            Web(base, client)
            .login("viewer", f"wrong-{n}", headers={"X-Forwarded-For": f"203.0.113.{n}"})
            .status_code
            for n in range(6)
        ]
        s.check(answers == [401] * 5 + [429], f"6 guesses, a new X-Forwarded-For each: {answers}")
        framed, attacker = fresh_client(), fresh_client()
        for n in range(6):
            Web(base, attacker).login("viewer", f"wrong-{n}", headers={"X-Forwarded-For": framed})
        victim = Web(base, framed).login("viewer", passwords["viewer"])
        s.check(
            victim.status_code == 302,
            f"6 guesses claiming to be {framed}; then {framed} itself signs in: "
            f"{victim.status_code}",
        )
    with report.scenario("5.4", "one client guessing across many names") as s:
        client = fresh_client()
        answers = [
            Web(base, client)
            .login(f"name-{n}-{secrets.token_hex(2)}", "Password-2025!")
            .status_code
            for n in range(31)
        ]
        first = answers.index(429) + 1 if 429 in answers else None
        right = Web(base, client).login("viewer", passwords["viewer"]).status_code
        s.check(
            first is not None and first <= 31 and right == 429,
            f"first 429 at attempt {first} of 31 names; a right password then: {right}",
        )


def lockout_behind_proxy(world: World, report: Report, deployment: Deployment) -> None:
    """Item 5 behind the reverse proxy the docs require (FIELDCASE_TRUSTED_PROXIES=127.0.0.1):
    each client of the proxy waits on its own; others cannot claim to be the proxy."""
    base, password = world.url, deployment.passwords[SUPERVISOR_A]
    with report.scenario("5.5", "behind a trusted proxy") as s:
        proxy = {"X-Forwarded-For": "203.0.113.50"}
        answers = [
            Web(base).login(SUPERVISOR_A, f"wrong-{n}", headers=proxy).status_code for n in range(5)
        ]
        right = Web(base).login(SUPERVISOR_A, password, headers=proxy).status_code
        s.check(
            answers == [401] * 5 and right == 429,
            f"client .50 via the proxy: {answers}, then right password {right}",
        )
        other = Web(base).login(SUPERVISOR_A, password, headers={"X-Forwarded-For": "203.0.113.51"})
        s.check(other.status_code == 302, f"client .51 via the proxy: {other.status_code}")
        outsider = fresh_client()
        spoofed = [
            Web(base, outsider)
            .login(SUPERVISOR_A, f"w-{n}", headers={"X-Forwarded-For": f"198.51.100.{n}"})
            .status_code
            for n in range(6)
        ]
        s.check(
            spoofed == [401] * 5 + [429],
            f"a direct client (not the proxy) rotating X-Forwarded-For: {spoofed}",
        )


WEAK = [
    "aaaaaaaaaaaa",
    "viewAviewAviewA",
    "viewer-2025-secret",
    "Matkhau123456",
    "Sunshine2024!",
    "p@ssw0rd1234",
    "123456789012",
    "abcabcabcabc",
    "anhyeuem12345",
]


def passwords(world: World, report: Report, deployment: Deployment) -> None:
    """Item 13: the passwords people choose, in every place one is set."""
    with report.scenario("13.1", "weak passwords on the password page") as s:
        old = deployment.passwords["viewer"]
        web = world.viewer
        answers = {}
        for weak in WEAK:
            answer = web.post(
                "/account/password",
                {"current_password": old, "new_password": weak, "confirmation": weak},
                "/account/password",
            )
            answers[weak] = answer.status_code
        accepted = [w for w, status in answers.items() if status != 400]
        s.check(
            not accepted,
            f"{len(WEAK)} weak ones answered {sorted(set(answers.values()))}"
            + (f", accepted {accepted}" if accepted else ""),
        )
        strong = f"Kq7-{secrets.token_urlsafe(12)}"
        changed = web.post(
            "/account/password",
            {"current_password": old, "new_password": strong, "confirmation": strong},
            "/account/password",
        ).status_code
        s.check(changed == 302, f"a strong one: {changed}")
        if changed == 302:
            deployment.passwords["viewer"] = strong
        again = Web(world.url, fresh_client()).login("viewer", strong).status_code
        s.check(again == 302, f"signing in with it: {again}")
    with (
        report.scenario("13.2", "weak passwords through the CLI") as s,
        tempfile.TemporaryDirectory(prefix="fieldcase-attack-pw-") as folder,
    ):
        weak_file = Path(folder) / "password"
        weak_file.write_text("aaaaaaaaaaaa\n", encoding="utf-8")
        added = deployment.cli(
            "users",
            "add",
            "weakling",
            "--role",
            "viewer",
            "--unit",
            UNIT_A,
            "--password-file",
            str(weak_file),
        )
        s.check(
            added.returncode != 0,
            f"users add --password-file aaaaaaaaaaaa: exit "
            f"{added.returncode} '{added.stderr.strip()[:70]}'",
        )
        login = Web(world.url, fresh_client()).login("weakling", "aaaaaaaaaaaa").status_code
        s.check(login == 401, f"weakling signs in: {login}")
        env = {
            "FIELDCASE_DATA_DIR": str(Path(folder) / "data"),
            "FIELDCASE_DATABASE_URL": f"sqlite:///{Path(folder)}/data/fieldcase.sqlite3",
            "FIELDCASE_KEY_PASSPHRASE": "pass-phrase-of-a-throwaway-store",
            "FIELDCASE_ADMIN_PASSWORD": "viewAviewAviewA",
        }
        init = run_cli(["init"], env)
        s.check(
            init.returncode != 0,
            f"init with FIELDCASE_ADMIN_PASSWORD=viewAviewAviewA: exit {init.returncode}",
        )
