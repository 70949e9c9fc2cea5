"""What the /v1 API (server/api/) does for analysts' tools: sign-in and bearer tokens, the one
project, the forms, and the OData feed of decrypted, de-identified rows, audited per call.

Rules (docs/api.md):

- `POST /v1/sessions` goes through the one sign-in guard (server/services/sign_in.py) on
  channel `api`: the same back-off, the same audit of failures; web accounts only, enabled.
  The token is random; only its SHA-256 is stored (`api_tokens`); it lasts `TOKEN_LIFETIME`.
- HTTP Basic on the feed (Excel, Power BI) only when FIELDCASE_ODATA_BASIC=1, on channel
  `odata-basic` of the same guard.
- Only admins and supervisors read forms and rows (viewers see aggregate figures only: 403),
  and only inside their units. The feed's columns and rows are the CSV export's
  (exports/odata.py): no identifying (P3) column ever; superseded and undecrypted left out.
- Every call is audited (`api.read`) with the user, the form, the entity set, the filter as
  parsed and the number of rows; a failed sign-in is audited by the guard.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from exports import odata
from exports.odata import Cursor, FeedForm, FeedTable
from server import errors
from server.services import consent, downloads
from server.services.auth import WEB_ROLES, CurrentUser, aware, current_user_of
from server.services.sign_in import PasswordSignIn, SignInAccount, SignInAttempt
from server.store import api_tokens as token_store
from server.store import audit
from server.store import forms as form_store
from server.store import users as user_store
from server.store.db import Store
from server.store.scope import UnitScope
from server.store.submissions import MetaCondition, MetaLogic, MetaTest, SubmissionFilter

__all__ = [
    "CHANNEL_API",
    "CHANNEL_ODATA_BASIC",
    "Cursor",
    "FeedForm",
    "FeedTable",
    "MetaCondition",
    "MetaLogic",
    "MetaTest",
]

CHANNEL_API = "api"
CHANNEL_ODATA_BASIC = "odata-basic"
TOKEN_LIFETIME = timedelta(hours=24)
TOKEN_BYTES = 48
PROJECT_ID = 1
REVIEW_STATES_BY_NAME = {v: k for k, v in odata.REVIEW_STATE_NAMES.items() if v is not None}


def token_digest(token: str) -> str:
    """What is stored for a bearer token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def may_use_the_api(account: SignInAccount) -> str | None:
    """Why an account may not sign in to the /v1 API, or None: enabled web accounts only
    (collectors send submissions with Collect; they read nothing back)."""
    if account.role not in WEB_ROLES:
        return "not a web account"
    if account.disabled:
        return "disabled"
    return None


@dataclass(frozen=True)
class ApiSession:
    """A new bearer token and when it ends."""

    token: str
    created_at: datetime
    expires_at: datetime


def sign_in(
    store: Store, guard: PasswordSignIn, username: str, password: str, client: str, now: datetime
) -> ApiSession:
    """Check a name and password from `client` and give a bearer token; 401.2 when wrong,
    429.1 while backed off, exactly as the web sign-in."""
    outcome = guard.attempt(
        SignInAttempt(CHANNEL_API, username, password, client), may_use_the_api, now
    )
    if outcome.retry_after:
        raise errors.too_many_attempts(outcome.retry_after)
    account = outcome.account
    if account is None:
        raise errors.login_failed()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + TOKEN_LIFETIME
    with store.session() as session:
        user = user_store.by_id(session, account.user_id)
        if user is None or user.password_hash != account.password_hash:
            raise errors.login_failed()  # changed since the check: that password is stale
        token_store.add(session, token_digest(token), user.id, now, expires)
        audit.append(session, user.username, "login", f"user:{user.id}", {"channel": CHANNEL_API})
    return ApiSession(token, now, expires)


def resume(store: Store, token: str, now: datetime) -> CurrentUser | None:
    """The user of a bearer token, or None when it is unknown, ended, expired or the account
    is disabled."""
    if not token or len(token) > 200:
        return None
    with store.session() as session:
        found = token_store.by_token_sha256(session, token_digest(token))
        if found is None or found.ended_at is not None:
            return None
        if aware(found.expires_at) <= now:
            token_store.end(session, found, "expired", now)
            return None
        user = user_store.by_id(session, found.user_id)
        if user is None or user.disabled_at is not None or user.role not in WEB_ROLES:
            token_store.end(session, found, "disabled", now)
            return None
        return current_user_of(user, user_store.units_of(session, user.id), -found.id)


def end_token(store: Store, user: CurrentUser, token: str, now: datetime) -> bool:
    """Sign out: end this token if it is the user's own; False when it is not."""
    with store.session() as session:
        found = token_store.by_token_sha256(session, token_digest(token))
        if found is None or found.user_id != user.id or found.ended_at is not None:
            return False
        token_store.end(session, found, "logout", now)
        audit.append(session, user.username, "logout", f"user:{user.id}", {"channel": "api"})
        return True


def basic_sign_in(
    guard: PasswordSignIn, store: Store, username: str, password: str, client: str, now: datetime
) -> CurrentUser:
    """A web account by HTTP Basic on the feed (FIELDCASE_ODATA_BASIC=1), under the guard;
    401.1 (with the Basic challenge Excel and Power BI answer) when refused."""
    outcome = guard.attempt(
        SignInAttempt(CHANNEL_ODATA_BASIC, username, password, client),
        may_use_the_api,
        now,
        remember=True,
    )
    if outcome.retry_after:
        raise errors.too_many_attempts(outcome.retry_after)
    if outcome.account is None:
        raise errors.unauthenticated()
    with store.reader() as session:
        user = user_store.by_id(session, outcome.account.user_id)
        if user is None or user.disabled_at is not None or user.role not in WEB_ROLES:
            raise errors.unauthenticated()
        return current_user_of(user, user_store.units_of(session, user.id), 0)


def require_records(user: CurrentUser) -> None:
    """403.1 for viewers: they see aggregate figures only, never rows or forms."""
    if not user.sees_records:
        raise errors.forbidden("Viewers see aggregate figures only; the API gives rows.")


# What it reads --------------------------------------------------------------------------


def user_json(store: Store, user: CurrentUser) -> dict[str, Any]:
    """The signed-in user as Central's `GET /v1/users/current` gives it."""
    with store.reader() as session:
        found = user_store.by_id(session, user.id)
        created = found.created_at if found is not None else None
    return {
        "id": user.id,
        "type": "user",
        "displayName": user.username,
        "email": user.username,
        "createdAt": _iso(created),
        "updatedAt": None,
        "deletedAt": None,
    }


def projects_json(store: Store, project_name: str) -> list[dict[str, Any]]:
    """The deployment's one project (id 1), as Central's project list."""
    with store.reader() as session:
        forms = form_store.all_forms(session)
        created = min((f.created_at for f in forms), default=None)
    return [
        {
            "id": PROJECT_ID,
            "name": project_name,
            "description": None,
            "archived": False,
            "keyId": None,
            "createdAt": _iso(created) or "1970-01-01T00:00:00.000Z",
            "updatedAt": None,
            "deletedAt": None,
        }
    ]


def forms_json(store: Store, user: CurrentUser, form_id: str | None = None) -> list[dict[str, Any]]:
    """The published forms (or the one named) as Central's form list; audited."""
    require_records(user)
    found = []
    with store.reader() as session:
        for form in form_store.all_forms(session):
            if form_id is not None and form.xml_form_id != form_id:
                continue
            version = form_store.current_version(session, form.id)
            if version is None:
                continue
            found.append(
                {
                    "projectId": PROJECT_ID,
                    "xmlFormId": form.xml_form_id,
                    "name": form.title,
                    "version": version.version,
                    "enketoId": None,
                    "hash": version.md5,
                    "keyId": None,
                    "state": "open",
                    "publishedAt": _iso(version.published_at),
                    "createdAt": _iso(form.created_at),
                    "updatedAt": None,
                }
            )
    if form_id is not None and not found:
        raise errors.form_not_found(form_id)
    record_call(store, user, "forms", form_id, None, None, len(found))
    return found


def open_feed(store: Store, user: CurrentUser, form_id: str) -> FeedForm:
    """The feed of a form for a user who may read rows; 403.1 for viewers, 404 when unknown."""
    require_records(user)
    try:
        return odata.load_feed(store, form_id)
    except LookupError:
        raise errors.form_not_found(form_id) from None


def render_feed_bodies(store: Store, form_id: str | None = None) -> dict[str, int]:
    """Render now the stored feed bodies the published forms (or the one named) lack, so that
    the first analyst read after an upgrade or a publish is not the one that renders them
    (docs/api.md, "Stored row bodies"). Returns the rows with a body, per form. LookupError
    when the form named is not published."""
    with store.reader() as session:
        names = [f.xml_form_id for f in form_store.all_forms(session)]
    if form_id is not None:
        if form_id not in names:
            raise LookupError(f"no form {form_id!r} is published")
        names = [form_id]
    done: dict[str, int] = {}
    for name in names:
        try:
            feed = odata.load_feed(store, name)
        except (LookupError, ValueError):
            if form_id is not None:
                raise LookupError(f"form {form_id!r} has no feed") from None
            continue  # no version published, or no feed (a form without a primary instance)
        odata.delete_stale_bodies(store, feed, limit=None)
        odata.render_missing(store, feed)
        # Every row the feed could give has its body now.
        done[name] = odata.count(store, UnitScope.all_units(), feed, feed.main, SubmissionFilter())
    return done


def child_table(feed: FeedForm, relative: str) -> FeedTable:
    """The repeat set reached from `Submissions` by a navigation path (`minors`,
    `group/repeat`); 404 when there is none."""
    for table in feed.tables.values():
        if table.parent is feed.main and table.relative == relative:
            return table
    raise errors.not_found("The entity set")


def feed_table(feed: FeedForm, name: str) -> FeedTable:
    """The entity set of a URL name; 404 when the form has no such table."""
    table = feed.table(name)
    if table is None:
        raise errors.not_found("The entity set")
    return table


@dataclass(frozen=True)
class FeedQuery:
    """What one data request asked for, already checked by the edge."""

    meta: MetaCondition | None = None
    filter_text: str | None = None  # the parsed filter written back, for the audit log
    top: int | None = None
    skip: int = 0
    after: Cursor | None = None
    count: bool = False
    expand: bool = False
    instance_id: str | None = None  # Submissions('<instanceID>'): that submission only


@dataclass
class FeedPage:
    """The rows of one page, to be streamed: as dicts (`rows`, for `$select`, `$expand`, repeat
    sets) or already encoded (`bodies`, whole `Submissions` rows); `more` tells whether rows
    come after the page (then it ends with `@odata.nextLink`)."""

    rows: Iterator[tuple[Cursor, dict[str, Any]]] | None
    total: int | None
    bodies: Iterator[tuple[Cursor, bytes]] | None = None
    more: bool = False


def data_use_persons(store: Store) -> frozenset[tuple[str, int]]:
    """The persons (case code, person index) whose data-use consent is given now: rows
    leaving the reporting line through the API are theirs only (docs/api.md, "Consent")."""
    with store.reader() as session:
        return frozenset(consent.persons_allowing(session, consent.DATA_USE))


def consented_filter(
    persons: frozenset[tuple[str, int]],
    meta: MetaCondition | None = None,
    instance_id: str | None = None,
) -> SubmissionFilter:
    """Submissions without a case, or of a case whose person received consents."""
    return SubmissionFilter(
        meta=meta,
        cases_or_none=frozenset(code for code, index in persons if index == 0),
        instance_id=instance_id,
    )


def feed_rows(
    store: Store,
    user: CurrentUser,
    feed: FeedForm,
    table: FeedTable,
    query: FeedQuery,
    *,
    encoded: bool = False,
) -> FeedPage:
    """The rows of an entity set in the user's units, of persons who consent to data use,
    audited before they are sent with the filter and the number of rows the page holds (a
    client that stops reading early is still recorded as having been given them).

    `encoded`: the caller sends whole rows (no `$select`); whole `Submissions` rows without
    `$expand` then come as JSON bytes from the stored bodies (exports/odata.py `row_bodies`).
    """
    require_records(user)
    persons = data_use_persons(store)
    filters = consented_filter(persons, query.meta, query.instance_id)
    total = odata.count(store, user.scope, feed, table, filters, persons) if query.count else None
    size, more = _page_size(store, user, feed, table, filters, query, persons)
    record_call(store, user, "rows", feed.form_id, table.name, query, size)
    if encoded and table.parent is None and not query.expand:
        bodies = odata.row_bodies(
            store, user.scope, feed, filters, after=query.after, skip=query.skip, limit=size
        )
        return FeedPage(None, total, bodies=bodies, more=more)
    stream = odata.rows(
        store,
        user.scope,
        feed,
        table,
        filters,
        after=query.after,
        skip=query.skip,
        expand=query.expand,
        persons=persons,
        limit=size,
    )
    return FeedPage(stream, total, more=more)


def _page_size(
    store: Store,
    user: CurrentUser,
    feed: FeedForm,
    table: FeedTable,
    filters: SubmissionFilter,
    query: FeedQuery,
    persons: frozenset[tuple[str, int]],
) -> tuple[int, bool]:
    """How many rows the page will hold, and whether any come after them: one count query on
    `Submissions`; on a repeat set, a pass over the rows (at most `top` + 1 of them). The page
    then reads that many rows and no more (no batch past `$top` is read to find the next)."""
    if table.parent is None:
        after_id = query.after.submission_id if query.after is not None else 0
        # With $top, only the rows the page can hold and one more are counted (the first
        # skip + top + 1 ids after the cursor): counting the rest cost a whole scan per page.
        limit = None if query.top is None else query.skip + query.top + 1
        counted = odata.count_after(store, user.scope, feed, filters, after_id, limit)
        left = max(0, counted - query.skip)
    else:
        limit = None if query.top is None else query.top + 1
        left = 0
        for _ in odata.rows(
            store,
            user.scope,
            feed,
            table,
            filters,
            after=query.after,
            skip=query.skip,
            persons=persons,
            limit=limit,
        ):
            left += 1
    if query.top is None:
        return left, False
    return min(query.top, left), left > query.top


def csv_zip(store: Store, user: CurrentUser, form_id: str, out: IO[bytes]) -> int:
    """The CSV export of the user's units for the API: as the web download, but only the
    persons who consent to data use (as the feed). LookupError when there is no such form."""
    require_records(user)
    return downloads.form_zip(
        store, user.username, user.scope, form_id, out, persons=data_use_persons(store)
    )


def record_call(
    store: Store,
    user: CurrentUser,
    what: str,
    form_id: str | None,
    entity_set: str | None,
    query: FeedQuery | None,
    rows: int | None,
) -> None:
    """One `api.read` audit entry: who, which form and entity set, which filter, how many."""
    detail: dict[str, object] = {"what": what, "rows": rows}
    if entity_set is not None:
        detail["entity_set"] = entity_set
    if query is not None:
        detail["filter"] = query.filter_text
        detail["top"] = query.top
        detail["skip"] = query.skip
        detail["expand"] = query.expand
        detail["resumed"] = query.after is not None
        if query.instance_id is not None:
            detail["one_submission"] = True
    with store.session() as session:
        audit.append(
            session,
            user.username,
            "api.read",
            f"form:{form_id}" if form_id else None,
            detail,
        )


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (
        aware(moment).strftime("%Y-%m-%dT%H:%M:%S.") + f"{aware(moment).microsecond // 1000:03d}Z"
    )


def metadata_xml(feed: FeedForm) -> str:
    """The CSDL of a feed (exports/odata.py)."""
    return odata.metadata_xml(feed)


def iso(moment: datetime | None) -> str | None:
    """A moment as Central writes it: UTC with milliseconds and Z."""
    return _iso(moment)


Selection = dict[str, "Selection | None"]


def selector(table: FeedTable, paths: list[str] | None) -> Callable[[dict[str, Any]], Any]:
    """What `$select` keeps of each row: every path must name a property of the table
    (`__id`, a field, a group, `group/field`, `__system` or `__system/<name>`); 400.1 else."""
    if paths is None:
        return _whole
    known = _property_tree(table)
    chosen: Selection = {}
    for path in paths:
        parts = path.split("/")
        level: Any = known
        target = chosen
        for depth, part in enumerate(parts):
            if not isinstance(level, dict) or part not in level:
                raise errors.bad_request("$select names a property this table does not have.")
            level = level[part]
            last = depth == len(parts) - 1
            if last:
                target[part] = None
            else:
                existing = target.get(part, {})
                if existing is None:
                    break  # the whole group is selected already
                target[part] = existing
                target = existing

    def pick(row: dict[str, Any], selection: Selection) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, below in selection.items():
            link = f"{name}@odata.navigationLink"
            if link in row:
                out[link] = row[link]
            elif name in row:
                value = row[name]
                out[name] = pick(value, below) if below and isinstance(value, dict) else value
        return out

    return lambda row: pick(row, chosen)


def _whole(row: dict[str, Any]) -> dict[str, Any]:
    return row


def _property_tree(table: FeedTable) -> dict[str, Any]:
    def tree(nodes: list[odata.Node]) -> dict[str, Any]:
        return {
            node.name: (
                tree(node.children) if node.column is None and node.repeat is None else None
            )
            for node in nodes
        }

    found = {"__id": None, **tree(table.nodes)}
    if table.parent is None:
        found[odata.SYSTEM] = {name: None for name, _ in odata.SYSTEM_FIELDS}
    else:
        found[table.parent_key] = None
    return found
