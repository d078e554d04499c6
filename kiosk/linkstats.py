"""The MQTT link's counters (published in ``metrics``), and the signal that one of them,
or the connection, moved: what :meth:`kiosk.mqtt.MqttLink.wait_until` waits on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


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


class Changes:
    """Call it when the connection or a counter moved; :meth:`wait_until` callers then look again."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> None:
        """Returns once ``condition()`` holds, checked each time something moved."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                await self._event.wait()
