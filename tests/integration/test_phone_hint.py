"""`fieldcase phone-hint` (run by `make run`): the LAN address and how to serve for phones,
unless FIELDCASE_PUBLIC_URL is set."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import main
from server.cli.phone_cmds import hint, lan_addresses

ROOT = Path(__file__).resolve().parents[2]


def test_addresses_are_never_loopback() -> None:
    for address in lan_addresses():
        parsed = ipaddress.IPv4Address(address)
        assert not parsed.is_loopback
        assert not parsed.is_link_local


def test_without_a_public_url_it_says_how_to_serve_for_phones(tmp_path: Path) -> None:
    addresses = lan_addresses()
    if not addresses:
        pytest.skip("this machine has no network address but loopback")
    runner = CliRunner(env={"FIELDCASE_DATA_DIR": str(tmp_path), "FIELDCASE_PUBLIC_URL": None})
    result = runner.invoke(main, ["phone-hint"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"http://{addresses[0]}:8080"
    command = f"FIELDCASE_HOST=0.0.0.0 FIELDCASE_PUBLIC_URL=http://{addresses[0]}:8080 make run"
    assert result.stderr.count(command) == 2  # in Vietnamese, then in English
    assert result.stderr.index("điện thoại") < result.stderr.index("no phone can reach")


def test_a_set_public_url_wins(tmp_path: Path) -> None:
    runner = CliRunner(
        env={"FIELDCASE_DATA_DIR": str(tmp_path), "FIELDCASE_PUBLIC_URL": "https://x.example"}
    )
    result = runner.invoke(main, ["phone-hint"])
    assert result.exit_code == 0
    assert result.output == ""


def test_the_port_follows_the_setting(tmp_path: Path) -> None:
    if not lan_addresses():
        pytest.skip("this machine has no network address but loopback")
    runner = CliRunner(
        env={
            "FIELDCASE_DATA_DIR": str(tmp_path),
            "FIELDCASE_PUBLIC_URL": None,
            "FIELDCASE_PORT": "8411",
        }
    )
    assert re.fullmatch(r"http://[0-9.]+:8411", runner.invoke(main, ["phone-hint"]).stdout.strip())


def test_hint_lines_are_vietnamese_first() -> None:
    lines = hint("http://lan.example:8080")
    assert "Để điện thoại" in lines[1]
    assert lines[4].startswith("fieldcase: the server listens")


def test_make_run_gives_the_lan_url_to_the_demo_phone() -> None:
    script = (ROOT / "scripts" / "run-demo.sh").read_text()
    assert 'lan_url=$("$bin/fieldcase" phone-hint)' in script
    assert "FIELDCASE_PUBLIC_URL=${FIELDCASE_PUBLIC_URL:-${lan_url:-}}" in script
