"""Settings of the headless kiosk, the ``kiosk:`` section of the config file.

Secrets are never settings: ``mqtt.password_env`` names an environment variable
and ``mqtt.password_file`` names a file; :func:`read_password` reads the password
from one of them when the link connects, so neither the config, its repr nor an
error message ever holds it.

Credentials are required: :func:`check_credentials` refuses a link with neither a
username and password nor a TLS client certificate, unless ``mqtt.allow_anonymous``
says that the broker lets anyone in, on purpose.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from kernel.errors import ConfigError
from kernel.events import Event
from kernel.settings_base import ENV_NAME, StrictModel

DetectorKind = Literal["face", "person", "any"]
DEFAULT_GREETING = "Hello! Ask me anything about what you see here."
DEFAULT_GREETING_ZH = "你好！这里看到的东西，都可以问我。"  # the default greeting when language is zh

_TOPIC_LEVEL = r"[^/+#\s]+"

# Event types sent on <prefix>/<kiosk_id>/events by default: what an operator reads,
# not per-frame noise (partial transcripts, reply chunks, speech start/end).
DEFAULT_EVENTS = frozenset(
    {
        "transcript",
        "reply_text",
        "scene",
        "error",
        "barge_in",
        "session_start",
        "session_end",
        "device",
        "turn_metrics",
        "stage_restart",
        "presence",
        "watch_set",
        "watch_fired",
        "watch_cleared",
    }
)
# Not an event type: opts in to transcripts with ``final: false``.
PARTIAL_TRANSCRIPTS = "transcript_partial"


def _event_types() -> set[str]:
    found: set[str] = set()
    pending: list[type[Event]] = [Event]
    while pending:
        cls = pending.pop()
        found.add(cls.type)
        pending.extend(cls.__subclasses__())
    found.discard(Event.type)
    return found


class TlsSettings(StrictModel):
    enabled: bool = False
    ca_file: Path | None = None  # None: the system's CA store
    certfile: Path | None = None  # a client certificate, for brokers that ask for one
    keyfile: Path | None = None  # its private key, when not inside certfile

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsSettings:
        if self.keyfile is not None and self.certfile is None:
            raise ValueError("tls.keyfile needs tls.certfile")
        return self


class MqttSettings(StrictModel):
    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field("omnilive", pattern=rf"^{_TOPIC_LEVEL}(/{_TOPIC_LEVEL})*$")
    kiosk_id: str = Field(default_factory=socket.gethostname, pattern=rf"^{_TOPIC_LEVEL}$")
    # None: "<prefix>/<kiosk_id>/" and 16 random hex digits, new at each start, so that no other client can
    # guess it and take the kiosk's connection over. Pin one only where the broker's ACLs need a fixed ID.
    client_id: str | None = Field(None, min_length=1, max_length=128)
    username: str | None = Field(None, min_length=1)
    password_env: str | None = None  # the NAME of an environment variable holding the password
    password_file: Path | None = None  # a file whose first line is the password
    # True: connect with no credentials, to a broker that lets anyone in. Then anyone who can reach that broker
    # can command this kiosk and read its transcripts; with False (the default) the kiosk refuses to start so.
    allow_anonymous: bool = False
    tls: TlsSettings = Field(default_factory=TlsSettings)
    mqtt5: bool = True  # MQTT 5, so the broker can say why it drops the link; false: MQTT 3.1.1 for older brokers
    keepalive_s: int = Field(30, ge=5, le=3600)
    timeout_s: float = Field(10.0, gt=0, description="wait for the broker's answer to a connect or publish")
    qos: Literal[0, 1] = 1
    buffer: int = Field(1000, ge=1, description="outgoing messages kept while disconnected; the oldest are dropped")
    metrics_interval_s: float = Field(10.0, gt=0)
    reconnect_initial_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(10.0, gt=0, description="the longest wait between attempts; reset once connected")
    command_timeout_s: float = Field(10.0, gt=0, description="a controller call that takes longer fails")
    # A token bucket: ``command_burst`` commands at once, then ``command_rate`` a second; the rest are refused.
    command_rate: float = Field(5.0, gt=0, description="valid commands a second, on average")
    command_burst: int = Field(10, ge=1, description="valid commands taken at once before the rate applies")
    events: frozenset[str] = DEFAULT_EVENTS  # event types published; add "transcript_partial" for partials

    @model_validator(mode="before")
    @classmethod
    def _password_env_is_a_name(cls, data: Any) -> Any:
        # A model-level check, so the error never echoes the value: it may be a password pasted by mistake.
        name = data.get("password_env") if isinstance(data, dict) else None
        if name is not None and not (isinstance(name, str) and ENV_NAME.fullmatch(name)):
            raise ValueError(
                "password_env must be the name of an environment variable (letters, digits, _), not a password"
            )
        return data

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: frozenset[str]) -> frozenset[str]:
        known = _event_types() | {PARTIAL_TRANSCRIPTS}
        unknown = sorted(value - known)
        if unknown:
            raise ValueError(f"unknown event type {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return value

    @field_serializer("events")
    def _events_sorted(self, value: frozenset[str]) -> list[str]:
        return sorted(value)  # a stable order in the session log's copy of the config

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give password_env or password_file, not both")
        if (self.password_env is not None or self.password_file is not None) and self.username is None:
            raise ValueError("a password needs a username")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be at least reconnect_initial_s")
        return self

    @property
    def broker(self) -> str:
        """``host:port``, for log lines."""
        return f"{self.host}:{self.port}"


ANONYMOUS_RISK = "anyone who can reach the broker can command this kiosk and read its transcripts and events"


def connects_anonymously(settings: MqttSettings) -> bool:
    """Whether the link has neither a username with a password nor a TLS client certificate."""
    secret = settings.password_env is not None or settings.password_file is not None
    password = settings.username is not None and secret
    certificate = settings.tls.enabled and settings.tls.certfile is not None
    return not (password or certificate)


def check_credentials(settings: MqttSettings) -> None:
    """Raises :class:`ConfigError` when the link would connect anonymously and ``allow_anonymous`` is not set."""
    if connects_anonymously(settings) and not settings.allow_anonymous:
        raise ConfigError(
            "kiosk.mqtt: no broker credentials: set username and password_env (or password_file), or a TLS "
            "client certificate (tls.certfile); or allow_anonymous: true for a broker that lets anyone in "
            f"(then {ANONYMOUS_RISK})"
        )


def read_password(settings: MqttSettings) -> str | None:
    """The broker password from the environment or from its file; ``None`` if none is configured.

    Raises :class:`ConfigError` naming the variable or the file, never the value.
    Blocking (it may read a file): call it in a thread from async code.
    """
    if settings.password_env is not None:
        value = os.environ.get(settings.password_env)
        if not value:
            raise ConfigError(f"MQTT password: environment variable {settings.password_env} is not set")
        return value
    if settings.password_file is not None:
        try:
            text = settings.password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"MQTT password file '{settings.password_file}': {reason}") from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise ConfigError(f"MQTT password file '{settings.password_file}' is empty")
        return lines[0]
    return None


class AttractSettings(StrictModel):
    """The ``kiosk.attract`` section: greet a person who walks up to an idle kiosk (:mod:`kiosk.attract`)."""

    enabled: bool = False
    greeting: str = Field(DEFAULT_GREETING, min_length=1, max_length=300)
    cooldown_s: float = Field(60.0, gt=0, description="no second greeting within this many seconds of one")
    idle_s: float = Field(10.0, ge=0, description="idle: nothing heard or said for this long")
    absent_s: float = Field(5.0, gt=0, description="a person must be gone this long before a new arrival counts")
    check_interval_s: float = Field(1.0, gt=0, description="how often the freshest frame is looked at")
    detector: DetectorKind = "face"

    def greeting_in(self, language: str) -> str:
        """The greeting to say: the default one in Chinese for a ``zh`` session, else ``greeting`` as set."""
        return DEFAULT_GREETING_ZH if language == "zh" and self.greeting == DEFAULT_GREETING else self.greeting
    min_hits: int = Field(2, ge=1, description="frames in a row with a detection before a person counts as present")


class KioskSettings(StrictModel):
    """The ``kiosk:`` section. ``enabled``: run headless (JSON logs, no console view, SIGTERM stops
    cleanly) with the MQTT link and attract mode; stage supervision is the top-level ``supervisor``."""

    enabled: bool = False
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    attract: AttractSettings = Field(default_factory=AttractSettings)
