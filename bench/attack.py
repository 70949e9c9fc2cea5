"""Replay the outside review's attacks (issue 13, items 1-14) against a real `fieldcase serve`.

    .venv/bin/python bench/attack.py [--database sqlite|postgresql] [--only 2,9]
        [--no-browser] [--keep]

Makes a fresh deployment through the CLI (`init`, `forms publish`, `users add` for admin,
supervisor-01 (unit 01), supervisor-02 (unit 04) and viewer, `collectors add` for phone-01,
phone-02 and a Basic collector of commune 00004), serves it on a free port, then attacks it
over HTTP only: phones sending encrypted real forms, browsers signing in with CSRF tokens,
raw sockets, and connections from many loopback addresses (each a client of its own). Then
it restarts the server behind a trusted proxy at DEBUG, and with the server stopped tampers
with the audit log in the database. One line per scenario: item, name, HELD or NOT HELD, and
the evidence (a '!' marks the evidence of a failed check). Exit 1 when any is NOT HELD.

`--only` runs some items (the set-up always runs); `--keep` leaves the data directory and the
server log in place and prints where. Runs by hand (about 2-3 minutes); a fast subset runs
in the test suite (tests/integration/test_attack_replay.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.attacking import (
    items_audit,
    items_files,
    items_server,
    items_sign_in,
    items_units,
)
from bench.attacking.deployment import create
from bench.attacking.report import Report
from bench.attacking.world import seed, sign_in_everyone

ALL_ITEMS = frozenset(range(1, 15))
# Behind the reverse proxy the docs require, at DEBUG (gunicorn then logs every path).
PROXY_DEBUG = {"FIELDCASE_TRUSTED_PROXIES": "127.0.0.1", "FIELDCASE_LOG_LEVEL": "DEBUG"}


def _database_url(database: str, root: Path, stack: contextlib.ExitStack) -> str:
    if database == "sqlite":
        return f"sqlite:///{root / 'data' / 'fieldcase.sqlite3'}"
    from tests.conftest import postgres_schema

    return stack.enter_context(postgres_schema("attack"))


def run(
    database: str = "sqlite",
    items: frozenset[int] = ALL_ITEMS,
    browser: bool = True,
    echo: Callable[[str], None] | None = print,
    keep: bool = False,
    restart: bool = True,
) -> Report:
    """Set up, serve, attack; the report of every scenario run. `restart` False leaves out
    the second serve (behind a trusted proxy, at DEBUG) and what needs it."""
    report = Report(echo)
    say = echo or (lambda _line: None)
    with contextlib.ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="fieldcase-attack-"))
        if not keep:
            stack.callback(shutil.rmtree, root, ignore_errors=True)
        started = time.monotonic()
        deployment = create(root, _database_url(database, root, stack))
        stack.callback(deployment.stop)
        say(
            f"# {database}: deployment made through the CLI in {time.monotonic() - started:.0f} s "
            f"(units 01 and 04, 4 web accounts, 3 phones); data in {deployment.data_dir}"
        )
        if 6 in items:
            items_server.store_private_after_init(report, deployment)
            items_server.serve_refuses_open_store(report, deployment)
        deployment.start()
        world = sign_in_everyone(deployment)
        seed(world)
        say(f"# served on {deployment.url}; unit 01's victim case {world.victim_code}")
        steps: list[tuple[int, Callable[[], None]]] = [
            (1, lambda: items_files.phone_files(world, report, browser)),
            (2, lambda: items_units.other_unit_phone(world, report)),
            (9, lambda: items_units.case_search(world, report)),
            (10, lambda: items_files.export_names(world, report, deployment)),
            (11, lambda: items_files.part_names(world, report)),
            (12, lambda: items_files.form_upload(world, report, deployment)),
            (13, lambda: items_sign_in.passwords(world, report, deployment)),
            (4, lambda: items_sign_in.open_redirect(world, report, deployment)),
            (5, lambda: items_sign_in.lockout(world, report, deployment)),
            (3, lambda: items_sign_in.basic_oracle(world, report, deployment)),
            (14, lambda: items_server.huge_ids(world, report)),
            (14, lambda: items_server.tokens_in_logs(world, report, deployment, "14.2", False)),
            (7, lambda: items_server.slow_clients(world, report, deployment)),
        ]
        for item, step in steps:
            if item in items:
                step()
        if 6 in items:
            items_server.store_private_while_serving(report, deployment)
        if restart and items & {5, 8, 14}:
            say("# restarted behind a trusted proxy (127.0.0.1) at DEBUG")
            deployment.start(PROXY_DEBUG)
            if 5 in items:
                items_sign_in.lockout_behind_proxy(world, report, deployment)
            if 14 in items:
                items_server.tokens_in_logs(world, report, deployment, "14.3", True)
            if 8 in items:
                items_audit.audit_page(world, report, deployment)
        deployment.stop()
        if 8 in items:
            items_audit.audit_rewrites(report, deployment)
        if 6 in items:
            items_server.store_private_after_run(report, deployment)
        if 14 in items:
            items_server.secrets_in_logs(report, deployment)
        held = sum(outcome.held for outcome in report.outcomes)
        say(
            f"# {held} of {len(report.outcomes)} scenarios held in "
            f"{time.monotonic() - started:.0f} s"
            + (f"; kept {root} (server.log, data/)" if keep else "")
        )
    return report


def _items(text: str | None) -> frozenset[int]:
    if not text:
        return ALL_ITEMS
    chosen = frozenset(int(part) for part in text.split(","))
    if not chosen <= ALL_ITEMS:
        raise argparse.ArgumentTypeError("items are 1 to 14")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--only", type=_items, default=ALL_ITEMS, help="items, e.g. 2,9")
    parser.add_argument("--no-browser", action="store_true", help="skip item 1's Chromium check")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and log")
    args = parser.parse_args()
    # The deployment is configured by this script alone, whatever the shell exported.
    for name in [n for n in os.environ if n.startswith("FIELDCASE_")]:
        if name != "FIELDCASE_TEST_POSTGRES_URL":
            del os.environ[name]
    report = run(args.database, args.only, not args.no_browser, keep=args.keep)
    sys.exit(0 if report.all_held else 1)


if __name__ == "__main__":
    main()
