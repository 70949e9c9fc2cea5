"""`fieldcase audit verify`: is the audit log whole?"""

from __future__ import annotations

import click

from server.cli.common import load_config, open_store
from server.services.auditing import (
    EDITED,
    HEADS_DAMAGED,
    REWRITTEN,
    TRUNCATED,
    UNKEYED,
    check_audit,
)

# What each reason means, in Vietnamese then English (officers read this).
_REASONS = {
    EDITED: "một mục đã bị sửa, chèn hoặc xoá / an entry was changed, inserted or removed",
    TRUNCATED: "các mục mới nhất đã bị xoá / the newest entries were removed",
    REWRITTEN: "chuỗi đã bị tính lại / the chain was computed again",
    UNKEYED: "chuỗi có khoá đã bị thay / the keyed chain was replaced",
    HEADS_DAMAGED: "tệp ghi đầu chuỗi bị hỏng / a file of recorded heads is damaged",
}


@click.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
def verify() -> None:
    """Check every entry's hash and the heads recorded outside the database.

    Exit 0 when the log is whole; exit 1 with the first entry that does not hold.
    """
    config = load_config()
    store = open_store(config)
    with store.reader() as session:
        state = check_audit(session)
    store.dispose()
    if state.intact:
        click.echo(f"nhật ký kiểm tra nguyên vẹn / audit log intact: {state.entries} mục / entries")
        return
    click.echo(
        f"nhật ký kiểm tra KHÔNG nguyên vẹn / audit log NOT intact: "
        f"{_REASONS.get(state.reason or '', state.reason)}"
        + (f" ({state.detail})" if state.detail else ""),
        err=True,
    )
    broken = state.broken_at if state.broken_at is not None else "-"
    click.echo(f"mục hỏng đầu tiên / first broken id: {broken}")
    raise SystemExit(1)


COMMANDS = [audit]
