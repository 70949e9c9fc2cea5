"""The `fieldcase` console script on a fresh data directory."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from server.auditseal import seal_for
from server.cli import main
from server.config import Config
from server.store import audit
from server.store import users as user_store
from server.store.db import Store


def test_init_then_init_again_changes_nothing(runner: CliRunner, config: Config) -> None:
    first = runner.invoke(main, ["init"])
    assert first.exit_code == 0, first.output
    assert "initialised" in first.output
    assert "admin user: admin" in first.output
    # The admin password came from the environment, so it is not printed.
    assert "head-office-password-for-tests" not in first.output
    keys = sorted((config.data_dir / "keys").iterdir())
    assert len(keys) == 1
    assert b"ENCRYPTED PRIVATE KEY" in keys[0].read_bytes()
    assert oct(keys[0].stat().st_mode & 0o777) == "0o600"

    again = runner.invoke(main, ["init"])
    assert again.exit_code == 0
    assert "already initialised; nothing changed" in again.output
    assert sorted((config.data_dir / "keys").iterdir()) == keys


def test_init_generates_and_prints_the_admin_password_once(config: Config) -> None:
    runner = CliRunner(
        env={
            "FIELDCASE_DATA_DIR": str(config.data_dir),
            "FIELDCASE_DATABASE_URL": config.database_url,
            "FIELDCASE_KEY_PASSPHRASE": "pass phrase for tests",
            "FIELDCASE_ADMIN_PASSWORD": "",
        }
    )
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert "admin password (shown once, write it down):" in result.output


def test_init_without_passphrase_is_a_clear_error(config: Config) -> None:
    runner = CliRunner(
        env={
            "FIELDCASE_DATA_DIR": str(config.data_dir),
            "FIELDCASE_DATABASE_URL": config.database_url,
            "FIELDCASE_KEY_PASSPHRASE": "",
        }
    )
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 2
    assert "FIELDCASE_KEY_PASSPHRASE" in result.output


def test_commands_before_init_say_so(runner: CliRunner) -> None:
    result = runner.invoke(main, ["users", "add", "lan", "--role", "admin"])
    assert result.exit_code == 2
    assert "run `fieldcase init` first" in result.output


def test_users_add_with_units(runner: CliRunner, config: Config) -> None:
    runner.invoke(main, ["init"])
    result = runner.invoke(
        main, ["users", "add", "lan", "--role", "supervisor", "--unit", "01", "--unit", "00004"]
    )
    assert result.exit_code == 0, result.output
    assert "password (shown once):" in result.output
    store = Store(config.database_url)
    store.attach_audit(seal_for(config))
    with store.session() as session:
        user = user_store.by_username(session, "lan")
        assert user is not None
        assert user_store.units_of(session, user.id) == ["00004", "01"]
        assert audit.verify_chain(session) is None
    duplicate = runner.invoke(main, ["users", "add", "lan", "--role", "viewer", "--unit", "01"])
    assert duplicate.exit_code == 1
    no_unit = runner.invoke(main, ["users", "add", "hai", "--role", "viewer"])
    assert no_unit.exit_code == 2
    # 02 was Hà Giang until July 2025: not a province of the list, so the account is not made
    old = runner.invoke(main, ["users", "add", "hai", "--role", "viewer", "--unit", "02"])
    assert old.exit_code == 2  # bad input, as a weak password file
    assert "không có trong danh mục đơn vị hành chính" in old.output
    with store.session() as session:
        assert user_store.by_username(session, "hai") is None
    store.dispose()


def test_collectors_add_prints_the_server_url_last(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(main, ["init"])
    qr = tmp_path / "qr.png"
    result = runner.invoke(main, ["collectors", "add", "phone-1", "--unit", "01", "--qr", str(qr)])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("http://127.0.0.1:8080/c/")
    assert len(last.rsplit("/", 1)[1]) >= 40
    assert qr.read_bytes().startswith(b"\x89PNG")
    revoke = runner.invoke(main, ["collectors", "revoke", "phone-1"])
    assert revoke.exit_code == 0


def test_collectors_add_basic_prints_a_password_once_that_works(
    runner: CliRunner, config: Config
) -> None:
    import base64

    from server.app import create_app

    runner.invoke(main, ["init"])
    result = runner.invoke(main, ["collectors", "add", "thu", "--unit", "01", "--basic"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "http://127.0.0.1:8080"  # the plain server URL, no token in it
    assert "Tên đăng nhập / user name: thu" in result.output
    password_line = next(line for line in lines if "password (shown once" in line)
    assert password_line.startswith("Mật khẩu")  # Vietnamese first
    password = password_line.rsplit(": ", 1)[1]
    assert len(password) == 23
    store = Store(config.database_url)
    try:
        client = create_app(config, store).test_client()
        token = base64.b64encode(f"thu:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "X-OpenRosa-Version": "1.0"}
        assert client.get("/formList", headers=headers).status_code == 200
        with store.session() as session:
            user = user_store.by_username(session, "thu")
            assert user is not None
            assert user.role == "collector"
            assert password not in user.password_hash
        assert runner.invoke(main, ["collectors", "revoke", "thu"]).exit_code == 0
        assert client.get("/formList", headers=headers).status_code == 401
    finally:
        store.dispose()
    # A Basic collector's name is its user name: it must be one.
    bad = runner.invoke(main, ["collectors", "add", "Chị Lan", "--basic"])
    assert bad.exit_code == 1
    assert "Tên đăng nhập gồm" in bad.output
    # Without --basic, the token URL as before.
    plain = runner.invoke(main, ["collectors", "add", "Chị Lan", "--unit", "01"])
    assert plain.output.strip().splitlines()[-1].startswith("http://127.0.0.1:8080/c/")


def test_collectors_add_refuses_a_missing_or_unknown_unit(
    runner: CliRunner, config: Config
) -> None:
    runner.invoke(main, ["init"])
    for args, message in (
        ([], "Thiết bị thu thập phải có đơn vị"),
        (["--unit", "1"], "Mã đơn vị gồm 2 chữ số"),
        (["--unit", "77777"], "không có trong danh mục đơn vị hành chính"),
        (["--unit", "02"], "không có trong danh mục đơn vị hành chính"),  # before July 2025
    ):
        result = runner.invoke(main, ["collectors", "add", "phone-x", *args])
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "/c/" not in result.output
    made = runner.invoke(main, ["collectors", "add", "phone-x", "--unit", "00004"])
    assert made.exit_code == 0, made.output  # a commune in the list; the name was never taken


def test_users_add_refuses_a_weak_password_file(
    runner: CliRunner, config: Config, tmp_path: Path
) -> None:
    runner.invoke(main, ["init"])
    weak = {
        "aaaaaaaaaaaa": "một ký tự hay một cụm ký tự ngắn lặp lại",
        "viewAviewAviewA": "một ký tự hay một cụm ký tự ngắn lặp lại",
        "matkhau123456": "quá phổ biến",
        "lan-nguyen-2025-x": "tên đăng nhập",
        "short-1": "ít nhất 12 ký tự",
    }
    for password, vietnamese in weak.items():
        secret = tmp_path / "password"
        secret.write_text(password + "\n", encoding="utf-8")
        result = runner.invoke(
            main,
            ["users", "add", "lan", "--role", "viewer", "--unit", "01"]
            + ["--password-file", str(secret)],
        )
        assert result.exit_code == 2, (password, result.output)
        assert vietnamese in result.output, password
        assert "/ " in result.output  # and the English after it
    store = Store(config.database_url)
    with store.session() as session:
        assert user_store.by_username(session, "lan") is None
    store.dispose()
    secret.write_text("a good long passphrase\n", encoding="utf-8")
    ok = runner.invoke(
        main,
        ["users", "add", "lan", "--role", "viewer", "--unit", "01", "--password-file", str(secret)],
    )
    assert ok.exit_code == 0, ok.output
    assert "password (shown once)" not in ok.output


def test_init_refuses_a_weak_admin_password_and_makes_nothing(config: Config) -> None:
    for weak in ("admin-password-123", "matkhau@123456", "aaaaaaaaaaaaaaaa"):
        runner = CliRunner(
            env={
                "FIELDCASE_DATA_DIR": str(config.data_dir),
                "FIELDCASE_DATABASE_URL": config.database_url,
                "FIELDCASE_KEY_PASSPHRASE": "pass phrase for tests",
                "FIELDCASE_ADMIN_PASSWORD": weak,
            }
        )
        result = runner.invoke(main, ["init"])
        assert result.exit_code == 2, result.output
        assert "FIELDCASE_ADMIN_PASSWORD: Mật khẩu" in result.output
        assert not list((config.data_dir / "keys").glob("*.pem"))  # no key left behind
