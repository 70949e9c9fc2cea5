"""Settings come only from FIELDCASE_* variables, each documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.config import SETTINGS, Config
from server.errors import ConfigError

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_defaults(tmp_path: Path) -> None:
    config = Config.from_env({"FIELDCASE_DATA_DIR": str(tmp_path)})
    assert config.data_dir == tmp_path
    assert config.database_url == f"sqlite:///{tmp_path / 'fieldcase.sqlite3'}"
    assert config.port == 8080
    assert config.key_passphrase is None


def test_file_variant_wins_for_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("from-file\n", encoding="utf-8")
    config = Config.from_env(
        {"FIELDCASE_KEY_PASSPHRASE": "plain", "FIELDCASE_KEY_PASSPHRASE_FILE": str(secret)}
    )
    assert config.key_passphrase == "from-file"
    assert "from-file" not in repr(config)


def test_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FIELDCASE_ADMIN_PASSWORD_FILE"):
        Config.from_env({"FIELDCASE_ADMIN_PASSWORD_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FIELDCASE_PORT", "eighty"),
        ("FIELDCASE_PORT", "0"),
        ("FIELDCASE_SECURE_COOKIES", "maybe"),
        ("FIELDCASE_LOG_LEVEL", "LOUD"),
        ("FIELDCASE_PUBLIC_URL", "ftp://x"),
        ("FIELDCASE_AUDIT_KEY", "too short to key anything"),
        ("FIELDCASE_SEARCHES_PER_HOUR", "0"),
        ("FIELDCASE_READ_TIMEOUT", "soon"),
    ],
)
def test_bad_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


def test_postgres_url_is_taken_as_given() -> None:
    url = "postgresql+psycopg://fc@db/fc"
    assert Config.from_env({"FIELDCASE_DATABASE_URL": url}).database_url == url


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    documented = set(
        re.findall(r"^\| `(FIELDCASE_[A-Z_]+)`", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    )
    declared = {setting.name for setting in SETTINGS}
    assert declared - documented == set(), "undocumented settings"
    assert documented - declared == set(), "documented settings the code does not read"


def test_secrets_documented_with_file_variant() -> None:
    text = DOC.read_text(encoding="utf-8")
    for setting in SETTINGS:
        if setting.secret:
            assert f"{setting.name}_FILE" in text


def test_documented_defaults_are_the_real_ones() -> None:
    """The table's default column matches what `Config.from_env` and `Config()` use."""
    text = DOC.read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `(FIELDCASE_[A-Z_]+)` \| ([^|]+) \|", text, re.MULTILINE))
    from_env = Config.from_env({})
    plain = Config(data_dir=Path("var"), database_url="sqlite://")
    for setting in SETTINGS:
        shown = documented[setting.name].strip()
        if setting.default is None:
            assert shown == "—", setting.name
            continue
        assert shown == f"`{setting.default}`", setting.name
        attribute = setting.name.removeprefix("FIELDCASE_").lower()
        for config in (from_env, plain):
            value = getattr(config, attribute, None)
            if not isinstance(value, str | int):  # paths, parsed lists: not a plain value
                continue
            assert str(value).lower() == setting.default.lower(), (setting.name, value)


def test_province_hotlines_are_read_per_province() -> None:
    config = Config.from_env(
        {"FIELDCASE_PROVINCE_HOTLINES": " 22 = 0203  3000 111 ; 01=+84 24 1234-5678;"}
    )
    assert config.province_hotlines == {"22": "0203 3000 111", "01": "+84 24 1234-5678"}
    assert Config.from_env({}).province_hotlines == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2=0203 3000 111", "'2' is not a 2-digit province code"),
        ("22:0203 3000 111", "is not a 2-digit province code"),
        ("22=call us", "'call us' .province 22. is not a phone number"),
        ("22=111; 22=112", "province 22 is given twice"),
    ],
)
def test_bad_province_hotlines_are_refused(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_env({"FIELDCASE_PROVINCE_HOTLINES": value})


def test_report_cutoff_day_and_due_dates_are_checked() -> None:
    from exports.periods import report_calendar

    assert Config.from_env({}).report_cutoff_day == 14
    config = Config.from_env(
        {"FIELDCASE_REPORT_CUTOFF_DAY": "20", "FIELDCASE_REPORT_DUE_DATES": "H1=06-25, Y=+01-05"}
    )
    calendar = report_calendar(config.report_cutoff_day, config.report_due_dates)
    half = calendar.period("2026-H1")
    assert (half.start.isoformat(), half.end.isoformat()) == ("2025-12-21", "2026-06-20")
    assert calendar.due_date(half).isoformat() == "2026-06-25"
    assert calendar.due_date(calendar.period("2026")).isoformat() == "2027-01-05"
    assert calendar.due_date(calendar.period("2026-H2")).isoformat() == "2026-12-10"  # default
    for name, value in (
        ("FIELDCASE_REPORT_CUTOFF_DAY", "31"),
        ("FIELDCASE_REPORT_CUTOFF_DAY", "0"),
        ("FIELDCASE_REPORT_DUE_DATES", "H3=06-10"),
        ("FIELDCASE_REPORT_DUE_DATES", "H1=6/10"),
        ("FIELDCASE_REPORT_DUE_DATES", "H1=13-01"),
    ):
        with pytest.raises(ConfigError, match=name):
            Config.from_env({name: value})
