"""The ``web:`` section: the browser mode's server.

The access token is never a setting: ``token_env`` names the environment variable that holds
it, as the kiosk's broker password does. A server that binds anything but the loopback address
refuses to start without one.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from kernel.errors import ConfigError
from kernel.settings_base import ENV_NAME, StrictModel

MIN_TOKEN_CHARS = 16


class WebTlsSettings(StrictModel):
    """HTTPS with a given certificate and key (PEM): browsers grant the camera and the mic only
    to a secure context, which a remote http:// page is not."""

    certfile: Path | None = None
    keyfile: Path | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> WebTlsSettings:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("give both certfile and keyfile, or neither")
        return self

    @property
    def enabled(self) -> bool:
        return self.certfile is not None


class WebSettings(StrictModel):
    host: str = "127.0.0.1"  # anything but loopback needs a token
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (printed at start)
    token_env: str = "OMNILIVE_WEB_TOKEN"  # the variable holding the access token (at least 16 characters)
    max_sessions: int = Field(1, ge=1, le=64)  # browsers talking at once; one more gets the "busy" page
    idle_s: float = Field(30.0, gt=0, le=3600)  # a talking page that sends nothing this long is closed
    allowed_origins: tuple[str, ...] = ()  # pages on other origins allowed to open the media socket
    tls: WebTlsSettings = WebTlsSettings()
    # Replay and live modes: also serve the display-only view of the running session (captions,
    # state, latest scene) at host:port, to watch it from another machine.
    display: bool = False

    @field_validator("token_env")
    @classmethod
    def _a_name(cls, value: str) -> str:
        if not ENV_NAME.fullmatch(value):
            raise ValueError("token_env must be the name of an environment variable, not a token")
        return value

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def scheme(self) -> str:
        return "https" if self.tls.enabled else "http"


def read_token(web: WebSettings) -> str | None:
    """The access token from ``web.token_env``; :class:`ConfigError` when the server binds
    beyond loopback without one, or when it is too short to be one."""
    token = os.environ.get(web.token_env) or None
    if token is None and not web.loopback:
        raise ConfigError(
            f"web.host: {web.host!r} is reachable from other machines: set an access token in "
            f"${web.token_env} (at least {MIN_TOKEN_CHARS} characters), or bind 127.0.0.1"
        )
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"${web.token_env}: the access token must be at least {MIN_TOKEN_CHARS} characters")
    return token
