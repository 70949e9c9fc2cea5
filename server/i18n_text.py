"""Messages outside a web request (command line, start-up errors) in Vietnamese and English.

The web view translates through Flask-Babel; the command line has no request, so it reads
the same Vietnamese catalogue (server/translations/vi) with Babel directly and prints both
languages, Vietnamese first, for officers who read either.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

VIETNAMESE_CATALOGUE = (
    Path(__file__).resolve().parent / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
)


@cache
def _vietnamese() -> dict[str, str]:
    with VIETNAMESE_CATALOGUE.open("rb") as handle:
        catalog = read_po(handle)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.string, str) and message.string and not message.fuzzy
    }


def vietnamese(message: str) -> str:
    """The Vietnamese of a catalogue message (an English msgid), or the message itself."""
    return _vietnamese().get(message, message)


def vi_en(message: str) -> str:
    """ "Vietnamese / English" for a catalogue message; the English alone when it has no
    translation."""
    translated = vietnamese(message)
    return message if translated == message else f"{translated} / {message}"


# Questions whose answers are ISO 3166 country codes (docs: shared/domain/FORMS.md), shown as
# the country's name in the reader's language when the form gives the code no label.
COUNTRY_QUESTIONS = frozenset(
    {"nationality", "destination_country", "destination_confirmed", "transit_countries"}
)


@cache
def _territories(language: str) -> dict[str, str]:
    from babel import Locale, UnknownLocaleError

    try:
        return dict(Locale.parse(language).territories)
    except (UnknownLocaleError, ValueError):
        return {}


def country_name(code: str, language: str) -> str | None:
    """The name of the country `code` (`CN`, `kh`) in `language` (Babel's CLDR data), or None
    when it is no country code."""
    wanted = code.strip().upper()
    if len(wanted) != 2 or not wanted.isalpha():
        return None
    return _territories(language).get(wanted)


def country_display(question: str, code: str, shown: str, language: str) -> str:
    """What to show for an answer of `question`: `shown` (the form's label) unless it is a
    country question whose code the form left unnamed, then the country's name."""
    if question not in COUNTRY_QUESTIONS or shown.strip() != code.strip():
        return shown
    return " ".join(country_name(part, language) or part for part in code.split())
