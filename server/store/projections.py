"""Derived tables rebuilt when their rules change: the versions they were built with.

A projection (a table made from another by rules in code, such as consent_standings from the
consent ledger) records here the version of its rules. `Store.migrate` calls `bring_up_to_date`
after the last migration, so a projection is rebuilt with the release's own code against the
release's own schema: after its table is made, and after a release that changes its rules
bumps its version. Migrations themselves never run store code.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, delete, insert, select

from server.store import consent
from server.store.models import ProjectionVersion, table_of

_V = table_of(ProjectionVersion)

# name -> (version of its rules, how to rebuild it all). Bump the version in the same change
# as the rules (forms/consent.py `standing` for consent_standings).
PROJECTIONS: dict[str, tuple[int, Callable[[Connection], None]]] = {
    "consent_standings": (1, lambda connection: consent.refresh_standings(connection, None)),
}


def built_version(connection: Connection, name: str) -> int | None:
    """The version a projection was last built with, or None when it never was."""
    return connection.execute(select(_V.c.version).where(_V.c.name == name)).scalar()


def stale(connection: Connection) -> list[str]:
    """The projections built with other rules than the code's, or never built."""
    return [
        name
        for name, (version, _) in PROJECTIONS.items()
        if built_version(connection, name) != version
    ]


def bring_up_to_date(connection: Connection) -> list[str]:
    """Rebuild, in this transaction, every projection built with other rules than the code's
    (or never built); returns the names rebuilt."""
    rebuilt = stale(connection)
    for name in rebuilt:
        version, rebuild = PROJECTIONS[name]
        rebuild(connection)
        connection.execute(delete(_V).where(_V.c.name == name))
        connection.execute(insert(_V).values(name=name, version=version))
    return rebuilt
