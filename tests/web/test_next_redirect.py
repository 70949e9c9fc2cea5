"""After sign-in (and the language switch) the browser goes to `next` only when it is a path
on this site: never to another site, never a 500."""

from __future__ import annotations

import html
import re

import pytest

from server.web.access import safe_next
from tests.web.conftest import WebDeployment, csrf_of

HOSTILE = [
    "/\t/evil.example/phish",  # the review's case: the tab is dropped, "//evil" remains
    "/%09/evil.example/phish",  # the same, still percent-encoded
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/%0a/evil.example",
    "//evil.example/steal",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%5Cevil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "%2F%2Fevil.example",
    "https://evil.example/",
    "https:evil.example",
    "HTTPS://evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\uff0f\uff0fevil.example",  # fullwidth solidus
    "/%EF%BC%8F%EF%BC%8Fevil.example",  # the same, percent-encoded
    "/\u2215evil.example",  # division slash
    "/\u29f5evil.example",  # reverse solidus operator
    "evil.example",
    "cases",
    "./cases",
    "?next=//evil.example",
    "#//evil.example",
    "",
]

ORDINARY = [
    ("/", "/"),
    ("/cases", "/cases"),
    ("/cases?status=open&unit=01", "/cases?status=open&unit=01"),
    ("/submissions/12", "/submissions/12"),
    ("/submissions?form=vt01_intake&q=a%20b#top", "/submissions?form=vt01_intake&q=a%20b#top"),
    (" /cases ", "/cases"),  # whitespace around is dropped
    ("/ca\u200bses", "/cases"),  # and invisible format characters inside
    # A newline made a 500 (it cannot go in a header); stripped, what is left stays here.
    ("\n/cases", "/cases"),
    ("/cases\r\nSet-Cookie: x=y", "/casesSet-Cookie:x=y"),
]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_targets_give_the_default(target: str) -> None:
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize(("target", "expected"), ORDINARY)
def test_paths_on_this_site_are_kept(target: str, expected: str) -> None:
    assert safe_next(target, "/home") == expected


def _login_with_next(web: WebDeployment, target: str) -> str:
    client = web.new_client()
    response = client.client.post(
        "/login",
        data={
            "username": "sup_a",
            "password": "password-of-sup-a",
            "csrf_token": client.token(),
            "next": target,
        },
    )
    assert response.status_code == 302, (target, response.status_code)
    return response.headers["Location"]


@pytest.mark.parametrize("target", ["/\t/evil.example/phish", "/\n/x", "//evil.example", "/\\e"])
def test_sign_in_never_sends_the_browser_away(web: WebDeployment, target: str) -> None:
    assert _login_with_next(web, target) == "/"


def test_a_newline_in_next_is_no_server_error(web: WebDeployment) -> None:
    location = _login_with_next(web, "/cases\r\nSet-Cookie: planted=1")
    assert location == "/casesSet-Cookie:planted=1"


def test_sign_in_goes_back_to_the_page_asked_for(web: WebDeployment) -> None:
    assert _login_with_next(web, "/cases?status=open") == "/cases?status=open"


def _hidden_next(page: str) -> str | None:
    form = page[page.find('id="login-form"') :]  # not the language switch's own `next`
    match = re.search(r'<input[^>]*name="next"[^>]*value="([^"]*)"', form)
    return html.unescape(match.group(1)) if match else None


def _sign_in_from_the_page(web: WebDeployment, query: str) -> str:
    """A browser opening /login?next=..., then sending the sign-in form as the page has it."""
    client = web.new_client()
    page = client.client.get(f"/login{query}").get_data(as_text=True)
    response = client.client.post(
        "/login",
        data={
            "username": "sup_a",
            "password": "password-of-sup-a",
            "csrf_token": csrf_of(page),
            "next": _hidden_next(page) or "",
        },
    )
    assert response.status_code == 302
    return response.headers["Location"]


def test_the_login_page_keeps_the_next_of_its_link(web: WebDeployment) -> None:
    # Where a timed-out session sends the browser (test_permissions): back there after sign-in.
    page = web.new_client().get("/login?next=/cases%3Fstatus%3Dopen").get_data(as_text=True)
    assert _hidden_next(page) == "/cases?status=open"
    assert _sign_in_from_the_page(web, "?next=/cases%3Fstatus%3Dopen") == "/cases?status=open"


def test_the_query_next_of_the_login_page_is_checked_too(web: WebDeployment) -> None:
    # GET /login?next=... fills the hidden field; a hostile one is refused when posted.
    page = web.new_client().get("/login?next=/%09/evil.example/phish").get_data(as_text=True)
    assert _hidden_next(page) == "/\t/evil.example/phish"
    assert _sign_in_from_the_page(web, "?next=/%09/evil.example/phish") == "/"


def test_the_language_switch_stays_on_the_site(web: WebDeployment) -> None:
    client = web.new_client()
    for target in ("/\t/evil.example", "https://evil.example", "/%2F%2Fevil.example"):
        response = client.post("/lang", {"lang": "en", "next": target})
        assert response.status_code == 302
        assert response.headers["Location"] == "/"
