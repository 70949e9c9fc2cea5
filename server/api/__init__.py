"""The /v1 API: the part of ODK Central's REST and OData API that pyodk, ruODK, Excel and
Power BI call (docs/api.md), over decrypted, de-identified rows of the caller's units.

An edge like server/web/ and server/openrosa/: it reads the request, calls
server/services/analyst_api.py and renders Central's JSON shapes.
"""

from __future__ import annotations

from server.api.routes import bp

__all__ = ["bp"]
