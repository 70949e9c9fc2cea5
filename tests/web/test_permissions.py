"""Every route × every kind of caller, with the status each must get.

A route without a rule here fails `test_every_route_has_a_rule`, so a new page cannot ship
without deciding who may reach it. Records of another unit answer 404, never 403.
"""

from __future__ import annotations

import base64
import re

from tests.web.conftest import WebClient, WebDeployment

PRINCIPALS = ("anonymous", "collector", "viewer", "sup_a", "sup_b", "admin")
ALL_200 = dict.fromkeys(PRINCIPALS, 200)


def _web(anonymous: int, viewer: int, sup_a: int, sup_b: int, admin: int) -> dict[str, int]:
    """Web view expectations; a collector token is no web credential (same as anonymous)."""
    return {
        "anonymous": anonymous,
        "collector": anonymous,
        "viewer": viewer,
        "sup_a": sup_a,
        "sup_b": sup_b,
        "admin": admin,
    }


ADMIN_GET = _web(302, 403, 403, 403, 200)
RECORDS_GET = _web(302, 403, 200, 200, 200)
# A record of unit A: its supervisor and admins see it, unit B's supervisor gets 404.
RECORD_A_GET = _web(302, 403, 200, 404, 200)
RECORD_A_POST = _web(302, 403, 302, 404, 302)
SIGNED_IN_ANY = _web(302, 200, 200, 200, 200)
OPENROSA_TOKEN = {**dict.fromkeys(PRINCIPALS, 403), "collector": 200}
OPENROSA_BASIC = dict.fromkeys(PRINCIPALS, 401)
API_NO_TOKEN = dict.fromkeys(PRINCIPALS, 401)

# (endpoint, method) -> expected status per principal. POSTs carry a valid CSRF token and an
# empty form: authorised callers get the form's answer (400 invalid, 302 done).
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("static", "GET"): ALL_200,
    ("openrosa.form_list", "GET"): OPENROSA_TOKEN,
    ("openrosa.form_xml", "GET"): OPENROSA_TOKEN,
    ("openrosa.form_manifest", "GET"): OPENROSA_TOKEN,
    ("openrosa.form_attachment", "GET"): OPENROSA_TOKEN,
    ("openrosa.submission_head", "GET"): {**OPENROSA_TOKEN, "collector": 204},
    ("openrosa.submission_post", "POST"): {**OPENROSA_TOKEN, "collector": 415},
    ("openrosa_basic.form_list", "GET"): OPENROSA_BASIC,
    ("openrosa_basic.form_xml", "GET"): OPENROSA_BASIC,
    ("openrosa_basic.form_manifest", "GET"): OPENROSA_BASIC,
    ("openrosa_basic.form_attachment", "GET"): OPENROSA_BASIC,
    ("openrosa_basic.submission_head", "GET"): OPENROSA_BASIC,
    ("openrosa_basic.submission_post", "POST"): OPENROSA_BASIC,
    ("web.home", "GET"): ALL_200,
    ("web.healthz", "GET"): ALL_200,
    ("web.readyz", "GET"): ALL_200,  # public, names no secret
    ("web.metrics_page", "GET"): dict.fromkeys(PRINCIPALS, 404),  # FIELDCASE_METRICS is off
    ("web.login", "GET"): _web(200, 302, 302, 302, 302),
    ("web.login", "POST"): dict.fromkeys(PRINCIPALS, 400),
    ("web.logout", "POST"): dict.fromkeys(PRINCIPALS, 302),
    ("web.set_language", "POST"): dict.fromkeys(PRINCIPALS, 302),
    ("web.password", "GET"): SIGNED_IN_ANY,
    ("web.password", "POST"): _web(302, 400, 400, 400, 400),
    ("web.case_list", "GET"): RECORDS_GET,
    ("web.case_list", "POST"): RECORDS_GET,
    ("web.case_detail", "GET"): RECORD_A_GET,
    ("web.case_reveal", "POST"): RECORD_A_POST,
    ("web.case_assign", "POST"): RECORD_A_POST,
    ("web.case_unassign", "POST"): RECORD_A_POST,
    # an empty form assigns nothing and says so on the case list
    ("web.case_bulk_assign", "POST"): _web(302, 403, 302, 302, 302),
    ("web.overdue_visits", "GET"): RECORDS_GET,
    ("web.case_consent_change", "POST"): RECORD_A_POST,
    ("web.form_list", "GET"): RECORDS_GET,
    ("web.submission_table", "GET"): RECORDS_GET,
    ("web.submission_detail", "GET"): RECORD_A_GET,
    ("web.submission_review", "POST"): RECORD_A_POST,
    ("web.submission_reveal", "POST"): RECORD_A_POST,
    ("web.submission_file", "GET"): RECORD_A_GET,
    ("web.admin_users", "GET"): ADMIN_GET,
    ("web.admin_users", "POST"): _web(302, 403, 403, 403, 400),
    ("web.admin_user", "GET"): ADMIN_GET,
    # a form without fields keeps the account as it is
    ("web.admin_user", "POST"): _web(302, 403, 403, 403, 302),
    ("web.admin_user_disable", "POST"): _web(302, 403, 403, 403, 302),
    ("web.admin_user_enable", "POST"): _web(302, 403, 403, 403, 302),
    ("web.admin_user_password", "POST"): _web(302, 403, 403, 403, 200),
    ("web.admin_collectors", "GET"): ADMIN_GET,
    ("web.admin_collectors", "POST"): _web(302, 403, 403, 403, 400),
    ("web.admin_collector", "GET"): ADMIN_GET,
    ("web.admin_collector", "POST"): _web(302, 403, 403, 403, 302),
    ("web.admin_collector_revoke", "POST"): _web(302, 403, 403, 403, 302),
    ("web.admin_forms", "GET"): ADMIN_GET,
    ("web.admin_forms", "POST"): _web(302, 403, 403, 403, 400),
    ("web.admin_keys", "GET"): ADMIN_GET,
    ("web.admin_keys_rotate", "POST"): _web(302, 403, 403, 403, 302),
    ("web.admin_queue_retry", "POST"): _web(302, 403, 403, 403, 302),
    ("web.admin_unit_queue", "GET"): ADMIN_GET,
    ("web.audit_log", "GET"): ADMIN_GET,
    ("web.exports_page", "GET"): SIGNED_IN_ANY,
    ("web.export_form_zip", "GET"): RECORDS_GET,
    ("web.export_report_xlsx", "GET"): SIGNED_IN_ANY,
    # Transfers (issue 18): an unknown transfer id is 404 for everyone who may answer one.
    ("web.transfer_list", "GET"): RECORDS_GET,
    ("web.case_transfer", "POST"): RECORD_A_POST,
    ("web.transfer_accept", "POST"): _web(302, 403, 404, 404, 404),
    ("web.transfer_decline", "POST"): _web(302, 403, 404, 404, 404),
    ("web.referral_list", "GET"): RECORDS_GET,
    ("web.case_referral", "POST"): RECORD_A_POST,
    ("web.referral_outcome", "POST"): _web(302, 403, 404, 404, 404),
    ("web.case_same_person", "POST"): RECORD_A_POST,
    # The /v1 API: a web session cookie or a collector's credentials are no API credential
    # (bearer tokens only; roles by token: tests/web/test_central_api.py). Sign-in wants JSON.
    ("api.sign_in", "POST"): dict.fromkeys(PRINCIPALS, 400),
    ("api.sign_out", "DELETE"): API_NO_TOKEN,
    ("api.current_user", "GET"): API_NO_TOKEN,
    ("api.projects", "GET"): API_NO_TOKEN,
    ("api.project", "GET"): API_NO_TOKEN,
    ("api.forms", "GET"): API_NO_TOKEN,
    ("api.form", "GET"): API_NO_TOKEN,
    ("api.submissions", "GET"): API_NO_TOKEN,
    ("api.submissions_zip", "GET"): API_NO_TOKEN,
    ("api.service_document", "GET"): API_NO_TOKEN,
    ("api.metadata", "GET"): API_NO_TOKEN,
    ("api.entity_set", "GET"): API_NO_TOKEN,
    ("api.navigation", "GET"): API_NO_TOKEN,
}
# Run last for each caller, in this order: they revoke the collector or end the session.
LAST = [("web.admin_collector_revoke", "POST"), ("web.logout", "POST")]


def _routes(web: WebDeployment) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every route of the app."""
    found = []
    for rule in web.app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return found


def test_every_route_has_a_rule(web: WebDeployment) -> None:
    missing = [(e, m, r) for e, m, r in _routes(web) if (e, m) not in MATRIX]
    assert not missing, f"routes without a permission rule in MATRIX: {missing}"
    stale = set(MATRIX) - {(e, m) for e, m, _ in _routes(web)}
    assert not stale, f"rules for routes that no longer exist: {stale}"


def _url(rule: str, web: WebDeployment, principal: str) -> str:
    seeded = web.seeded
    values = {
        "token": seeded.collector_token if principal == "collector" else "not-a-valid-token",
        "form_id": "vt01_intake",
        "case_id": str(seeded.case_ids["01-2025-aaaaaa"]),
        "submission_id": str(seeded.submission_ids["01-2025-aaaaaa"]),
        "user_id": str(seeded.user_ids["extra"]),
        "collector_id": str(seeded.collector_id),
        "filename": "fieldcase.css",
        "transfer_id": "999999",
        "referral_id": "999999",
        "project_id": "1",
        "table_name": "Submissions",
        "navigation": "minors",
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[-1]
        if name == "name":
            return "admin_units.csv" if "/c/" in rule or rule.startswith("/forms") else "photo.png"
        return values[name]

    return re.sub(r"<([^>]+)>", replace, rule)


def _client(web: WebDeployment, principal: str) -> WebClient:
    if principal in ("anonymous", "collector"):
        return web.new_client()
    return web.new_client(principal)


def test_permission_matrix(web: WebDeployment) -> None:
    failures = []
    routes = sorted(
        _routes(web), key=lambda r: LAST.index((r[0], r[1])) + 1 if (r[0], r[1]) in LAST else 0
    )
    for principal in PRINCIPALS:
        client = _client(web, principal)
        headers = {}
        if principal == "collector":
            # The collector's token sent as HTTP Basic is no account credential either.
            basic = base64.b64encode(
                f"{web.seeded.collector_name}:{web.seeded.collector_token}".encode()
            ).decode()
            headers["Authorization"] = f"Basic {basic}"
        for number, (endpoint, method, rule) in enumerate(routes):
            if principal == "collector":
                # Each of its failed Basic sign-ins from an address of its own, so the sign-in
                # back-off (tests/web/test_sign_in_guard.py) does not turn a 401 into a 429.
                client.client.environ_base["REMOTE_ADDR"] = f"198.51.{number // 250}.{number % 250}"
            url = _url(rule, web, principal)
            openrosa = endpoint.startswith("openrosa")
            extra = {"X-OpenRosa-Version": "1.0"} if openrosa else {}
            if method == "GET":
                response = client.get(url, headers={**headers, **extra})
            elif method == "DELETE":
                response = client.client.delete(url, headers=headers)
            elif openrosa:
                response = client.client.post(url, data={}, headers={**headers, **extra})
            else:
                response = client.post(url, data={}, headers=headers)
            expected = MATRIX[(endpoint, method)][principal]
            if response.status_code != expected:
                failures.append(
                    f"{principal} {method} {url} ({endpoint}): "
                    f"{response.status_code}, expected {expected}"
                )
    assert not failures, "\n".join(failures)


def test_other_units_case_is_404_not_403(web: WebDeployment) -> None:
    client = web.client("sup_b")
    case_a = web.seeded.case_ids["01-2025-aaaaaa"]
    submission_a = web.seeded.submission_ids["01-2025-aaaaaa"]
    assert client.get(f"/cases/{case_a}").status_code == 404
    assert client.get(f"/submissions/{submission_a}").status_code == 404
    assert client.get(f"/submissions/{submission_a}/files/photo.png").status_code == 404
    # and their own unit's case is there
    case_b = web.seeded.case_ids["02-2025-bbbbbb"]
    assert client.get(f"/cases/{case_b}").status_code == 200
    # an id that does not exist looks the same as another unit's
    assert client.get("/cases/999999").status_code == 404
    # a viewer has no record pages at all: 403 whatever the unit
    assert web.client("viewer").get(f"/cases/{case_a}").status_code == 403


def test_unauthenticated_redirect_keeps_the_path_only(web: WebDeployment) -> None:
    response = web.new_client().get("/cases")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
