"""The OpenRosa API ODK Collect talks to: form list, form and media download, submission.

Mounted twice: under a collector's server URL (`/c/<token>/...`, the token authenticates) and at
the root for user accounts with the collector role (HTTP Basic, with a 401 challenge as Collect
expects). Protocol rules live in `before`/`after` below and in services/ingest.py.
"""

from __future__ import annotations

from server.openrosa.routes import bp

__all__ = ["bp"]
