"""The /v1 routes: thin — read the request, call server/services/analyst_api.py, render JSON
(or XML for `$metadata`) in the shapes ODK Central gives, so pyodk, ruODK, Excel and Power BI
work unchanged. Rows are streamed one at a time (orjson), never held as a whole page.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Response, g, request

from forms.instance import nfc
from server import errors
from server.api.query import encode_skiptoken, parse_query
from server.app_context import services
from server.clock import utcnow
from server.services import analyst_api
from server.services.analyst_api import PROJECT_ID, FeedForm, FeedTable
from server.services.auth import CurrentUser

log = logging.getLogger("server.api")

bp = Blueprint("api", __name__)
JSON = "application/json; charset=utf-8"
ODATA_JSON = "application/json; charset=utf-8; odata.metadata=minimal"
CHUNK = 256 * 1024


def _json(body: Any, status: int = 200, content_type: str = JSON) -> Response:
    return Response(orjson.dumps(body), status=status, content_type=content_type)


def _is_feed() -> bool:
    return ".svc" in request.path


def _unauthenticated() -> errors.Problem:
    problem = errors.unauthenticated()
    if _is_feed() and services().config.odata_basic:
        return problem  # the Basic challenge Excel and Power BI answer
    return errors.Problem(
        problem.code, problem.message, headers={"WWW-Authenticate": 'Bearer realm="fieldcase"'}
    )


@bp.before_request
def _authenticate() -> None:
    """The user of a bearer token; or of HTTP Basic on the feed, when it is switched on."""
    g.api_user = None
    if request.endpoint == "api.sign_in":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        g.api_user = analyst_api.resume(services().store, credentials.strip(), utcnow())
    elif scheme.lower() == "basic" and _is_feed() and services().config.odata_basic:
        authorization = request.authorization
        if authorization is not None and authorization.type == "basic":
            g.api_user = analyst_api.basic_sign_in(
                services().sign_in,
                services().store,
                authorization.username or "",
                authorization.password or "",
                request.remote_addr or "unknown",
                utcnow(),
            )
    if g.api_user is None:
        raise _unauthenticated()


def _user() -> CurrentUser:
    user: CurrentUser | None = g.get("api_user")
    if user is None:
        raise _unauthenticated()
    return user


def _project(project_id: int) -> None:
    if project_id != PROJECT_ID:
        raise errors.not_found("The project")


# Sessions and users ----------------------------------------------------------------------


@bp.post("/sessions")
def sign_in() -> Response:
    """Name (as `email`, as Central has it) and password -> a bearer token."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise errors.bad_request('Send JSON: {"email": ..., "password": ...}.')
    username, password = body.get("email"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise errors.bad_request('Send JSON: {"email": ..., "password": ...}.')
    if len(username) > 200 or len(password) > 1000:
        raise errors.login_failed()
    session = analyst_api.sign_in(
        services().store,
        services().sign_in,
        username,
        password,
        request.remote_addr or "unknown",
        utcnow(),
    )
    return _json(
        {
            "token": session.token,
            "createdAt": analyst_api.iso(session.created_at),
            "expiresAt": analyst_api.iso(session.expires_at),
        }
    )


@bp.delete("/sessions/<token>")
def sign_out(token: str) -> Response:
    """End one's own token."""
    if not analyst_api.end_token(services().store, _user(), token, utcnow()):
        raise errors.not_found("The session")
    return _json({"success": True})


@bp.get("/users/current")
def current_user() -> Response:
    """Who the token belongs to (pyodk checks a cached token with this)."""
    return _json(analyst_api.user_json(services().store, _user()))


# Projects and forms ----------------------------------------------------------------------


@bp.get("/projects")
def projects() -> Response:
    """The deployment's one project."""
    _user()
    return _json(analyst_api.projects_json(services().store, services().config.project_name))


@bp.get("/projects/<int:project_id>")
def project(project_id: int) -> Response:
    """The one project."""
    _user()
    _project(project_id)
    return _json(analyst_api.projects_json(services().store, services().config.project_name)[0])


@bp.get("/projects/<int:project_id>/forms")
def forms(project_id: int) -> Response:
    """The published forms."""
    _project(project_id)
    return _json(analyst_api.forms_json(services().store, _user()))


@bp.get("/projects/<int:project_id>/forms/<form_id>")
def form(project_id: int, form_id: str) -> Response:
    """One form."""
    _project(project_id)
    return _json(analyst_api.forms_json(services().store, _user(), nfc(form_id))[0])


@bp.get("/projects/<int:project_id>/forms/<form_id>/submissions")
def submissions(project_id: int, form_id: str) -> Response:
    """The submissions as Central's REST list (metadata only, no data), in the user's units."""
    _project(project_id)
    user = _user()
    feed, table = _feed(form_id, "Submissions")
    page = analyst_api.feed_rows(services().store, user, feed, table, analyst_api.FeedQuery())
    rows = page.rows
    assert rows is not None

    def items() -> Iterator[bytes]:
        yield b"["
        for n, (_cursor, row) in enumerate(rows):
            system = row["__system"]
            item = {
                "instanceId": row["__id"],
                "submitterId": int(system["submitterId"] or 0),
                "deviceId": None,
                "createdAt": system["submissionDate"],
                "updatedAt": None,
                "reviewState": system["reviewState"],
            }
            yield (b"," if n else b"") + orjson.dumps(item)
        yield b"]"

    return Response(items(), content_type=JSON)


@bp.get("/projects/<int:project_id>/forms/<form_id>/submissions.csv.zip")
def submissions_zip(project_id: int, form_id: str) -> Response:
    """The CSV export (exports/submissions.py) of the user's units, as the web download."""
    _project(project_id)
    user = _user()
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response stream
    try:
        analyst_api.csv_zip(services().store, user, nfc(form_id), handle)
    except LookupError:
        handle.close()
        raise errors.form_not_found(nfc(form_id)) from None
    except BaseException:
        handle.close()
        raise

    def stream() -> Iterator[bytes]:
        try:
            handle.seek(0)
            while chunk := handle.read(CHUNK):
                yield chunk
        finally:
            handle.close()

    response = Response(stream(), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{nfc(form_id)}.zip"'
    return response


# OData -----------------------------------------------------------------------------------


def _feed(form_id: str, table_name: str | None = None) -> tuple[FeedForm, FeedTable]:
    feed = analyst_api.open_feed(services().store, _user(), nfc(form_id))
    return feed, analyst_api.feed_table(feed, table_name or "Submissions")


def _service_root(form_id: str) -> str:
    return f"{services().config.public_url}/v1/projects/{PROJECT_ID}/forms/{form_id}.svc"


@bp.get("/projects/<int:project_id>/forms/<form_id>.svc")
@bp.get("/projects/<int:project_id>/forms/<form_id>.svc/")
def service_document(project_id: int, form_id: str) -> Response:
    """The OData service document: one entity set per table."""
    _project(project_id)
    user = _user()
    feed, _ = _feed(form_id)
    analyst_api.record_call(services().store, user, "service", feed.form_id, None, None, None)
    body = {
        "@odata.context": f"{_service_root(feed.form_id)}/$metadata",
        "value": [
            {"kind": "EntitySet", "name": table.type_name, "url": table.name}
            for table in feed.tables.values()
        ],
    }
    return _json(body, content_type=ODATA_JSON)


@bp.get("/projects/<int:project_id>/forms/<form_id>.svc/$metadata")
def metadata(project_id: int, form_id: str) -> Response:
    """The CSDL of the feed."""
    _project(project_id)
    user = _user()
    feed, _ = _feed(form_id)
    analyst_api.record_call(services().store, user, "metadata", feed.form_id, None, None, None)
    return Response(analyst_api.metadata_xml(feed), content_type="application/xml; charset=utf-8")


ONE_SUBMISSION = re.compile(r"^Submissions\('(.{1,200})'\)$")


@bp.get("/projects/<int:project_id>/forms/<form_id>.svc/<table_name>")
def entity_set(project_id: int, form_id: str, table_name: str) -> Response:
    """The rows of one entity set, streamed, with `@odata.nextLink` when `$top` cut them;
    `Submissions('<instanceID>')` is that submission's row (if the user may see it)."""
    _project(project_id)
    one = ONE_SUBMISSION.match(table_name)
    if one is not None:
        return _rows(form_id, "Submissions", one.group(1).replace("''", "'"), None)
    return _rows(form_id, table_name, None, None)


@bp.get("/projects/<int:project_id>/forms/<form_id>.svc/<table_name>/<path:navigation>")
def navigation(project_id: int, form_id: str, table_name: str, navigation: str) -> Response:
    """`Submissions('<instanceID>')/<repeat>`: one submission's rows of a repeat (where the
    rows' `@odata.navigationLink`s point)."""
    _project(project_id)
    one = ONE_SUBMISSION.match(table_name)
    if one is None:
        raise errors.not_found("The entity set")
    return _rows(form_id, None, one.group(1).replace("''", "'"), navigation)


def _rows(
    form_id: str, table_name: str | None, instance_id: str | None, navigation: str | None
) -> Response:
    user = _user()
    feed, table = _feed(form_id, table_name)
    if navigation is not None:
        table = analyst_api.child_table(feed, navigation)
    query, select = parse_query(request.args)
    if instance_id is not None:
        query = dataclasses.replace(query, instance_id=instance_id)
    selector = analyst_api.selector(table, select)
    page = analyst_api.feed_rows(services().store, user, feed, table, query, encoded=select is None)
    context = f"{_service_root(feed.form_id)}/$metadata#{table.name}"
    head: dict[str, Any] = {"@odata.context": context}
    if page.total is not None:
        head["@odata.count"] = page.total

    # Read now: the body is sent after the request context has gone.
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("$skip", "$skiptoken")]
    base = f"{_service_root(feed.form_id)}/{request.path.split('.svc/', 1)[1]}"

    def next_link(cursor: analyst_api.Cursor) -> str:
        return f"{base}?{urlencode([*kept, ('$skiptoken', encode_skiptoken(cursor))])}"

    def encoded() -> Iterator[tuple[analyst_api.Cursor, bytes]]:
        if page.bodies is not None:
            yield from page.bodies  # whole rows, already JSON
            return
        assert page.rows is not None
        for cursor, row in page.rows:
            yield cursor, orjson.dumps(selector(row))

    def body() -> Iterator[bytes]:
        # Rows are sent in chunks of about CHUNK bytes: one write per row would cost a
        # system call (and a chunk header) for each. The page holds the rows counted for it
        # and no more; `page.more` says whether a next page follows.
        buffer = [orjson.dumps(head)[:-1] + b',"value":[']
        size = 0
        last = None
        for sent, (cursor, row) in enumerate(encoded()):
            buffer.append(b"," + row if sent else row)
            size += len(row)
            last = cursor
            if size >= CHUNK:
                yield b"".join(buffer)
                buffer, size = [], 0
        buffer.append(b"]")
        if page.more and last is not None:
            buffer.append(b',"@odata.nextLink":' + orjson.dumps(next_link(last)))
        buffer.append(b"}")
        yield b"".join(buffer)

    return Response(body(), content_type=ODATA_JSON)
