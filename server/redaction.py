"""Collector tokens out of text bound for a log line or a page.

A collector's credential is the token in its server URL (`/c/<token>/...`). Anything that
echoes a request's path or request line (gunicorn's error and access logs, an error page's
links) passes it through `redact_tokens` first.
"""

from __future__ import annotations

import re

# `/c/` then the token: everything up to the next slash, space, quote or query. Percent-encoded
# slashes (`%2Fc%2F`) are caught too, since a malformed request line is logged as sent.
_TOKEN_IN_PATH = re.compile(r"(/|%2[fF])c(/|%2[fF])[^/\s'\"?#&<>\\]+")
REDACTED = "[token]"


def redact_tokens(text: str) -> str:
    """`text` with every `/c/<token>` written `/c/[token]`."""
    return _TOKEN_IN_PATH.sub(lambda m: f"{m.group(1)}c{m.group(2)}{REDACTED}", text)


def page_path(path: str) -> str:
    """A request path fit to write into a page: under a collector's URL, the site's root."""
    return "/" if _TOKEN_IN_PATH.search(path) else path
