"""The kiosk's MQTT link: status, events and metrics out; commands in.

Topics, under ``<prefix>/<kiosk_id>/``:

- ``status`` (retained): ``{"online": true, "state", "kiosk_id", "versions", "uptime_s"}``,
  published on every (re)connect and on every state change. The broker publishes
  the last will ``{"online": false, "state": "offline", "reason": "connection lost", ...}``
  when the link dies; a clean stop publishes ``{"online": false, "state": "stopped",
  "reason": "shutdown", ...}`` itself.
- ``events``: one message per event, the JSON of :func:`kernel.events.to_record`,
  for the event types in ``settings.events``.
- ``metrics``: every ``metrics_interval_s`` while connected: ``{"uptime_s", "mqtt": {the
  link's counters}, ...}`` merged with what the ``metrics`` callable returns.
- ``cmd`` (subscribed): commands, see :mod:`kiosk.commands`.
- ``cmd/result``: ``{"id", "ok": true, "cmd", ...details}`` or ``{"id" (or null), "ok": false, "error"}``.

Backpressure: outgoing messages (events, metrics, command results) wait in one
buffer (the outbox) of ``settings.buffer`` messages; when it is full the oldest is
dropped and counted (``dropped_outgoing``, and ``results_dropped`` when it was a
command's result). While the broker is away they stay there, and go out in order
once the link is back. With QoS 1 a message leaves the buffer only when the broker
acknowledged it (at least once). The status is not buffered: the link publishes the
current one after each connect.

Every command gets a result or is counted in ``metrics``: a message that finds
aiomqtt's incoming queue (:data:`INCOMING_QUEUE`) full is dropped
(``commands_dropped``); a retained one is ignored (``commands_ignored``: it would
run again at every start); a valid command over the rate (``command_rate`` a second
after a ``command_burst``) is refused as rate limited (``commands_rate_limited``);
one that finds :data:`COMMAND_QUEUE` commands waiting is refused as busy, and those
still waiting at a clean stop are refused as stopping (``commands_rejected``).
Nothing one command does (a parser error, a controller's odd answer) ends the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import platform
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from kernel.errors import ConfigError
from kernel.events import Event, Transcribed, to_record

from .commands import (
    Command,
    CommandRejected,
    DescribeNow,
    Mute,
    Reset,
    Say,
    SetVolume,
    Shutdown,
    Unmute,
    parse_command,
)
from .settings import (
    ANONYMOUS_RISK,
    PARTIAL_TRANSCRIPTS,
    MqttSettings,
    check_credentials,
    connects_anonymously,
    read_password,
)

log = logging.getLogger(__name__)

COMMAND_QUEUE = 16
INCOMING_QUEUE = 64
SHUTDOWN_FLUSH_S = 3.0  # at most this long to send what is buffered on a clean stop
# CONNACK codes for refused credentials: MQTT 3.1.1 (4, 5) and their MQTT 5 reason codes (0x86, 0x87).
_AUTH_CODES = frozenset({4, 5, 0x86, 0x87})
_UNSPECIFIED = 0x80  # what paho reports for a connection that closed with no reason given
_SESSION_TAKEN_OVER = 0x8E  # MQTT 5: another client connected with the same client ID


class Controller(Protocol):
    """What remote commands act on. Each method may return details for the result, or raise.

    Calls run one at a time, in the order the commands arrived, each bounded by
    ``settings.command_timeout_s``: return once the action is under way (``say``
    queues the text), not when it is over.
    """

    async def say(self, text: str) -> dict[str, Any] | None: ...
    async def mute(self) -> dict[str, Any] | None: ...
    async def unmute(self) -> dict[str, Any] | None: ...
    async def reset(self) -> dict[str, Any] | None: ...
    async def describe_now(self) -> dict[str, Any] | None: ...
    async def set_volume(self, level: float) -> dict[str, Any] | None: ...
    async def shutdown(self) -> dict[str, Any] | None: ...


@dataclass(slots=True)
class LinkStats:
    published: int = 0
    dropped_outgoing: int = 0
    connects: int = 0
    reconnects: int = 0  # connects after the first
    connect_failures: int = 0
    commands_ok: int = 0
    commands_rejected: int = 0  # not valid against the schema, or refused as busy or stopping
    commands_failed: int = 0  # valid, but the controller raised or timed out
    commands_rate_limited: int = 0  # valid, refused over command_rate (with a result)
    commands_ignored: int = 0  # retained: left over on the broker, not sent now (no result)
    commands_dropped: int = 0  # found the incoming queue full (no result)
    results_dropped: int = 0  # results pushed out of the full outbox (also in dropped_outgoing)


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    payload: bytes


class _Stopped(Exception):
    """The stop event was set during a session."""


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


class TokenBucket:
    """``burst`` tokens at once, refilled at ``rate`` a second; :meth:`take` is False when none is left."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


async def _wait_or_stop(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("omnilive", "aiomqtt", "paho-mqtt"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _new_client_id(settings: MqttSettings) -> str:
    return settings.client_id or f"{settings.prefix}/{settings.kiosk_id}/{secrets.token_hex(8)}"


def _reason_code(exc: BaseException) -> int | None:
    rc = getattr(exc, "rc", None)
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None


def lost_reason(settings: MqttSettings, client_id: str, exc: aiomqtt.MqttError) -> str:
    """One line saying why an established connection ended; plain about a client ID taken over."""
    cause = exc.__cause__ or exc  # aiomqtt says "Disconnected during message iteration"; why is in the cause
    code = _reason_code(cause)
    if code == _SESSION_TAKEN_OVER:
        return (
            f"MQTT broker {settings.broker} dropped this kiosk: another client connected with its client ID "
            f"{client_id!r} (session taken over)"
        )
    detail = _one_line(cause)
    if code == _UNSPECIFIED:
        detail = (
            "closed with no reason given (a network fault, a broker restart, or another client that connected "
            f"with this kiosk's client ID {client_id!r})"
        )
    return f"MQTT connection to {settings.broker} lost: {detail}"


def _incoming_queue(on_full: Callable[[], None]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """aiomqtt's incoming queue: a message that finds it full is dropped, and ``on_full`` counts it."""

    class Incoming(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            if self.full():
                on_full()
            else:
                super().put_nowait(item)

    return Incoming


def _connect_reason(settings: MqttSettings, exc: aiomqtt.MqttError) -> str:
    """One line saying why a connect attempt failed; names the broker, never a secret."""
    if isinstance(exc, MqttConnectError):
        # paho's reason codes read "Bad user name or password", "Not authorized", ...
        detail = str(exc.rc) if exc.rc is not None and not isinstance(exc.rc, int) else _one_line(exc)
        detail = detail[:1].lower() + detail[1:]
        code = exc.rc if isinstance(exc.rc, int) else getattr(exc.rc, "value", None)
        if code in _AUTH_CODES and connects_anonymously(settings):
            detail += " (this kiosk has no credentials: set kiosk.mqtt.username and password_env)"
        elif code in _AUTH_CODES:
            detail += " (check the username and password)"
        return f"MQTT broker {settings.broker} refused the connection: {detail}"
    return f"MQTT broker {settings.broker} is unreachable: {_one_line(exc)}"


def _client(
    settings: MqttSettings,
    password: str | None,
    *,
    identifier: str,
    will: aiomqtt.Will | None,
    on_dropped: Callable[[], None] | None = None,
) -> aiomqtt.Client:
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
        logger=logging.getLogger(f"{__name__}.paho"),
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
            async with _client(settings, password, identifier=identifier, will=None):
                pass
    except TimeoutError:
        return f"MQTT broker {settings.broker} did not answer within {timeout_s:g} s"
    except aiomqtt.MqttError as exc:
        return _connect_reason(settings, exc)
    return None


class MqttLink:
    """Publishes the kiosk's status, events and metrics, and takes commands, over one broker connection.

    ``publish_event`` and ``set_state`` are plain methods for the event loop's
    thread (``EventBus.subscribe(link.publish_event)``); ``run`` keeps the
    connection up until ``stop`` is set, and never raises on broker errors.
    Raises :class:`ConfigError` when the settings have no credentials and do not allow an anonymous broker.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        controller: Controller | None = None,
        metrics: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        pause: Callable[[float, asyncio.Event], Awaitable[None]] = _wait_or_stop,
    ) -> None:
        check_credentials(settings)
        self.settings = settings
        self.stats = LinkStats()
        self.backoff = Backoff(settings.reconnect_initial_s, settings.reconnect_max_s)
        self._controller = controller
        self._metrics = metrics
        self._clock = clock
        self._pause = pause  # waits between connection attempts, until the time is up or stop is set
        self._started = clock()
        self._client_id = _new_client_id(settings)
        self._bucket = TokenBucket(settings.command_rate, settings.command_burst, clock)
        self._versions = _versions()
        self._base = f"{settings.prefix}/{settings.kiosk_id}"
        self._buffer: deque[_Outgoing] = deque(maxlen=settings.buffer)
        self._wake = asyncio.Event()
        self._change = asyncio.Event()
        self._commands: asyncio.Queue[Command] = asyncio.Queue(maxsize=COMMAND_QUEUE)
        self._state = "starting"
        self._status_dirty = True
        self._connected = False
        self._warned_full = False
        self._warned_dropping = False
        self._warned_rate = False
        self._last_failure: str | None = None

    # --- the synchronous side: called by the pipeline -----------------------------------------

    def _changed(self) -> None:
        """Wakes :meth:`wait_until` callers: the connection or a counter moved."""
        self._change.set()
        self._change = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> None:
        """Returns once ``condition()`` holds, checked each time the connection or a counter moves."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                await self._change.wait()

    def topic(self, leaf: str) -> str:
        return f"{self._base}/{leaf}"

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def state(self) -> str:
        return self._state

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def commands_waiting(self) -> int:
        return self._commands.qsize()

    def set_state(self, state: str) -> None:
        """The assistant's state ("idle", "listening", "speaking", "muted", ...), published in ``status``."""
        if state != self._state:
            self._state = state
            self._status_dirty = True
            self._wake.set()

    def publish_event(self, event: Event) -> None:
        """An ``EventBus`` subscriber: queue the event for ``events`` if its type is wanted."""
        wanted = self.settings.events
        if isinstance(event, Transcribed) and not event.final:
            if PARTIAL_TRANSCRIPTS not in wanted:
                return
        elif event.type not in wanted:
            return
        self._enqueue("events", to_record(event))

    def _enqueue(self, leaf: str, data: Mapping[str, Any]) -> None:
        payload = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        if len(self._buffer) == self._buffer.maxlen:
            self._count_dropped(self._buffer[0])
            if not self._warned_full:
                self._warned_full = True
                log.warning("MQTT outgoing buffer full (%d messages): dropping the oldest", self.settings.buffer)
        self._buffer.append(_Outgoing(self.topic(leaf), payload))
        self._wake.set()

    def _requeue(self, message: _Outgoing) -> None:
        """Put back a message that was not acknowledged; it is the oldest, so it is the one dropped when full."""
        if len(self._buffer) < self.settings.buffer:
            self._buffer.appendleft(message)
        else:
            self._count_dropped(message)

    def _count_dropped(self, message: _Outgoing) -> None:
        self.stats.dropped_outgoing += 1
        if message.topic == self.topic("cmd/result"):
            self.stats.results_dropped += 1

    def _status(self, online: bool, **extra: Any) -> bytes:
        data: dict[str, Any] = {
            "online": online,
            "state": self._state if online else "offline",
            "kiosk_id": self.settings.kiosk_id,
            "versions": self._versions,
        }
        data.update(extra)
        return json.dumps(data).encode("utf-8")

    def _uptime(self) -> float:
        return round(self._clock() - self._started, 1)

    # --- the connection -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, reconnect with backoff, until ``stop`` is set; then go offline cleanly."""
        if connects_anonymously(self.settings):
            log.warning(
                "MQTT link to %s has no credentials (kiosk.mqtt.allow_anonymous: true): %s",
                self.settings.broker,
                ANONYMOUS_RISK,
            )
        async with asyncio.TaskGroup() as tg:
            worker = tg.create_task(self._run_commands(), name="mqtt-commands")
            try:
                await self._connect_loop(stop)
            finally:
                worker.cancel()
        if self._buffer:
            log.info("MQTT link stopped with %d messages not sent", len(self._buffer))

    async def _connect_loop(self, stop: asyncio.Event) -> None:
        settings = self.settings
        will = aiomqtt.Will(
            self.topic("status"), self._status(False, reason="connection lost"), qos=settings.qos, retain=True
        )
        while not stop.is_set():
            connected = False
            try:
                password = await asyncio.to_thread(read_password, settings)
                async with _client(
                    settings, password, identifier=self._client_id, will=will, on_dropped=self._incoming_dropped
                ) as client:
                    connected = True
                    self.backoff.reset()
                    self._on_connected()
                    try:
                        await self._session(client, stop)
                    finally:
                        self._connected = False
                        self._changed()
            except _Stopped:
                return
            except ConfigError as exc:
                self._on_failure(str(exc), logging.ERROR)
            except aiomqtt.MqttError as exc:
                if connected:
                    taken_over = _reason_code(exc.__cause__ or exc) == _SESSION_TAKEN_OVER
                    self._on_failure(
                        lost_reason(settings, self._client_id, exc), logging.ERROR if taken_over else logging.WARNING
                    )
                    if taken_over:  # a random ID was found out: take a new one (a pinned one stays)
                        self._client_id = _new_client_id(settings)
                else:
                    reason = _connect_reason(settings, exc)
                    refused = isinstance(exc, MqttConnectError)
                    self._on_failure(reason, logging.ERROR if refused else logging.WARNING)
            except Exception as exc:  # a library bug must not end the kiosk's link
                log.exception("MQTT link: unexpected error")
                self._on_failure(f"MQTT link: unexpected {type(exc).__name__}", logging.ERROR)
            await self._pause(self.backoff.next(), stop)

    def _on_connected(self) -> None:
        self._connected = True
        self._changed()
        self._status_dirty = True
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        if self.stats.reconnects:
            log.info("MQTT connected to %s again", self.settings.broker)
        else:
            log.info("MQTT connected to %s as %s (client ID %s)", self.settings.broker, self._base, self._client_id)
        self._last_failure = None

    def _on_failure(self, reason: str, level: int) -> None:
        self.stats.connect_failures += 1
        self._changed()
        if reason != self._last_failure:  # one line per kind of failure, not one per retry
            log.log(level, "%s; retrying with backoff up to %g s", reason, self.settings.reconnect_max_s)
        else:
            log.debug("%s (still)", reason)
        self._last_failure = reason

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        """One connection: returns never; raises MqttError when it is lost, _Stopped after a clean stop."""
        await client.subscribe(self.topic("cmd"), qos=self.settings.qos)
        stopped = asyncio.create_task(stop.wait(), name="mqtt-stop")
        tasks = [
            asyncio.create_task(self._receive(client), name="mqtt-receive"),
            asyncio.create_task(self._send(client), name="mqtt-send"),
            asyncio.create_task(self._publish_metrics(), name="mqtt-metrics"),
            stopped,
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # aiomqtt's publish can swallow a cancellation that lands while it waits for the broker, and
            # the task then goes back to waiting: cancel again until every task has ended.
            pending = set(tasks)
            while pending:
                for task in pending:
                    task.cancel()
                _, pending = await asyncio.wait(pending, timeout=0.5)
        for task in done - {stopped}:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
        if stopped not in done:
            raise aiomqtt.MqttError(f"{next(iter(done)).get_name()} ended")
        await self._go_offline(client)
        raise _Stopped

    async def _go_offline(self, client: aiomqtt.Client) -> None:
        """Send what is buffered (within a deadline), then the offline status; the disconnect follows."""
        while not self._commands.empty():  # they will not run: say so, rather than leave them unanswered
            self._reject(self._commands.get_nowait().id, "the kiosk is stopping")
        try:
            async with asyncio.timeout(SHUTDOWN_FLUSH_S):
                while self._buffer:
                    await self._publish_next(client)
            await client.publish(
                self.topic("status"),
                self._status(False, state="stopped", reason="shutdown", uptime_s=self._uptime()),
                qos=self.settings.qos,
                retain=True,
            )
        except (TimeoutError, aiomqtt.MqttError) as exc:
            log.warning("MQTT link: could not go offline cleanly: %s", _one_line(exc))
        else:
            log.info("MQTT link to %s: offline after a clean stop", self.settings.broker)

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            if self._status_dirty:
                self._status_dirty = False
                sent = False
                try:
                    payload = self._status(True, uptime_s=self._uptime())
                    await client.publish(self.topic("status"), payload, qos=self.settings.qos, retain=True)
                    sent = True
                    self.stats.published += 1
                    self._changed()
                finally:
                    if not sent:
                        self._status_dirty = True
            elif self._buffer:
                await self._publish_next(client)
            else:
                self._warned_full = False
                self._wake.clear()
                await self._wake.wait()

    async def _publish_next(self, client: aiomqtt.Client) -> None:
        message = self._buffer.popleft()
        sent = False
        try:
            await client.publish(message.topic, message.payload, qos=self.settings.qos)
            sent = True
            self.stats.published += 1
            self._changed()
        finally:
            if not sent:
                self._requeue(message)

    async def _publish_metrics(self) -> None:
        while True:
            await asyncio.sleep(self.settings.metrics_interval_s)
            data: dict[str, Any] = {}
            if self._metrics is not None:
                try:
                    data.update(self._metrics())
                except Exception as exc:
                    log.warning("MQTT metrics: the metrics callable failed: %s", _one_line(exc))
                    data["metrics_error"] = _one_line(exc)
            data["uptime_s"] = self._uptime()
            data["mqtt"] = {**dataclasses.asdict(self.stats), "buffered": len(self._buffer)}
            self._enqueue("metrics", data)

    # --- commands -----------------------------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.retain:
                self._ignore_retained(str(message.topic))
                continue
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                raw = bytes(payload)
            else:
                raw = b"" if payload is None else str(payload).encode("utf-8")
            try:
                self._take_command(raw)
            except Exception:  # one command must never end the link
                log.exception("MQTT command: unexpected error")
                self._reject(None, "internal error while reading this command")
            if not len(client.messages):
                self._warned_dropping = False
            self._changed()

    def _ignore_retained(self, topic: str) -> None:
        """A retained command was sent to an earlier subscriber (or none): running it at each start
        would repeat it forever (a retained shutdown is a restart loop)."""
        self.stats.commands_ignored += 1
        self._changed()
        log.warning(
            "MQTT command ignored: it is retained on %s (it would run again at every start); "
            "clear it with: mosquitto_pub -r -n -t '%s'",
            topic,
            topic,
        )

    def _incoming_dropped(self) -> None:
        self.stats.commands_dropped += 1
        self._changed()
        if not self._warned_dropping:
            self._warned_dropping = True
            log.warning("MQTT commands arrive faster than they are read (%d waiting): dropping them", INCOMING_QUEUE)

    def _take_command(self, payload: bytes) -> None:
        try:
            command = parse_command(payload)
        except CommandRejected as exc:
            self._reject(exc.command_id, exc.message)
            return
        if self._controller is None:
            self._reject(command.id, "this kiosk takes no commands")
            return
        if not self._bucket.take():
            self._rate_limited(command.id)
            return
        self._warned_rate = False
        try:
            self._commands.put_nowait(command)
        except asyncio.QueueFull:
            self._reject(command.id, f"busy: {COMMAND_QUEUE} commands are waiting")

    def _rate_limited(self, command_id: str) -> None:
        self.stats.commands_rate_limited += 1
        rate, burst = self.settings.command_rate, self.settings.command_burst
        message = f"rate limited: at most {rate:g} commands a second (bursts of {burst})"
        if not self._warned_rate:  # one line per flood, not one per command
            self._warned_rate = True
            log.warning("MQTT commands %s; refusing until the rate drops (first id %s)", message, command_id)
        self._enqueue("cmd/result", {"id": command_id, "ok": False, "error": message})

    def _reject(self, command_id: str | None, message: str) -> None:
        self.stats.commands_rejected += 1
        log.warning("MQTT command rejected (id %s): %s", command_id, message)
        self._enqueue("cmd/result", {"id": command_id, "ok": False, "error": message})

    async def _run_commands(self) -> None:
        while True:
            command = await self._commands.get()
            try:
                await self._execute(command)
            except Exception:  # a controller's odd answer must not end the command loop, nor the link
                log.exception("MQTT command %s (id %s): unexpected error", command.cmd, command.id)
                self.stats.commands_failed += 1
                error = f"{command.cmd} failed: internal error"
                self._enqueue("cmd/result", {"id": command.id, "ok": False, "cmd": command.cmd, "error": error})

    async def _execute(self, command: Command) -> None:
        timeout = self.settings.command_timeout_s
        try:
            async with asyncio.timeout(timeout):
                details = await self._dispatch(command)
        except TimeoutError:
            error = f"{command.cmd} took longer than {timeout:g} s"
        except Exception as exc:
            error = f"{command.cmd} failed: {_one_line(exc)}"
        else:
            result: dict[str, Any] = {"id": command.id, "ok": True, "cmd": command.cmd}
            for key, value in (details or {}).items():
                result.setdefault(key, value)
            self._enqueue("cmd/result", result)
            self.stats.commands_ok += 1
            log.info("MQTT command %s (id %s) done", command.cmd, command.id)
            return
        self.stats.commands_failed += 1
        log.warning("MQTT command %s (id %s): %s", command.cmd, command.id, error)
        self._enqueue("cmd/result", {"id": command.id, "ok": False, "cmd": command.cmd, "error": error})

    async def _dispatch(self, command: Command) -> dict[str, Any] | None:
        controller = self._controller
        assert controller is not None  # commands are queued only when there is one
        match command:
            case Say(text=text):
                return await controller.say(text)
            case Mute():
                return await controller.mute()
            case Unmute():
                return await controller.unmute()
            case Reset():
                return await controller.reset()
            case DescribeNow():
                return await controller.describe_now()
            case SetVolume(level=level):
                return await controller.set_volume(level)
            case Shutdown():
                return await controller.shutdown()
