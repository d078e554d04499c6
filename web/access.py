"""Who may use the browser mode's server: the access token (with a limit on wrong guesses), the
page's origin, and the host name it was opened at. :class:`Gate` answers each for a request."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Sequence

from aiohttp import web

log = logging.getLogger(__name__)

WRONG_TOKENS = 10  # wrong tokens from one address within WRONG_WINDOW_S: it is refused for that long
WRONG_WINDOW_S = 60.0
MAX_ADDRESSES = 1024  # addresses whose wrong tries are remembered: memory stays flat under a scan


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Gate:
    """The server's checks on a request; ``clock`` (seconds) times the wrong tries."""

    def __init__(self, token: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        self._clock = clock
        self._wrong: dict[str, deque[float]] = {}  # an address's recent wrong tokens (clock times)

    def authorized(self, request: web.Request) -> bool:
        """No token configured (loopback only): anyone on this machine. Otherwise the token, from
        ``?token=`` or ``Authorization: Bearer``, compared in constant time. An address that gave
        :data:`WRONG_TOKENS` wrong ones within :data:`WRONG_WINDOW_S` is refused (429) until the
        oldest of them is that old: guessing goes at ten tries a minute. The token is never logged."""
        if self.token is None:
            return True
        address = request.remote or "?"
        now = self._clock()
        tries = self._wrong.get(address)
        while tries and tries[0] <= now - WRONG_WINDOW_S:
            tries.popleft()
        if tries is not None and len(tries) >= WRONG_TOKENS:
            raise web.HTTPTooManyRequests(text="omnilive: too many wrong tokens from this address; wait a minute\n")
        given = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header[len("Bearer "):]
        if hmac.compare_digest(given.encode(), self.token.encode()):
            return True
        if tries is None:
            if len(self._wrong) >= MAX_ADDRESSES:
                self._wrong.pop(next(iter(self._wrong)))  # the address remembered longest
            tries = self._wrong[address] = deque(maxlen=WRONG_TOKENS)
        tries.append(now)
        if len(tries) == WRONG_TOKENS:
            log.warning("web: %d wrong tokens from %s in a minute; refusing it for a while", WRONG_TOKENS, address)
        return False

    def origin_allowed(self, request: web.Request, allowed_origins: Sequence[str] = ()) -> bool:
        """The media socket opens only from the page's own origin (or ``web.allowed_origins``), so
        another site open in the same browser cannot reach the camera's session. A client that
        sends no Origin is not a browser page; it still needs the token."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        if origin in allowed_origins:
            return True
        return origin == f"{request.scheme}://{request.host}" and self.host_allowed(request)

    def host_allowed(self, request: web.Request) -> bool:
        """With no token the server listens on loopback only, and a page may name it only as such
        (127.0.0.1, localhost, [::1]): a DNS-rebinding page at evil.example resolved to 127.0.0.1
        sends ``Host: evil.example``, and its own origin would otherwise match it."""
        if self.token is not None:
            return True
        host = urllib.parse.urlsplit(f"//{request.host}").hostname or ""
        return host == "localhost" or _loopback(host)
