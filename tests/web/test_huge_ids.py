"""Ids and cursors beyond the database's integers answer 404 / 400, never 500, on every route.

The routes are found from the URL map, so a new `<int:...>` route is covered without being
listed here.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from server.urls import MAX_ID
from tests.web.conftest import WebDeployment

HUGE = ["99999999999999999999999", str(MAX_ID + 1), str(2**63)]


def _int_rules(web: WebDeployment) -> list[tuple[str, str, list[str]]]:
    """(rule, method, names of its integer parts) of every route with an integer in its path."""
    found = []
    for rule in web.app.url_map.iter_rules():
        converters = rule._converters.items()  # Werkzeug has no public view of them
        ints = [name for name, kind in converters if isinstance(kind, IntegerConverter)]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}) if ints else []:
            found.append((rule.rule, method, ints))
    return found


def test_every_id_route_is_bounded(web: WebDeployment) -> None:
    rules = _int_rules(web)
    assert len(rules) >= 10, rules  # cases, submissions, files, users, collectors...
    admin = web.client("admin")
    for rule, method, names in rules:
        for huge in HUGE:
            url = rule
            for name in names:
                url = url.replace(f"<int:{name}>", huge)
            url = url.replace("<name>", "x")
            response = admin.get(url) if method == "GET" else admin.post(url, {})
            assert response.status_code == 404, (method, url, response.status_code)
    # the largest id there can be is a plain miss
    assert admin.get(f"/cases/{MAX_ID}").status_code == 404


@pytest.mark.parametrize("huge", HUGE + ["²", "-1", "1e9", " 12 x"])
def test_cursors_out_of_range_answer_400(web: WebDeployment, huge: str) -> None:
    admin = web.client("admin")
    form_id = "vt01_intake"
    for url in (
        f"/admin/audit?before={huge}",
        f"/admin/unit-queue?before={huge}",
        f"/forms/{form_id}/submissions?before={huge}",
        f"/forms/{form_id}/submissions?collector={huge}",
    ):
        assert admin.get(url).status_code == 400, url
    assert admin.post("/cases", {"after": huge}).status_code == 400
    assert admin.post("/cases", {"after": f"2025-01-01:{huge}", "sort": "due"}).status_code == 400
    # and a cursor that is an id still pages
    assert admin.get("/admin/audit?before=5").status_code == 200
    assert admin.get("/admin/unit-queue?before=5").status_code == 200
    assert admin.post("/cases", {"after": "5"}).status_code == 200
