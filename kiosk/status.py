"""What the kiosk reports over its MQTT link: the retained ``status``, the ``events`` and
the periodic ``metrics`` (the payloads are described in :mod:`kiosk.mqtt`).

The status is not buffered: :class:`Reporter` marks it out of date (``dirty``) on a
state change or a new connection, and the link publishes the current one. Events and
metrics go through the :class:`~kiosk.outbox.Outbox`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import platform
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import aiomqtt

from kernel.events import Event, Transcribed, to_record

from .broker import LOGGER, one_line
from .linkstats import LinkStats
from .outbox import Outbox
from .settings import PARTIAL_TRANSCRIPTS, MqttSettings

log = logging.getLogger(LOGGER)


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("omnilive", "aiomqtt", "paho-mqtt"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


class Reporter:
    """The kiosk's status, events and metrics; ``metrics`` adds the runtime's own figures to the link's."""

    def __init__(
        self,
        settings: MqttSettings,
        outbox: Outbox,
        stats: LinkStats,
        *,
        changed: Callable[[], None],
        metrics: Callable[[], Mapping[str, Any]] | None,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.state = "starting"
        self.dirty = True  # the status on the broker is not the current one
        self._outbox = outbox
        self._stats = stats
        self._changed = changed
        self._metrics = metrics
        self._clock = clock
        self._started = clock()
        self._versions = _versions()

    def set_state(self, state: str) -> None:
        """The assistant's state ("idle", "listening", "speaking", "muted", ...), published in ``status``."""
        if state != self.state:
            self.state = state
            self.dirty = True
            self._outbox.wake()

    def publish_event(self, event: Event) -> None:
        """Queue the event for ``events`` if its type is wanted."""
        wanted = self.settings.events
        if isinstance(event, Transcribed) and not event.final:
            if PARTIAL_TRANSCRIPTS not in wanted:
                return
        elif event.type not in wanted:
            return
        self._outbox.put("events", to_record(event))

    def uptime(self) -> float:
        return round(self._clock() - self._started, 1)

    def status(self, online: bool, **extra: Any) -> bytes:
        data: dict[str, Any] = {
            "online": online,
            "state": self.state if online else "offline",
            "kiosk_id": self.settings.kiosk_id,
            "versions": self._versions,
        }
        data.update(extra)
        return json.dumps(data, ensure_ascii=False).encode("utf-8")

    def will(self) -> aiomqtt.Will:
        """The last will: the broker publishes it as the status when the link dies."""
        payload = self.status(False, reason="connection lost")
        return aiomqtt.Will(self._outbox.topic("status"), payload, qos=self.settings.qos, retain=True)

    async def publish_status(self, client: aiomqtt.Client) -> None:
        """Publishes the current status (retained); it stays ``dirty`` if that does not complete."""
        self.dirty = False
        sent = False
        try:
            payload = self.status(True, uptime_s=self.uptime())
            await client.publish(self._outbox.topic("status"), payload, qos=self.settings.qos, retain=True)
            sent = True
            self._stats.published += 1
            self._changed()
        finally:
            if not sent:
                self.dirty = True

    async def publish_stopped(self, client: aiomqtt.Client) -> None:
        """The status of a clean stop (retained), in place of the last will."""
        payload = self.status(False, state="stopped", reason="shutdown", uptime_s=self.uptime())
        await client.publish(self._outbox.topic("status"), payload, qos=self.settings.qos, retain=True)

    async def run_metrics(self) -> None:
        """Queues ``metrics`` every ``metrics_interval_s``, forever."""
        while True:
            await asyncio.sleep(self.settings.metrics_interval_s)
            data: dict[str, Any] = {}
            if self._metrics is not None:
                try:
                    data.update(self._metrics())
                except Exception as exc:
                    log.warning("MQTT metrics: the metrics callable failed: %s", one_line(exc))
                    data["metrics_error"] = one_line(exc)
            data["uptime_s"] = self.uptime()
            data["mqtt"] = {**dataclasses.asdict(self._stats), "buffered": len(self._outbox)}
            self._outbox.put("metrics", data)
