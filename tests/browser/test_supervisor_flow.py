"""A supervisor's day in a real browser (Debian's headless Chromium driven by Playwright).

Serves a seeded deployment with waitress on a free port, then: sign in, approve a submission
with a comment, find a case by a search without diacritics, reveal an identifying field with
a reason, and find that reveal in the audit log as an admin. Screenshots at 360 px and 1280 px
go to test-artifacts/. The server's log is captured and must not contain any identifying
value; the browser must report no Content-Security-Policy violation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.config import sqlite_url
from tests.serving import free_port
from tests.web.builders import IDENTIFYING_VALUES, PASSWORDS
from tests.web.conftest import WebDeployment, build_deployment

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = pytest.mark.browser


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, WebDeployment, _Collect]]:
    """A seeded deployment served over HTTP by waitress, with every log line captured."""
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed (/usr/bin/chromium); "
            "run scripts/browser-deps.sh as root"
        )
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    import waitress

    collect = _Collect()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    data_dir = tmp_path_factory.mktemp("browser")
    (data_dir / "db").mkdir()
    deployment = build_deployment(data_dir / "data", sqlite_url(data_dir / "db"))
    port = free_port()
    server = waitress.create_server(deployment.app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", deployment, collect
    finally:
        server.close()
        thread.join(5)
        deployment.store.dispose()
        root.removeHandler(collect)
        root.setLevel(previous)


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("nav.nav")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"page is {width}px wide in a {viewport}px viewport"


def test_supervisor_flow(served: tuple[str, WebDeployment, _Collect]) -> None:
    from playwright.sync_api import sync_playwright

    base, deployment, collect = served
    submission_id = deployment.seeded.submission_ids["01-2025-aaaaaa"]
    csp_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            for width, height in ((1280, 900), (360, 740)):
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                page.on(
                    "console",
                    lambda m: (
                        csp_errors.append(m.text) if "Content Security Policy" in m.text else None
                    ),
                )
                _sign_in(page, base, "sup_a")
                assert page.locator("html").get_attribute("lang") == "vi"
                _shot(page, f"dashboard-{width}")
                _no_horizontal_scroll(page)

                # Review: approve the intake with a comment.
                page.goto(f"{base}/forms/vt01_intake/submissions")
                _shot(page, f"submissions-{width}")
                page.click(f"a.submission-link[href='/submissions/{submission_id}']")
                page.select_option("#review_state", "approved")
                page.fill("#comment", f"Đã đối chiếu hồ sơ giấy ({width})")
                page.click("#review-form button[type=submit]")
                page.wait_for_selector("#review-state")
                assert page.inner_text("#review-state") == "Đã duyệt"
                assert f"Đã đối chiếu hồ sơ giấy ({width})" in page.content()
                _shot(page, f"submission-{width}")
                _no_horizontal_scroll(page)

                # Search without diacritics, open the case.
                page.goto(f"{base}/cases")
                page.fill("#q", "nguyen thi")
                page.click("#case-search button[type=submit]")
                page.wait_for_selector("#case-table")
                assert "nguyen thi" not in page.url
                table = page.inner_text("#case-table")
                assert "01-2025-aaaaaa" in table
                assert "02-2025-bbbbbb" not in table
                _shot(page, f"case-search-{width}")
                page.click("a.case-link:has-text('01-2025-aaaaaa')")
                page.wait_for_selector("#identifying")
                assert "Nguyễn Thị Lan" not in page.content()

                # Reveal with a reason.
                page.fill("#reason", f"Chuẩn bị thăm gia đình ({width})")
                page.click("#reveal-form button[type=submit]")
                page.wait_for_selector("#identifying .revealed")
                assert "Nguyễn Thị Lan" in page.inner_text("#identifying")
                _shot(page, f"case-revealed-{width}")
                _no_horizontal_scroll(page)
                page.click("#logout")
                page.wait_for_selector("#login-form")
                context.close()

            # The admin finds both reveals in the audit log.
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            _sign_in(page, base, "admin")
            page.goto(f"{base}/admin/audit?action=identifying.reveal")
            audit_text = page.inner_text("#audit-table")
            assert "sup_a" in audit_text
            assert "Chuẩn bị thăm gia đình (1280)" in audit_text
            assert "Chuẩn bị thăm gia đình (360)" in audit_text
            assert "Nguyễn" not in audit_text
            assert "Chain verified" in page.inner_text("#chain-state") or page.inner_text(
                "#chain-state"
            ).startswith("Đã kiểm tra")
            _shot(page, "audit-1280")
            context.close()
        finally:
            browser.close()

    assert not csp_errors, csp_errors
    log_text = "\n".join(collect.lines)
    assert collect.lines, "the server log was not captured"
    leaked = [value for value in IDENTIFYING_VALUES if value in log_text]
    assert not leaked, f"identifying values in the server log: {leaked}"


def test_admin_makes_a_basic_collector_and_a_phone_uses_it(
    served: tuple[str, WebDeployment, _Collect],
) -> None:
    import requests
    from playwright.sync_api import sync_playwright

    base, _deployment, _collect = served
    csp_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(viewport={"width": 360, "height": 740})
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    csp_errors.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            _sign_in(page, base, "admin")
            page.goto(f"{base}/admin/collectors")
            page.fill("#name", "may-xa-04")
            page.fill("#unit", "01")
            page.check("#basic")
            page.click("#collector-create button[type=submit]")
            page.wait_for_selector("#collector-password")
            assert page.locator("html").get_attribute("lang") == "vi"
            assert "Tên đăng nhập" in page.content()
            username = page.inner_text("#collector-username")
            password = page.inner_text("#collector-password")
            server_url = page.inner_text("#collector-url")
            _shot(page, "collector-basic-360")
            _no_horizontal_scroll(page)
            context.close()
        finally:
            browser.close()
    assert not csp_errors, csp_errors
    assert username == "may-xa-04"
    assert server_url == "http://127.0.0.1:8080"  # FIELDCASE_PUBLIC_URL of the test config
    # A phone sends the credentials after the challenge, as ODK Collect does.
    challenge = requests.head(f"{base}/submission", headers={"X-OpenRosa-Version": "1.0"})
    assert challenge.status_code == 401
    listed = requests.get(
        f"{base}/formList",
        auth=(username, password),
        headers={"X-OpenRosa-Version": "1.0"},
        timeout=30,
    )
    assert listed.status_code == 200
    assert "vt01_intake" in listed.text
