"""Vietnamese by default, English on request, every message translated; CSP without inline
script or style on every page."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.web.i18n import TRANSLATIONS_DIR, compile_catalogues
from tests.web.conftest import WebDeployment

ROOT = Path(__file__).resolve().parents[2]
METHOD_MAP = [("server/**.py", "python"), ("server/web/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}


def _extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), METHOD_MAP, keywords=KEYWORDS, options_map={"**.html": {}}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_vietnamese_translation() -> None:
    with (TRANSLATIONS_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(_extracted() - translated)
    assert not missing, (
        "untranslated messages (run pybabel extract/update, see docs/web.md): " + repr(missing)
    )


def test_catalogues_compile_from_a_clean_tree(tmp_path: Path) -> None:
    source = tmp_path / "translations"
    (source / "vi" / "LC_MESSAGES").mkdir(parents=True)
    po = TRANSLATIONS_DIR / "vi" / "LC_MESSAGES" / "messages.po"
    (source / "vi" / "LC_MESSAGES" / "messages.po").write_bytes(po.read_bytes())
    assert compile_catalogues(source) == source
    assert (source / "vi" / "LC_MESSAGES" / "messages.mo").stat().st_size > 1000


def test_vietnamese_by_default_english_on_request(web: WebDeployment) -> None:
    client = web.new_client()
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="vi">' in page
    assert "Đăng nhập" in page
    assert client.post("/lang", {"lang": "en", "next": "/login"}).headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Sign in" in page
    # the choice survives signing in
    client.login("sup_a", "password-of-sup-a")
    assert "Cases" in client.get("/cases").get_data(as_text=True)
    client.post("/lang", {"lang": "xx", "next": "https://evil.example/"})
    assert '<html lang="en">' in client.get("/cases").get_data(as_text=True)


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ATTR = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)
HANDLER_ATTR = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
JS_URL = re.compile(r"javascript:", re.IGNORECASE)


def _admin_pages(web: WebDeployment) -> list[str]:
    seeded = web.seeded
    values = {
        "case_id": seeded.case_ids["01-2025-aaaaaa"],
        "submission_id": seeded.submission_ids["01-2025-aaaaaa"],
        "user_id": seeded.user_ids["extra"],
        "collector_id": seeded.collector_id,
        "form_id": "vt01_intake",
    }
    pages = []
    for rule in web.app.url_map.iter_rules():
        if not rule.endpoint.startswith("web.") or "GET" not in (rule.methods or ()):
            continue
        url = rule.rule
        for name, value in values.items():
            url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
        if "<" not in url:
            pages.append(url)
    return pages


def test_no_inline_script_or_style_anywhere(web: WebDeployment) -> None:
    admin = web.client("admin")
    checked = 0
    for url in [*_admin_pages(web), "/?period=2025", "/no-such-page"]:
        response = admin.get(url)
        if not response.content_type.startswith("text/html"):
            continue
        html = response.get_data(as_text=True)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp, url
        assert "unsafe-inline" not in csp, url
        assert not INLINE_SCRIPT.search(html), url
        assert not STYLE_ATTR.search(html), url
        assert not HANDLER_ATTR.search(html), url
        assert not JS_URL.search(html), url
        checked += 1
    assert checked >= 12
    # the collector QR code page (an inline SVG) too
    response = admin.post("/admin/collectors", {"name": "phone-csp", "unit": "01"})
    assert response.status_code == 200  # the page that shows the QR code, not a refusal
    created = response.get_data(as_text=True)
    assert "<svg" in created
    assert not INLINE_SCRIPT.search(created)
    assert not STYLE_ATTR.search(created)


def test_static_files_are_served_by_the_app(web: WebDeployment) -> None:
    client = web.new_client()
    css = client.get("/static/fieldcase.css")
    js = client.get("/static/fieldcase.js")
    assert css.status_code == js.status_code == 200
    assert "javascript" in js.headers["Content-Type"]
