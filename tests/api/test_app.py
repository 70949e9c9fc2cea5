"""The app answers, and errors have one shape per kind of client."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_home_page_answers_in_vietnamese(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'lang="vi"' in response.get_data(as_text=True)


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_not_found_as_html(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "404.1" in response.get_data(as_text=True)


def test_not_found_as_json(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json() == {"code": "404.1", "message": "The page was not found."}


def test_not_found_as_openrosa(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"X-OpenRosa-Version": "1.0"})
    assert response.status_code == 404
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    body = response.get_data(as_text=True)
    assert body.startswith('<OpenRosaResponse xmlns="http://openrosa.org/http/response">')
    assert "was not found" in body


def test_security_headers(client: FlaskClient) -> None:
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
