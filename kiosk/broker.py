"""The edge between the kiosk's MQTT link and aiomqtt: how to reach the broker, how
long to wait before trying again, and one plain line saying why it failed.

Nothing here holds a connection: :func:`make_client` builds an ``aiomqtt.Client``
from the settings, :class:`Backoff` paces the attempts, :func:`connect_reason` and
:func:`lost_reason` turn aiomqtt's errors into a line for the log (naming the broker,
never a secret), and :func:`check_broker` tries the settings once, for ``--check``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from kernel.errors import ConfigError

from .settings import MqttSettings, connects_anonymously, read_password

# The link's one logger, whichever module logs: operators (and the tests) filter on this name.
LOGGER = "kiosk.mqtt"

INCOMING_QUEUE = 64
# CONNACK codes for refused credentials: MQTT 3.1.1 (4, 5) and their MQTT 5 reason codes (0x86, 0x87).
_AUTH_CODES = frozenset({4, 5, 0x86, 0x87})
_UNSPECIFIED = 0x80  # what paho reports for a connection that closed with no reason given
SESSION_TAKEN_OVER = 0x8E  # MQTT 5: another client connected with the same client ID


class Backoff:
    """Waits between connection attempts: ``initial`` doubling up to ``maximum``, each scaled by a
    jitter in [0.8, 1] so that kiosks do not all return at once; :meth:`reset` after a success."""

    def __init__(self, initial: float, maximum: float, jitter: Callable[[], float] | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self._jitter = jitter or (lambda: random.uniform(0.8, 1.0))
        self._delay = initial

    def next(self) -> float:
        wait = self._delay * self._jitter()
        self._delay = min(self._delay * 2, self.maximum)
        return wait

    def reset(self) -> None:
        self._delay = self.initial


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error's text (its type's name if it has none), cut to ``limit`` characters."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def new_client_id(settings: MqttSettings) -> str:
    """The pinned client ID, or a new random one under ``<prefix>/<kiosk_id>/``."""
    return settings.client_id or f"{settings.prefix}/{settings.kiosk_id}/{secrets.token_hex(8)}"


def reason_code(exc: BaseException) -> int | None:
    """The MQTT reason code an aiomqtt error carries, if any."""
    rc = getattr(exc, "rc", None)
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None


def lost_reason(settings: MqttSettings, client_id: str, exc: aiomqtt.MqttError) -> str:
    """One line saying why an established connection ended; plain about a client ID taken over."""
    cause = exc.__cause__ or exc  # aiomqtt says "Disconnected during message iteration"; why is in the cause
    code = reason_code(cause)
    if code == SESSION_TAKEN_OVER:
        return (
            f"MQTT broker {settings.broker} dropped this kiosk: another client connected with its client ID "
            f"{client_id!r} (session taken over)"
        )
    detail = one_line(cause)
    if code == _UNSPECIFIED:
        detail = (
            "closed with no reason given (a network fault, a broker restart, or another client that connected "
            f"with this kiosk's client ID {client_id!r})"
        )
    return f"MQTT connection to {settings.broker} lost: {detail}"


def connect_reason(settings: MqttSettings, exc: aiomqtt.MqttError) -> str:
    """One line saying why a connect attempt failed; names the broker, never a secret."""
    if isinstance(exc, MqttConnectError):
        # paho's reason codes read "Bad user name or password", "Not authorized", ...
        detail = str(exc.rc) if exc.rc is not None and not isinstance(exc.rc, int) else one_line(exc)
        detail = detail[:1].lower() + detail[1:]
        code = exc.rc if isinstance(exc.rc, int) else getattr(exc.rc, "value", None)
        if code in _AUTH_CODES and connects_anonymously(settings):
            detail += " (this kiosk has no credentials: set kiosk.mqtt.username and password_env)"
        elif code in _AUTH_CODES:
            detail += " (check the username and password)"
        return f"MQTT broker {settings.broker} refused the connection: {detail}"
    return f"MQTT broker {settings.broker} is unreachable: {one_line(exc)}"


def _incoming_queue(on_full: Callable[[], None]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """aiomqtt's incoming queue: a message that finds it full is dropped, and ``on_full`` counts it."""

    class Incoming(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            if self.full():
                on_full()
            else:
                super().put_nowait(item)

    return Incoming


def make_client(
    settings: MqttSettings,
    password: str | None,
    *,
    identifier: str,
    will: aiomqtt.Will | None,
    on_dropped: Callable[[], None] | None = None,
) -> aiomqtt.Client:
    """An ``aiomqtt.Client`` for the settings; ``on_dropped`` counts a message that finds
    :data:`INCOMING_QUEUE` messages waiting (it is dropped)."""
    tls = settings.tls
    tls_params = None
    if tls.enabled:
        tls_params = aiomqtt.TLSParameters(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.certfile) if tls.certfile else None,
            keyfile=str(tls.keyfile) if tls.keyfile else None,
        )
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=password,
        identifier=identifier,
        will=will,
        keepalive=settings.keepalive_s,
        timeout=settings.timeout_s,
        tls_params=tls_params,
        protocol=aiomqtt.ProtocolVersion.V5 if settings.mqtt5 else aiomqtt.ProtocolVersion.V311,
        queue_type=_incoming_queue(on_dropped) if on_dropped is not None else None,
        max_queued_incoming_messages=INCOMING_QUEUE,
        logger=logging.getLogger(f"{LOGGER}.paho"),
    )


async def check_broker(settings: MqttSettings, timeout_s: float = 5.0) -> str | None:
    """``None`` if the broker can be reached and accepts the credentials, else a one-line reason."""
    try:
        password = await asyncio.to_thread(read_password, settings)
    except ConfigError as exc:
        return str(exc)
    identifier = f"{settings.prefix}/{settings.kiosk_id}/check-{secrets.token_hex(4)}"  # never a kiosk's own
    try:
        async with asyncio.timeout(timeout_s):
            async with make_client(settings, password, identifier=identifier, will=None):
                pass
    except TimeoutError:
        return f"MQTT broker {settings.broker} did not answer within {timeout_s:g} s"
    except aiomqtt.MqttError as exc:
        return connect_reason(settings, exc)
    return None
