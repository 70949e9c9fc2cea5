"""A phone's evil.html and evil.js in a real browser: the script must not run (issue 13, item 1).

A phone sends evil.html (which loads evil.js), evil.js, an SVG that loads it, an HTML file named
photo.jpg, a JPEG/HTML polyglot and a real JPEG (drawn by the browser itself), in a plain and an
encrypted submission. An admin opens each one from the submission page and by its URL. The
scripts would fetch /admin/users and then /pwned: no script request and no /pwned may be seen,
the non-media files must arrive as downloads, and the real JPEG must still be shown.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.config import sqlite_url
from tests.phone_files import (
    EVIL_HTML,
    EVIL_JS,
    EVIL_SVG,
    HTML_NAMED_JPG,
    POLYGLOT_JPEG,
    send_files,
)
from tests.serving import free_port
from tests.web.builders import PASSWORDS
from tests.web.conftest import WebDeployment, build_deployment

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser
DOWNLOADS = ("evil.html", "evil.js", "drawing.svg", "photo.jpg")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, WebDeployment]]:
    """A seeded deployment served over HTTP by waitress."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    import waitress

    data_dir = tmp_path_factory.mktemp("browser-files")
    (data_dir / "db").mkdir()
    deployment = build_deployment(data_dir / "data", sqlite_url(data_dir / "db"))
    port = free_port()
    server = waitress.create_server(deployment.app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", deployment
    finally:
        server.close()
        thread.join(5)
        deployment.store.dispose()


def _real_jpeg(page) -> bytes:
    """An 8x8 JPEG encoded by Chromium's own canvas."""
    data_url = page.evaluate(
        """() => {
            const canvas = document.createElement('canvas');
            canvas.width = 8; canvas.height = 8;
            const context = canvas.getContext('2d');
            context.fillStyle = '#c0392b'; context.fillRect(0, 0, 8, 8);
            return canvas.toDataURL('image/jpeg', 0.9);
        }"""
    )
    return base64.b64decode(data_url.split(",", 1)[1])


def _recording(page) -> bytes:
    """One second of a tone, recorded by Chromium's MediaRecorder as audio/mp4."""
    data = page.evaluate(
        """async () => {
            const context = new AudioContext();
            const tone = context.createOscillator();
            const sink = context.createMediaStreamDestination();
            tone.connect(sink);
            tone.start();
            const recorder = new MediaRecorder(sink.stream, {mimeType: 'audio/mp4'});
            const chunks = [];
            recorder.ondataavailable = event => chunks.push(event.data);
            const stopped = new Promise(done => { recorder.onstop = done; });
            recorder.start();
            await new Promise(done => setTimeout(done, 1000));
            recorder.stop();
            await stopped;
            const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
            let text = '';
            bytes.forEach(byte => { text += String.fromCharCode(byte); });
            return btoa(text);
        }"""
    )
    return base64.b64decode(data)


def _audio_duration(page, url: str) -> float:
    """The duration an <audio> element of the current page reads from `url` (-1: error)."""
    return page.evaluate(
        """url => new Promise(done => {
            const audio = new Audio();
            audio.onloadedmetadata = () => done(audio.duration);
            audio.onerror = () => done(-1);
            audio.src = url;
        })""",
        url,
    )


def _image_width(page, url: str) -> int:
    """naturalWidth of `url` loaded as an <img> from the current page (-1: not an image)."""
    return page.evaluate(
        """url => new Promise(done => {
            const image = new Image();
            image.onload = () => done(image.naturalWidth);
            image.onerror = () => done(-1);
            image.src = url;
        })""",
        url,
    )


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_phones_script_never_runs_in_the_admins_browser(
    served: tuple[str, WebDeployment], encrypted: bool
) -> None:
    from playwright.sync_api import Error, sync_playwright

    base, deployment = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            jpeg = _real_jpeg(page)
            recording = _recording(page)
            submission_id = send_files(
                deployment,
                {
                    "evil.html": EVIL_HTML,
                    "evil.js": EVIL_JS,
                    "drawing.svg": EVIL_SVG,
                    "photo.jpg": HTML_NAMED_JPG,
                    "polyglot.jpg": POLYGLOT_JPEG,
                    "1712345678901.jpg": jpeg,
                    "1712345678901_0.m4a": recording,
                },
                encrypted,
            )
            scripts: list[str] = []
            context.on(
                "request",
                lambda r: (
                    scripts.append(r.url)
                    if (r.resource_type == "script" and "/files/" in r.url) or "/pwned" in r.url
                    else None
                ),
            )
            page.goto(f"{base}/login")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORDS["admin"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("nav.nav")
            files = f"{base}/submissions/{submission_id}/files"

            # From the submission page, each link is a download, never a page.
            for name in DOWNLOADS:
                page.goto(f"{base}/submissions/{submission_id}")
                with page.expect_download(timeout=10_000) as download:
                    page.click(f"a:text-is('{name}')")
                assert download.value.suggested_filename == name
                assert page.url == f"{base}/submissions/{submission_id}"
                assert page.title() != "pwned"

            # Typed into the address bar (or linked from elsewhere): a download too.
            for name in DOWNLOADS:
                tab = context.new_page()
                # goto fails with "Download is starting": the navigation became a download.
                with tab.expect_download(timeout=10_000) as download, contextlib.suppress(Error):
                    tab.goto(f"{files}/{name}")
                assert download.value.suggested_filename == name
                tab.close()

            # The polyglot is only ever an image: broken, and its HTML never runs.
            page.goto(f"{files}/polyglot.jpg")
            assert page.evaluate("document.contentType") == "image/jpeg"
            assert page.evaluate("document.images.length && document.images[0].naturalWidth") == 0

            # The real JPEG is still shown: in its own tab and inside a page of the site.
            page.goto(f"{files}/1712345678901.jpg")
            assert page.evaluate("document.contentType") == "image/jpeg"
            assert page.evaluate("document.images[0].naturalWidth") == 8
            page.goto(f"{base}/submissions/{submission_id}")
            assert _image_width(page, f"{files}/1712345678901.jpg") == 8
            assert _image_width(page, f"{files}/drawing.svg") == -1
            # Recordings play in a player of a page of the site (the file's own sandbox policy
            # applies only where the file would be a document: Chromium then blocks its player).
            assert _audio_duration(page, f"{files}/1712345678901_0.m4a") > 0.5
            served_as = page.evaluate(
                "url => fetch(url).then(r => r.headers.get('content-type'))",
                f"{files}/1712345678901_0.m4a",
            )
            assert served_as in ("audio/mp4", "video/mp4")

            page.wait_for_timeout(500)  # a script that had started would have fetched by now
            assert scripts == []
            context.close()
        finally:
            browser.close()
