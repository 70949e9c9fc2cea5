"""The one rule for a file name that comes from a phone (a multipart part, a manifest entry).

Such a name later becomes a file on someone's disk (`fieldcase decrypt`, an export zip opened
on Windows) and a line on a page, so it must be one plain name that looks like what it is:
- no folder separator (`/` or `\\`) and no leading dot (so no `..`, no hidden file);
- no control characters (category Cc: NUL, newline, DEL, C1 controls): they end headers and
  log lines, and a final newline passed the old `match` with `$`;
- no format characters (Cf: U+202E RIGHT-TO-LEFT OVERRIDE turns `evil\u202egpj.exe` into what
  reads as `evilexe.jpg`, zero-width characters make two names look alike), no line or
  paragraph separators (Zl, Zp), no lone surrogates (Cs: not text at all);
- 1 to 255 characters.
Letters of every script (Vietnamese with its diacritics), digits, spaces and punctuation pass.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_CHARS = 255
_NO_SEPARATOR = re.compile(rf"[^/\\]{{1,{MAX_NAME_CHARS}}}")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# The only ASCII characters of those categories: the C0 controls and DEL (all Cc).
_ASCII_REFUSED = re.compile(r"[\x00-\x1f\x7f]")


def is_plain_name(name: str) -> bool:
    """True when `name` is one plain file name by the rule above."""
    if _NO_SEPARATOR.fullmatch(name) is None or name.startswith("."):
        return False
    if name.isascii():  # nearly every name Collect sends: one search, not a lookup a character
        return _ASCII_REFUSED.search(name) is None
    return not any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in name)
