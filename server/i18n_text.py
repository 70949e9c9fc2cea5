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
