"""Names of the media entries of an export zip: never a path a phone chose.

A phone chooses its instanceID and its file names. Used as they are, `media/..\\..\\Startup/x.bat`
lands outside the folder the zip is opened into (zip tools on Windows take `\\` as a separator),
and a name with U+202E or a newline misleads whoever reads the listing. So:
- a submission's folder is `media/<uuid>` when its instanceID is ODK Collect's
  `uuid:<canonical lower-case uuid>`, else `media/id-<first 20 hex digits of its SHA-256>`;
  both are plain ASCII, and two different instanceIDs never share a folder;
- a file keeps its name when that name is plain (crypto/names.py) and also valid on Windows
  (none of `<>:"|?*`, no final dot or space, not a device name such as CON or LPT1), else it
  becomes `file-<first 16 hex digits of its SHA-256>` plus its extension when that is plain
  ASCII letters and digits;
- `media/index.csv` lists, for each file written, the submission's KEY and the entry's name,
  so folders named by a hash can still be matched to their rows.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from crypto.names import is_plain_name

MEDIA_DIR = "media"
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(1, 10)}
    | {f"lpt{n}" for n in range(1, 10)}
)
_SAFE_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}")


def media_folder(instance_id: str) -> str:
    """The zip folder of one submission's media, from its instanceID."""
    prefix, _, rest = instance_id.partition(":")
    if prefix == "uuid":
        try:
            canonical = str(uuid.UUID(rest))
        except ValueError:
            canonical = None
        if canonical == rest:
            return f"{MEDIA_DIR}/{canonical}"
    digest = hashlib.sha256(instance_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{MEDIA_DIR}/id-{digest[:20]}"


def _windows_safe(name: str) -> bool:
    stem = name.split(".", 1)[0].rstrip(" ").lower()
    return (
        _WINDOWS_FORBIDDEN.search(name) is None
        and not name.endswith((".", " "))
        and stem not in _WINDOWS_DEVICES
    )


def media_file_name(name: str) -> str:
    """The name one media file gets inside its folder."""
    if is_plain_name(name) and _windows_safe(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    dot = name.rfind(".")
    extension = name[dot:] if dot > 0 else ""
    return f"file-{digest[:16]}{extension if _SAFE_EXTENSION.fullmatch(extension) else ''}"
