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
bounded buffer, the :class:`~kiosk.outbox.Outbox`, and go out in order once the link is
back; the status is not buffered: the link publishes the current one after each connect
(:mod:`kiosk.status`). Commands are read, rate limited, queued and run by a
:class:`~kiosk.command_queue.CommandQueue`, which says what happens to each. This module
keeps the connection: connect, reconnect with :class:`~kiosk.broker.Backoff`, and the
tasks of one session; :mod:`kiosk.broker` builds the client and explains its failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from kernel.errors import ConfigError
from kernel.events import Event

from .broker import (
    LOGGER,
    SESSION_TAKEN_OVER,
    Backoff,
    check_broker,
    connect_reason,
    lost_reason,
    make_client,
    new_client_id,
    one_line,
    reason_code,
)
from .command_queue import COMMAND_QUEUE, CommandQueue, Controller
from .linkstats import Changes, LinkStats
from .outbox import Outbox
from .settings import ANONYMOUS_RISK, MqttSettings, check_credentials, connects_anonymously, read_password
from .status import Reporter

# The link's public surface: the names its users and tests import from here.
__all__ = ["COMMAND_QUEUE", "Backoff", "Controller", "LinkStats", "MqttLink", "check_broker", "lost_reason"]

log = logging.getLogger(LOGGER)

SHUTDOWN_FLUSH_S = 3.0  # at most this long to send what is buffered on a clean stop


class _Stopped(Exception):
    """The stop event was set during a session."""


async def _wait_or_stop(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


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
        self._changed = Changes()
        self._base = f"{settings.prefix}/{settings.kiosk_id}"
        self._outbox = Outbox(self._base, settings.buffer, settings.qos, self.stats, self._changed)
        self._reporter = Reporter(
            settings, self._outbox, self.stats, changed=self._changed, metrics=metrics, clock=clock
        )
        self._commands = CommandQueue(
            settings, controller, self._outbox, self.stats, changed=self._changed, clock=clock
        )
        self._pause = pause  # waits between connection attempts, until the time is up or stop is set
        self._client_id = new_client_id(settings)
        self._connected = False
        self._last_failure: str | None = None

    # --- the synchronous side: called by the pipeline -----------------------------------------

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> None:
        """Returns once ``condition()`` holds, checked each time the connection or a counter moves."""
        await self._changed.wait_until(condition, timeout_s)

    def topic(self, leaf: str) -> str:
        return self._outbox.topic(leaf)

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def state(self) -> str:
        return self._reporter.state

    @property
    def buffered(self) -> int:
        return len(self._outbox)

    @property
    def commands_waiting(self) -> int:
        return self._commands.waiting

    def set_state(self, state: str) -> None:
        """The assistant's state ("idle", "listening", "speaking", "muted", ...), published in ``status``."""
        self._reporter.set_state(state)

    def publish_event(self, event: Event) -> None:
        """An ``EventBus`` subscriber: queue the event for ``events`` if its type is wanted."""
        self._reporter.publish_event(event)

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
            worker = tg.create_task(self._commands.run(), name="mqtt-commands")
            try:
                await self._connect_loop(stop)
            finally:
                worker.cancel()
        if self._outbox:
            log.info("MQTT link stopped with %d messages not sent", len(self._outbox))

    async def _connect_loop(self, stop: asyncio.Event) -> None:
        settings = self.settings
        will = self._reporter.will()
        while not stop.is_set():
            connected = False
            try:
                password = await asyncio.to_thread(read_password, settings)
                dropped = self._commands.incoming_dropped
                async with make_client(
                    settings, password, identifier=self._client_id, will=will, on_dropped=dropped
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
                self._on_mqtt_error(exc, connected=connected)
            except Exception as exc:  # a library bug must not end the kiosk's link
                log.exception("MQTT link: unexpected error")
                self._on_failure(f"MQTT link: unexpected {type(exc).__name__}", logging.ERROR)
            await self._pause(self.backoff.next(), stop)

    def _on_connected(self) -> None:
        self._connected = True
        self._changed()
        self._reporter.dirty = True
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        if self.stats.reconnects:
            log.info("MQTT connected to %s again", self.settings.broker)
        else:
            log.info("MQTT connected to %s as %s (client ID %s)", self.settings.broker, self._base, self._client_id)
        self._last_failure = None

    def _on_mqtt_error(self, exc: aiomqtt.MqttError, *, connected: bool) -> None:
        """A connection that was lost (``connected``), or an attempt that failed."""
        if connected:
            taken_over = reason_code(exc.__cause__ or exc) == SESSION_TAKEN_OVER
            self._on_failure(
                lost_reason(self.settings, self._client_id, exc), logging.ERROR if taken_over else logging.WARNING
            )
            if taken_over:  # a random ID was found out: take a new one (a pinned one stays)
                self._client_id = new_client_id(self.settings)
        else:
            refused = isinstance(exc, MqttConnectError)
            self._on_failure(connect_reason(self.settings, exc), logging.ERROR if refused else logging.WARNING)

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
            asyncio.create_task(self._commands.receive(client), name="mqtt-receive"),
            asyncio.create_task(self._send(client), name="mqtt-send"),
            asyncio.create_task(self._reporter.run_metrics(), name="mqtt-metrics"),
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
        self._commands.refuse_waiting("the kiosk is stopping")  # they will not run: say so
        try:
            async with asyncio.timeout(SHUTDOWN_FLUSH_S):
                while self._outbox:
                    await self._outbox.publish_next(client)
            await self._reporter.publish_stopped(client)
        except (TimeoutError, aiomqtt.MqttError) as exc:
            log.warning("MQTT link: could not go offline cleanly: %s", one_line(exc))
        else:
            log.info("MQTT link to %s: offline after a clean stop", self.settings.broker)

    async def _send(self, client: aiomqtt.Client) -> None:
        """The status when it changed, else the outbox's messages in order, else wait for either."""
        while True:
            if self._reporter.dirty:
                await self._reporter.publish_status(client)
            elif self._outbox:
                await self._outbox.publish_next(client)
            else:
                await self._outbox.wait()
