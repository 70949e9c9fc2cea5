"""Search text that ignores Vietnamese diacritics and case ("nguyen thi" finds "Nguyễn Thị").

A search is a set of whole words, each of at least `MIN_WORD` characters: words are what
lies between spaces in the folded text (a case code is one word).
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case, without diacritics (đ becomes d), single spaces."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.lower()).strip()


MIN_WORD = 2


def search_words(text: str) -> list[str]:
    """The words of a search, folded like the stored search text."""
    return fold(text).split()
