"""Vietnamese by default, English on request: Flask-Babel set-up and catalogue compilation.

The message catalogues (`server/translations/<lang>/LC_MESSAGES/messages.po`) are in the
repository; the compiled `.mo` files are not. They are compiled at app start when missing or
older than their `.po`, next to it when the folder is writable, else into a cache folder, so a
fresh clone works without a build step.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, session
from flask_babel import Babel, format_datetime, gettext
from flask_babel import lazy_gettext as _l

from server.errors import Problem

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
TIMEZONE = "Asia/Ho_Chi_Minh"
LANGUAGE_KEY = "lang"


def _stale(po: Path, mo: Path) -> bool:
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def _compile(po: Path, mo: Path) -> None:
    with po.open("rb") as handle:
        catalog = read_po(handle)
    mo.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog)
        os.replace(tmp_name, mo)  # atomic: parallel test workers may compile at once
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def compile_catalogues(source: Path = TRANSLATIONS_DIR) -> Path:
    """Compile every stale catalogue; returns the folder Flask-Babel should read."""
    pos = sorted(source.glob("*/LC_MESSAGES/*.po"))
    try:
        for po in pos:
            mo = po.with_suffix(".mo")
            if _stale(po, mo):
                _compile(po, mo)
        return source
    except OSError:
        cache = Path(tempfile.gettempdir()) / f"fieldcase-translations-{os.getuid()}"
        for po in pos:
            mo = cache / po.relative_to(source).with_suffix(".mo")
            if _stale(po, mo):
                _compile(po, mo)
        return cache


def select_locale() -> str:
    """The language of this request: the one chosen in the session, else Vietnamese."""
    chosen = session.get(LANGUAGE_KEY)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """The language code pages render in (also used for form labels)."""
    return select_locale()


def as_local_time(moment: datetime | None) -> str:
    """A stored UTC time as local time, `YYYY-MM-DD HH:MM`."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment, "yyyy-MM-dd HH:mm")


def as_date(value: date | None) -> str:
    """A date as `YYYY-MM-DD` (unambiguous in both languages)."""
    return value.isoformat() if value else ""


# Messages of the error catalogue shown to people, by code; others show their own text.
PROBLEM_MESSAGES = {
    "400.6": None,  # validation messages are shown as they are
    "400.7": _l(
        "This form has expired or did not come from this site. Reload the page and try again."
    ),
    "401.2": _l("Wrong user name or password."),
    "403.1": _l("You are not allowed to do this."),
    "404.1": _l("This page was not found, or you may not see it."),
    "405.1": _l("This method is not allowed here."),
    "409.2": _l("This name is already taken."),
    "429.1": _l("Too many attempts. Try again later."),
    "429.2": _l("Too many searches in the last hour. Try again later."),
    "500.1": _l("Something went wrong on the server. The error has been logged."),
    "503.2": _l("The server is busy checking other sign-ins. Try again in a moment."),
}


# Fixed messages of the services (English msgids), listed so extraction keeps them in the
# catalogue; `problem_message` translates them by their text.
SERVICE_MESSAGES = (
    _l("Choose a purpose."),
    _l("Choose a recipient type."),
    _l("A referral consent names its recipient type."),
    _l("Only a referral names a recipient type."),
    _l("Choose yes or no."),
    _l("Say who gave the decision."),
    _l("Choose a person of the case."),
    _l("The decision date cannot be in the future."),
    _l("Write the date as YYYY-MM-DD."),
    _l("Give a reason of at least 10 characters."),
    _l("Keep the reason under 500 characters."),
    _l("Keep the comment under 2000 characters."),
    _l("Say why the submission is rejected."),
    _l("The submission already has this review state."),
    _l("The current password is wrong."),
    _l("The two new passwords differ."),
    _l("Passwords must have at least 12 characters."),
    _l("Passwords must have at most 1000 characters."),
    _l("The password must not contain the user name."),
    _l(
        "The password must not be one character or a short pattern repeated, and needs at "
        "least 5 different characters."
    ),
    _l("This password is too common: it is on the list of passwords that attackers try first."),
    _l("The new password must differ from the current one."),
    _l("Unit codes are 2 digits (province) or 5 digits (commune)."),
    _l("The role must be admin, supervisor or viewer."),
    _l("Supervisors and viewers need at least one unit."),
    _l("User names have 2 to 100 letters, digits, dots, dashes or underscores."),
    _l("The last admin cannot lose the admin role."),
    _l("You cannot disable your own account."),
    _l("The last admin cannot be disabled."),
    _l("Choose an .xlsx file to upload."),
    _l("The file is larger than 10 MB."),
    _l("The file is not an .xlsx workbook."),
    _l(
        "Sheet %(sheet)s has more than %(limit)d rows. A form may have at most %(limit)d rows "
        "per sheet."
    ),
    _l(
        "Sheet %(sheet)s has more than %(limit)d columns. A form may have at most %(limit)d "
        "columns per sheet."
    ),
    _l("The workbook has more than %(limit)d cells in all. Make its sheets smaller."),
    _l(
        "The workbook unpacks to more than %(limit)s MB. A form may unpack to at most %(limit)s MB."
    ),
    _l("The workbook holds more than %(limit)d files; an .xlsx form holds far fewer."),
    _l(
        "The workbook is compressed more than %(limit)d times over, as a zip bomb is; it was "
        "not opened."
    ),
    _l("The form compiler is not installed on this server."),
    _l("The server has no key pair yet: run fieldcase init."),
    _l(
        "The key passphrase is not configured (FIELDCASE_KEY_PASSPHRASE), so a new key "
        "could not be protected."
    ),
    _l("A period is written 2025, 2025-H1 or 2025-Q3."),
    _l("Dates are written YYYY-MM-DD."),
    _l("A collector needs a name of 1 to 200 characters."),
    _l("A number in this link is not valid."),
)


def problem_message(problem: Problem) -> str:
    """The message of a problem in the page's language when the catalogue has it."""
    translated = PROBLEM_MESSAGES.get(problem.code)
    if translated is not None:
        return str(translated)
    # Service messages are English msgids; the catalogue translates the fixed ones, and
    # templates before their values are filled in.
    if problem.message_args:
        return gettext(problem.template, **problem.message_args)
    return gettext(problem.message)


def init_i18n(app: Flask) -> None:
    """Set up Flask-Babel with compiled catalogues and the template helpers."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", TIMEZONE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogues())
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters["localtime"] = as_local_time
    app.jinja_env.filters["isodate"] = as_date
    app.jinja_env.globals["problem_message"] = problem_message
    app.jinja_env.globals["current_language"] = current_language
