"""Hostile files: phone files as pages (item 1), export entry names (10), part names (11),
form uploads (12)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
import unicodedata
import uuid
import zipfile
from pathlib import Path

from bench.attacking.clients import case_code
from bench.attacking.deployment import COMMUNE_A, UNIT_A, Deployment
from bench.attacking.report import Report
from bench.attacking.world import VICTIM, World, intake, outreach, serial
from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from tests.phone_files import (
    EVIL_HTML,
    EVIL_JS,
    EVIL_SVG,
    HTML_NAMED_JPG,
    JFIF_START,
    POLYGLOT_JPEG,
    XML_FILE,
)
from tests.workbooks import (
    compact_rows,
    lying_bomb,
    replace_sheets,
    sheet_xml,
    small_form,
    zip_bomb,
)

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE_FILES = {
    "evil.html": EVIL_HTML,
    "evil.js": EVIL_JS,
    "drawing.svg": EVIL_SVG,
    "photo.jpg": HTML_NAMED_JPG,  # HTML named as a photo
    "page.xml": XML_FILE,
    "polyglot.jpg": POLYGLOT_JPEG,  # JPEG bytes, then a page
    "1712345678901.jpg": JFIF_START + bytes(64),  # what Collect sends: shown inline
}
SHOWN_INLINE = {"polyglot.jpg", "1712345678901.jpg"}
RENDERABLE = ("text/html", "image/svg", "xml", "javascript", "ecmascript", "text/plain")


def _file_headers(world: World, submission_id: int, name: str) -> tuple[int, dict[str, str]]:
    answer = world.admin.get(f"/submissions/{submission_id}/files/{name}")
    return answer.status_code, {k.lower(): v for k, v in answer.headers.items()}


def _check_files(scenario, world: World, submission_id: int) -> None:
    served = []
    for name in HOSTILE_FILES:
        status, headers = _file_headers(world, submission_id, name)
        kind = headers.get("content-type", "")
        disposition = headers.get("content-disposition", "")
        shown = not disposition.startswith("attachment")
        ok = (
            status == 200
            and not any(r in kind for r in RENDERABLE)
            and headers.get("x-content-type-options") == "nosniff"
            and "sandbox" in headers.get("content-security-policy", "")
            and (shown == (name in SHOWN_INLINE))
            and (kind.startswith("image/jpeg") if shown else kind == "application/octet-stream")
        )
        summary = f"{name}: {status} {kind.split(';')[0]} {'inline' if shown else 'attachment'}"
        if not ok:
            summary += f" (nosniff={headers.get('x-content-type-options')}, csp="
            summary += f"{headers.get('content-security-policy')!r})"
        served.append((ok, summary))
    scenario.check(all(ok for ok, _ in served), ", ".join(s for _, s in served))
    scenario.note("every file: nosniff, CSP sandbox")


def _browser_check(scenario, world: World, submission_id: int) -> None:
    """The admin opens each file in Chromium: a script request or /pwned means it ran."""
    if not CHROMIUM.exists():
        scenario.skip(f"{CHROMIUM} is not installed")
        return
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        scenario.skip("playwright is not installed")
        return
    base = world.url
    files = f"{base}/submissions/{submission_id}/files"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(accept_downloads=True)
            context.add_cookies(
                [
                    {"name": c.name, "value": c.value or "", "url": base}
                    for c in world.admin.session.cookies
                ]
            )
            ran: list[str] = []
            context.on(
                "request",
                lambda r: (
                    ran.append(r.url)
                    if (r.resource_type == "script" and "/files/" in r.url) or "/pwned" in r.url
                    else None
                ),
            )
            downloads = []
            for name in HOSTILE_FILES:
                if name in SHOWN_INLINE:
                    continue
                tab = context.new_page()
                with tab.expect_download(timeout=10_000) as download, contextlib.suppress(Error):
                    tab.goto(f"{files}/{name}")  # "Download is starting": not a page
                downloads.append(download.value.suggested_filename)
                tab.close()
            page = context.new_page()
            page.goto(f"{files}/polyglot.jpg")
            polyglot_type = page.evaluate("document.contentType")
            title = page.title()
            page.goto(f"{base}/submissions/{submission_id}")
            with page.expect_download(timeout=10_000) as download:
                page.click("a:text-is('evil.html')")
            clicked = download.value.suggested_filename
            page.wait_for_timeout(500)  # time for a script that did load to call home
        finally:
            browser.close()
    scenario.check(not ran, f"script or /pwned requests: {len(ran)} {ran[:2]}")
    scenario.check(
        len(downloads) == len(HOSTILE_FILES) - len(SHOWN_INLINE),
        f"opened by URL, each became a download: {', '.join(downloads)}",
    )
    scenario.check(clicked == "evil.html", f"clicking evil.html on the page downloads {clicked}")
    scenario.check(
        polyglot_type == "image/jpeg" and title != "pwned",
        f"polyglot opened as {polyglot_type}, title {title!r}",
    )


def phone_files(world: World, report: Report, browser: bool = True) -> None:
    """Item 1: phone files never render (plain and encrypted, headers and a real browser)."""
    files = list(HOSTILE_FILES.items())
    with report.scenario("1.1", "plain submission: files never render") as s:
        status, plain_id = world.phone_a.send("vt06_outreach", outreach(UNIT_A, COMMUNE_A), files)
        s.check(status == 201, f"phone-01 sent vt06 with 7 files: {status}")
        seen = world.ledger.find("vt06_outreach", plain_id)
        _check_files(s, world, seen.id)
        world.notes["plain_files_submission"] = seen.id
    with report.scenario("1.2", "encrypted submission: files never render") as s:
        code = case_code(UNIT_A, serial())
        status, sealed_id = world.phone_a.send(
            "vt01_intake", intake(code, UNIT_A, COMMUNE_A, VICTIM), files
        )
        s.check(status == 201, f"phone-01 sent an encrypted vt01 with 7 files: {status}")
        seen = world.ledger.find("vt01_intake", sealed_id)
        s.check(seen.decrypted, "decrypted by the server")
        _check_files(s, world, seen.id)
        world.notes["sealed_files_submission"] = seen.id
    with report.scenario("1.3", "another unit cannot fetch the files") as s:
        sealed = world.notes["sealed_files_submission"]
        answers = [
            world.supervisor_b.get(f"/submissions/{sealed}/files/{name}").status_code
            for name in ("evil.html", "1712345678901.jpg")
        ]
        s.check(answers == [404, 404], f"supervisor-02 GET unit A's files: {answers}")
        viewer = world.viewer.get(f"/submissions/{sealed}/files/evil.html").status_code
        s.check(viewer in (403, 404), f"viewer (counts only) GET: {viewer}")
    with report.scenario("1.4", "admin's Chromium opens evil.html/js/svg") as s:
        if not browser:
            s.skip("--no-browser")
        else:
            _browser_check(s, world, int(world.notes["sealed_files_submission"]))  # type: ignore[call-overload]


WINDOWS_FORBIDDEN = set('<>:"|?*\\')
DEVICE = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.I)


def unsafe_entry(name: str) -> str | None:
    """Why a zip entry name could escape its folder or mislead on Windows, or None."""
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute"
    for part in name.split("/"):
        if part in ("..", "."):
            return "dot segment"
        if set(part) & WINDOWS_FORBIDDEN:
            return "Windows-forbidden character"
        if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in part):
            return "control or format character"
        if DEVICE.fullmatch(part):
            return "device name"
        if part.endswith((".", " ")) and part:
            return "final dot or space"
    return None


def export_names(world: World, report: Report, deployment: Deployment) -> None:
    """Item 10: a phone's instanceID and file names never become paths in an export zip."""
    hostile_ids = ["..\\..\\..\\Startup\\evil", "uuid:../../../../tmp/evil", "C:\\Windows\\evil"]
    files = [("evil.bat", b"@echo pwned\r\n"), ("CON.jpg", JFIF_START), ("a:b.jpg", JFIF_START)]
    with report.scenario("10.1", "export zip: no path from the phone") as s:
        answers = []
        for instance_id in hostile_ids:
            status, _ = world.phone_a.send(
                "vt06_outreach", outreach(UNIT_A, COMMUNE_A), files, instance_id=instance_id
            )
            answers.append(status)
        sealed_id = "..\\..\\..\\Startup\\sealed"
        status, _ = world.phone_a.send(
            "vt01_intake",
            intake(case_code(UNIT_A, serial()), UNIT_A, COMMUNE_A, VICTIM),
            files[:1],
            instance_id=sealed_id,
        )
        answers.append(status)
        s.note(f"phone-01 sent 3 plain + 1 encrypted with hostile instanceIDs: {answers}")
        accepted = [a for a in answers if a == 201]
        if accepted:
            world.ledger.find("vt01_intake", sealed_id)  # decrypted before the export
        entries: list[str] = []
        for form_id in ("vt06_outreach", "vt01_intake"):
            answer = world.admin.get(f"/exports/forms/{form_id}.zip")  # no media on the web
            s.check(answer.status_code == 200, f"web {form_id}.zip: {answer.status_code}")
            entries += zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
            # The media come with the operator's export (the review's zip came from it).
            out = deployment.root / f"{form_id}-attachments.zip"
            made = deployment.cli(
                "export",
                "submissions",
                "--form",
                form_id,
                "--attachments",
                "--out",
                str(out),
                umask=0o022,
            )
            s.check(
                made.returncode == 0,
                f"fieldcase export --attachments {form_id}: exit "
                f"{made.returncode} {made.stderr.strip()[-120:]}",
            )
            if out.exists():
                entries += zipfile.ZipFile(out).namelist()
                mode = out.stat().st_mode & 0o777
                s.check(mode == 0o600, f"{out.name} is {oct(mode)} under umask 022")
        media = [e for e in entries if e.startswith("media/")]
        bad = [(e, unsafe_entry(e)) for e in entries if unsafe_entry(e)]
        s.check(not bad, f"unsafe entries: {bad[:3]}" if bad else f"{len(entries)} entries safe")
        folders = sorted({e.split("/")[1] for e in media if e.count("/") >= 2})
        odd = [f for f in folders if not re.fullmatch(r"[0-9a-f-]{36}|id-[0-9a-f]{8,64}", f)]
        s.check(
            len(folders) >= 4 and not odd,
            f"media folders are uuids or id-<hash> ({len(folders)}): odd {odd[:3]}",
        )
        s.check(
            any(e == "media/index.csv" for e in entries), "media/index.csv maps folders to KEYs"
        )
        renamed = sorted({e.rsplit("/", 1)[-1] for e in media if "/file-" in e})
        kept = sorted({e.rsplit("/", 1)[-1] for e in media if "evil.bat" in e})
        s.note(f"CON.jpg and a:b.jpg became {renamed[:3]}; kept {kept}")


HOSTILE_NAMES = [
    "photo.jpg\n",
    "photo.jpg\r",
    "photo\x7f.jpg",
    "photo\x85.jpg",
    "evil\u202egpj.exe",
    "photo\u200b.jpg",
    "\ufeffphoto.jpg",
    "photo\u2028.jpg",
    "..",
    "sub/photo.jpg",
    "..\\photo.jpg",
    "x" * 256,
]


def part_names(world: World, report: Report) -> None:
    """Item 11: one plain name per part and per manifest entry; refused names record nothing."""
    phone = world.phone_a
    with report.scenario("11.1", "hostile multipart part names") as s:
        instance_id = f"uuid:{uuid.uuid4()}"
        xml = phone.instance("vt06_outreach", outreach(UNIT_A, COMMUNE_A), instance_id)
        answers = {name: phone.post_raw(xml, [(name, JFIF_START)]) for name in HOSTILE_NAMES}
        statuses = [a.status_code for a in answers.values()]
        passed = [repr(n) for n, a in answers.items() if a.status_code != 400]
        s.check(not passed, f"{len(HOSTILE_NAMES)} names answered {sorted(set(statuses))}")
        if passed:
            s.check(False, f"accepted: {', '.join(passed)}")
        clean = phone.post_raw(xml, [("photo.jpg", JFIF_START)]).status_code
        s.check(clean == 201, f"then the same instanceID with photo.jpg: {clean} (202 = kept)")
    with report.scenario("11.2", "hostile names in an encrypted manifest") as s:
        form = phone.form("vt01_intake")
        key = load_public_key(form.public_key or "")
        instance_id = f"uuid:{uuid.uuid4()}"
        values = intake(case_code(UNIT_A, serial()), UNIT_A, COMMUNE_A, VICTIM)
        xml = phone.instance("vt01_intake", values, instance_id)
        statuses = {}
        for name in ("evil\u202egpj.exe", "photo\u200b.jpg", "photo\x7f.jpg", "..\\x.jpg"):
            sealed = encrypt_submission(
                key, "vt01_intake", form.version, instance_id, xml, [(name, JFIF_START)]
            )
            statuses[repr(name)] = phone.post_raw(sealed.manifest, sealed.files).status_code
        s.check(set(statuses.values()) == {400}, f"answers {statuses}")
        sealed = encrypt_submission(
            key, "vt01_intake", form.version, instance_id, xml, [("photo.jpg", JFIF_START)]
        )
        clean = phone.post_raw(sealed.manifest, sealed.files).status_code
        s.check(clean == 201, f"then the same instanceID with photo.jpg: {clean}")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _peak_mb(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def _review_workbook() -> bytes:
    """The review's 400,000 choice rows (as numbers, to stay under 10 MB like theirs)."""
    return replace_sheets(
        small_form("big_form"), {"xl/worksheets/sheet2.xml": sheet_xml(compact_rows(400_000))}
    )


def _lying_sheet() -> bytes:
    """A 2 kB sheet whose dimension and row number claim a million rows."""
    row = b'<row r="1000000"><c r="A1000000"><v>1</v></c></row>'
    return replace_sheets(
        small_form("big_form"),
        {"xl/worksheets/sheet2.xml": sheet_xml(iter([row]), dimension="A1:C1000000")},
    )


def form_upload(world: World, report: Report, deployment: Deployment) -> None:
    """Item 12: workbooks too large to be forms are refused before they are read."""
    workbooks = {
        "400k choice rows": _review_workbook,
        "sheet claiming 1M rows": _lying_sheet,
        "zip bomb 64 MiB": lambda: zip_bomb(64 * 1024 * 1024),
        "zip lying about its size": lambda: lying_bomb(200 * 1024 * 1024),
    }
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    with report.scenario("12.1", "oversized XLSForm uploads") as s:
        for label, make in workbooks.items():
            content = make()
            pids = deployment.worker_pids()
            cpu, peaks = _cpu_seconds(pids), {pid: _peak_mb(pid) for pid in pids}
            started = time.monotonic()
            answer = world.admin.post(
                "/admin/forms",
                files={"xlsx": ("big.xlsx", content, mime)},
                token_from="/admin/forms",
            )
            took = time.monotonic() - started
            spent = _cpu_seconds(pids) - cpu
            grew = max(_peak_mb(pid) - peaks[pid] for pid in pids)
            limit = re.search(r'class="flash flash-error"[^>]*>([^<]+)<', answer.text)
            s.check(
                answer.status_code == 400 and took < 5 and spent < 3 and grew < 150,
                f"{label} ({len(content) / 2**20:.1f} MB): {answer.status_code} in {took:.2f} s, "
                f"{spent:.2f} s CPU, +{grew:.0f} MB"
                + (f" '{limit.group(1).strip()[:60]}'" if limit else ""),
            )
        page = world.admin.get("/admin/forms").text
        s.check("big_form" not in page, "nothing published (big_form not on /admin/forms)")
