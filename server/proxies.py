"""The client address of a request behind a reverse proxy (FIELDCASE_TRUSTED_PROXIES).

The sign-in back-off counts failures per client address. Behind the reverse proxy that
production requires, every connection comes from the proxy, so without this every user would
share one address and one user's typing errors would slow everyone. A proxy reports the client
in X-Forwarded-For; anyone can send that header, so it is believed only from a configured
proxy, through Werkzeug's ProxyFix (which also takes X-Forwarded-Proto from it).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.middleware.proxy_fix import ProxyFix

from server.config import TrustedProxies

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("server.proxies")


class ClientAddress:
    """WSGI middleware: REMOTE_ADDR becomes the client a trusted proxy reports, else stays the
    connection's address."""

    def __init__(self, app: WSGIApplication, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted
        hops = trusted.hops or 1
        self._fixed = ProxyFix(app, x_for=hops, x_proto=hops)
        self._warned = False

    def _from_trusted_proxy(self, environ: WSGIEnvironment) -> bool:
        if self.trusted.hops:
            return True
        if not self.trusted.networks:
            return False
        return address_in(environ.get("REMOTE_ADDR", ""), self.trusted.networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._from_trusted_proxy(environ):
            return self._fixed(environ, start_response)
        if "HTTP_X_FORWARDED_FOR" in environ and not self._warned:
            self._warned = True  # once per process: the header may come with every request
            log.warning(
                "X-Forwarded-For from %s ignored: it is not a trusted proxy "
                "(FIELDCASE_TRUSTED_PROXIES, see docs/operations.md)",
                environ.get("REMOTE_ADDR", "?"),
            )
        return self.app(environ, start_response)


def address_in(address: str, networks: tuple[Any, ...]) -> bool:
    """True when `address` (IPv4, IPv6, or IPv4-mapped IPv6) is in one of `networks`."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    candidates = [parsed]
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        candidates.append(parsed.ipv4_mapped)  # "::ffff:127.0.0.1" on a dual-stack socket
    return any(c in network for c in candidates for network in networks)
