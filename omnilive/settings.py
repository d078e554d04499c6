"""The root settings: the runtime's, plus what only the app reads (which mode runs, the
kiosk's and the browser mode's sections, the log level), loaded from a YAML file and ``--set``
overrides.

Relative paths in a YAML file are relative to that file; paths given on the command line are
relative to the working directory (see :mod:`kernel.settings_file`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from assistant.config import PATH_FIELDS, RuntimeSettings
from kernel.settings_file import load_settings_file, parse_override
from kiosk.settings import KioskSettings
from web.settings import WebSettings

__all__ = ["Settings", "load_settings", "parse_override"]


class Settings(RuntimeSettings):
    mode: Literal["replay", "live", "web"] = "replay"
    kiosk: KioskSettings = Field(default_factory=KioskSettings)
    web: WebSettings = WebSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"


_PATH_FIELDS = (
    *PATH_FIELDS,
    ("kiosk", "mqtt", "password_file"),
    ("kiosk", "mqtt", "tls", "ca_file"),
    ("kiosk", "mqtt", "tls", "certfile"),
    ("kiosk", "mqtt", "tls", "keyfile"),
    ("web", "tls", "certfile"),
    ("web", "tls", "keyfile"),
)


def load_settings(path: Path | None, overrides: Iterable[tuple[str, Any]] = ()) -> Settings:
    """The file at ``path`` (or the defaults) with ``overrides`` on top; :class:`ConfigError`,
    in one line naming the field, when it is not valid."""
    return load_settings_file(Settings, path, overrides, path_fields=_PATH_FIELDS)
