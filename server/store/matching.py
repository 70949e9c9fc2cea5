"""Queries on person_keys and person_links: the match keys of cases' persons, and the links a
supervisor made between cases of one person. No query returns a key to its caller."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session, aliased

from server.store.models import Case, PersonKey, PersonLink, table_of

_K = table_of(PersonKey)
_DELETE_KEYS = delete(_K).where(_K.c.case_code.in_(bindparam("b_codes", expanding=True)))
_INSERT_KEYS = insert(_K)


def replace_keys(connection: Connection, case_codes: list[str], rows: list[dict[str, Any]]) -> None:
    """Replace the match keys of these case codes with `rows`."""
    connection.execute(_DELETE_KEYS, {"b_codes": case_codes})
    if rows:
        connection.execute(_INSERT_KEYS, rows)


def sharing_a_key(session: Session, case_code: str) -> list[str]:
    """Other case codes with a match key equal to one of this case's (codes only)."""
    mine = aliased(PersonKey)
    theirs = aliased(PersonKey)
    return sorted(
        set(
            session.scalars(
                select(theirs.case_code).join(
                    mine,
                    (mine.match_key == theirs.match_key)
                    & (mine.case_code == case_code)
                    & (theirs.case_code != case_code),
                )
            )
        )
    )


def linked_codes(session: Session, case_code: str) -> set[str]:
    """The case codes linked with this one as the same person (either direction)."""
    rows = session.execute(
        select(PersonLink.case_code, PersonLink.same_as).where(
            or_(PersonLink.case_code == case_code, PersonLink.same_as == case_code)
        )
    ).all()
    return {code for row in rows for code in row if code != case_code}


def add_link(session: Session, case_code: str, same_as: str, actor: str) -> None:
    """Link two case codes as one person (once)."""
    if same_as not in linked_codes(session, case_code):
        session.add(PersonLink(case_code=case_code, same_as=same_as, linked_by=actor))
        session.flush()


def later_in_link_groups(session: Session) -> set[str]:
    """Of each group of linked case codes, every code but the first received (lowest case id;
    codes without a case row come last)."""
    pairs = session.execute(select(PersonLink.case_code, PersonLink.same_as)).all()
    if not pairs:
        return set()
    parent: dict[str, str] = {}

    def root(code: str) -> str:
        while parent.setdefault(code, code) != code:
            code = parent[code]
        return code

    for first, second in pairs:
        parent[root(first)] = root(second)
    codes = list(parent)
    ids: dict[str, int] = {
        row.case_code: row.id
        for row in session.execute(select(Case.case_code, Case.id).where(Case.case_code.in_(codes)))
    }
    groups: dict[str, list[str]] = {}
    for code in codes:
        groups.setdefault(root(code), []).append(code)
    later: set[str] = set()
    for members in groups.values():
        ordered = sorted(members, key=lambda c: (ids.get(c) is None, ids.get(c) or 0, c))
        later.update(ordered[1:])
    return later
