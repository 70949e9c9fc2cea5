"""Item 8: someone who can change the database rewrites the audit log.

The attacker edits rows with plain SQL, computes the chain again with the unkeyed SHA-256
the log used before it was keyed (the function anyone can read in the source), and deletes
the newest rows. `fieldcase audit verify` and the audit page must say so each time. Every
change is undone afterwards (the rows as they were), so the last check is of the real log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bench.attacking.deployment import Deployment
from bench.attacking.report import Report
from bench.attacking.world import World

GENESIS = "0" * 64


@dataclass(frozen=True)
class Row:
    """One audit entry as stored (times and details as text, as the database gives them)."""

    id: int
    at: str
    actor: str
    action: str
    target: str | None
    detail: str | None
    prev_hash: str
    hash: str


class AuditTable:
    """Direct access to `audit_log`, as an attacker with the database's password has it."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(database_url)
        self.pg = self.engine.dialect.name == "postgresql"

    def rows(self) -> list[Row]:
        """Every entry, oldest first."""
        with self.engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT id, CAST(at AS TEXT), actor, action, target, CAST(detail AS TEXT), "
                    "prev_hash, hash FROM audit_log ORDER BY id"
                )
            ).all()
        return [Row(*row) for row in found]

    def update(self, changes: dict[int, dict[str, Any]]) -> None:
        """Change columns of some rows (hash last, as the unique index wants)."""
        with self.engine.begin() as connection:
            for row_id, values in changes.items():
                sets = ", ".join(f"{name} = :{name}" for name in values)
                connection.execute(
                    text(f"UPDATE audit_log SET {sets} WHERE id = :id"), {**values, "id": row_id}
                )

    def delete(self, ids: list[int]) -> None:
        """Remove entries."""
        with self.engine.begin() as connection:
            for row_id in ids:
                connection.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": row_id})

    def restore(self, rows: list[Row]) -> None:
        """Put every entry back exactly as it was: changed rows updated, removed ones
        inserted again (rows are never all deleted: case_search_hits refers to them)."""
        now = {row.id: row for row in self.rows()}
        changed = {
            row.id: {"actor": row.actor, "prev_hash": row.prev_hash, "hash": row.hash}
            for row in rows
            if row.id in now and now[row.id] != row
        }
        self.update(changed)
        at = "CAST(:at AS TIMESTAMPTZ)" if self.pg else ":at"
        detail = "CAST(:detail AS JSON)" if self.pg else ":detail"
        with self.engine.begin() as connection:
            for row in rows:
                if row.id not in now:
                    connection.execute(
                        text(
                            "INSERT INTO audit_log (id, at, actor, action, target, detail, "
                            f"prev_hash, hash) VALUES (:id, {at}, :actor, :action, :target, "
                            f"{detail}, :prev_hash, :hash)"
                        ),
                        row.__dict__,
                    )

    def referenced(self) -> set[int]:
        """Entries another table points at (the searches that found a case)."""
        with self.engine.connect() as connection:
            return set(connection.scalars(text("SELECT audit_id FROM case_search_hits")))

    def dispose(self) -> None:
        """Close the connections."""
        self.engine.dispose()


def _canonical(row: Row, actor: str | None = None) -> str:
    at = datetime.fromisoformat(row.at)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return json.dumps(
        {
            "at": at.isoformat(),
            "actor": actor if actor is not None else row.actor,
            "action": row.action,
            "target": row.target,
            "detail": json.loads(row.detail) if row.detail else None,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )


def _plain_chain(rows: list[Row], actors: dict[int, str]) -> dict[int, dict[str, Any]]:
    """The whole chain hashed again with unkeyed SHA-256 (the pre-key function)."""
    changes, prev = {}, GENESIS
    for row in rows:
        digest = hashlib.sha256((prev + _canonical(row, actors.get(row.id))).encode()).hexdigest()
        changes[row.id] = {
            "actor": actors.get(row.id, row.actor),
            "prev_hash": prev,
            "hash": digest,
        }
        prev = digest
    return changes


def _faithful(deployment: Deployment, rows: list[Row]) -> tuple[int, int]:
    """How many keyed entries the attacker's canonical form reproduces with the real key
    (read here, as the operator can, only to prove the replay hashes what the app hashes)."""
    key = (deployment.data_dir / "audit_key").read_text(encoding="utf-8").strip().encode()
    keyed = [row for row in rows if row.prev_hash != GENESIS or row.action == "audit.keyed"]
    same = sum(
        hmac.new(key, (row.prev_hash + _canonical(row)).encode(), hashlib.sha256).hexdigest()
        == row.hash
        for row in keyed
    )
    return same, len(keyed)


def _verify(deployment: Deployment) -> tuple[int, str]:
    result = deployment.cli("audit", "verify")
    said = " ".join((result.stdout + result.stderr).split())
    return result.returncode, said


def _reason(said: str) -> str:
    """The English half of `audit verify`'s reason."""
    match = re.search(r"NOT intact: [^/]*/ (.*?)\s*(?:mục hỏng|$)", said)
    return match.group(1) if match else said[:80]


def _victim_row(rows: list[Row]) -> Row:
    """An entry from the middle of the log: someone's sign-in, to be blamed on someone else."""
    logins = [row for row in rows if row.action == "login"]
    return logins[len(logins) // 2]


def audit_page(world: World, report: Report, deployment: Deployment) -> None:
    """While the server runs: viewing the log is logged; an edited row shows on the page."""
    with report.scenario("8.1", "viewing the audit page is audited") as s:
        world.admin.get("/admin/audit")
        page = world.admin.get("/admin/audit?action=audit.view&actor=admin").text
        views = len(re.findall(r"<td class=\"code-text\">audit\.view</td>", page))
        s.check(views >= 1, f"audit.view entries by admin: {views}")
    with report.scenario("8.2", "an edited row, seen on the audit page") as s:
        table = AuditTable(deployment.database_url)
        try:
            row = _victim_row(table.rows())
            table.update({row.id: {"actor": "someone-else"}})
            page = world.admin.get("/admin/audit").text
            state = re.search(r'id="chain-state">([^<]+)<', page)
            table.update({row.id: {"actor": row.actor}})
            said = state.group(1).strip() if state else "?"
            s.check(
                "flash-error" in page and str(row.id) in said,
                f"entry {row.id}'s actor changed in SQL: '{said}'",
            )
            after = world.admin.get("/admin/audit").text
            s.check('class="ok" id="chain-state"' in after, "restored: 'Chain verified'")
        finally:
            table.dispose()


def audit_rewrites(report: Report, deployment: Deployment) -> None:
    """With the server stopped: each rewrite is found by `fieldcase audit verify`."""
    table = AuditTable(deployment.database_url)
    try:
        original = table.rows()
        with report.scenario("8.3", "audit verify on the real log") as s:
            code, said = _verify(deployment)
            s.check(code == 0, f"exit {code}: '{said[:90]}'")
            same, total = _faithful(deployment, original)
            s.check(
                same == total > 0,
                f"the replay's canonical form gives {same} of {total} stored hashes with the "
                "key: its plain re-hash is what the app's own function computes",
            )
        row = _victim_row(original)
        attacks = {
            "8.4": ("edit one row", lambda: table.update({row.id: {"actor": "someone-else"}})),
            "8.5": (
                "edit, then re-hash with plain SHA-256",
                lambda: table.update(
                    {
                        k: v
                        for k, v in _plain_chain(original, {row.id: "someone-else"}).items()
                        if k >= row.id
                    }
                ),
            ),
            "8.6": (
                "delete the newest 10 rows",  # none of them a search (checked below)
                lambda: table.delete([r.id for r in original[-10:]]),
            ),
            "8.7": ("drop audit.keyed, re-hash everything", lambda: _rewrite_all(table, original)),
        }
        newest = {row.id for row in original[-10:]}
        for item, (name, attack) in attacks.items():
            with report.scenario(item, name) as s:
                if item == "8.6" and newest & table.referenced():
                    s.skip("a search is among the newest 10 entries (replay order changed)")
                    continue
                try:
                    attack()
                    code, said = _verify(deployment)
                finally:
                    table.restore(original)
                broken = re.search(r"first broken id: (\S+)", said)
                s.check(
                    code == 1 and broken is not None,
                    f"exit {code}, first broken id {broken.group(1) if broken else None}: "
                    f"'{_reason(said)[:110]}'",
                )
                if item == "8.4":
                    s.check(
                        broken is not None and broken.group(1) == str(row.id),
                        f"names the edited entry {row.id}",
                    )
        with report.scenario("8.8", "rows restored: verify again") as s:
            code, said = _verify(deployment)
            s.check(code == 0, f"exit {code} after every row was put back")
    finally:
        table.dispose()


def _rewrite_all(table: AuditTable, original: list[Row]) -> None:
    """The attacker's best: no keyed mark left, every hash plain and consistent."""
    keyed = [row.id for row in original if row.action == "audit.keyed"]
    table.delete(keyed)
    kept = [row for row in original if row.id not in keyed]
    table.update(_plain_chain(kept, {}))
