"""The MQTT link's outbox: events, metrics and command results, in order, waiting for the broker.

One bounded buffer of ``settings.buffer`` messages. When it is full the oldest is
dropped and counted (``dropped_outgoing``, and ``results_dropped`` when it was a
command's result). A message leaves the buffer only once it is published (with QoS 1,
acknowledged by the broker); one that was not is put back in front, so the order
holds across a reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt

from .broker import LOGGER
from .linkstats import LinkStats

log = logging.getLogger(LOGGER)


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes


class Outbox:
    """Messages for topics under ``base``; :meth:`put` from the loop's thread, :meth:`publish_next` to send."""

    def __init__(self, base: str, size: int, qos: int, stats: LinkStats, changed: Callable[[], None]) -> None:
        self._base = base
        self._size = size
        self._qos = qos
        self._stats = stats
        self._changed = changed
        self._buffer: deque[Outgoing] = deque(maxlen=size)
        self._wake = asyncio.Event()
        self._warned_full = False

    def __len__(self) -> int:
        return len(self._buffer)

    def topic(self, leaf: str) -> str:
        return f"{self._base}/{leaf}"

    def put(self, leaf: str, data: Mapping[str, Any]) -> None:
        """Queue ``data`` as JSON for ``<base>/<leaf>``, dropping the oldest message when full."""
        payload = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        if len(self._buffer) == self._buffer.maxlen:
            self._count_dropped(self._buffer[0])
            if not self._warned_full:
                self._warned_full = True
                log.warning("MQTT outgoing buffer full (%d messages): dropping the oldest", self._size)
        self._buffer.append(Outgoing(self.topic(leaf), payload))
        self._wake.set()

    def wake(self) -> None:
        """Wakes :meth:`wait`: there is something other than a message to send (a new status)."""
        self._wake.set()

    async def wait(self) -> None:
        """Waits for the next :meth:`put` or :meth:`wake`; call it when the buffer is empty."""
        self._warned_full = False
        self._wake.clear()
        await self._wake.wait()

    async def publish_next(self, client: aiomqtt.Client) -> None:
        """Publishes the oldest message; if that does not complete, it goes back in front."""
        message = self._buffer.popleft()
        sent = False
        try:
            await client.publish(message.topic, message.payload, qos=self._qos)
            sent = True
            self._stats.published += 1
            self._changed()
        finally:
            if not sent:
                self._requeue(message)

    def _requeue(self, message: Outgoing) -> None:
        """Put back a message that was not acknowledged; it is the oldest, so it is the one dropped when full."""
        if len(self._buffer) < self._size:
            self._buffer.appendleft(message)
        else:
            self._count_dropped(message)

    def _count_dropped(self, message: Outgoing) -> None:
        self._stats.dropped_outgoing += 1
        if message.topic == self.topic("cmd/result"):
            self._stats.results_dropped += 1
