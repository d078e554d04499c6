"""Clocks. Every event is stamped by an injected clock, never by ``time.time()``.

- :class:`WallClock`: seconds since ``start()`` on the monotonic clock, scaled by a
  speed factor; live sessions use speed 1, a replay at ``--speed 2`` uses 2.
- :class:`MediaClock`: the media position the replay has reached; it only moves
  when the replay driver advances it (``--speed 0``).
- :class:`FakeClock`: for tests; moved by hand.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on the session clock."""
        ...

    async def sleep_until(self, t: float) -> None:
        """Return once ``now() >= t``."""
        ...


class WallClock:
    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("WallClock needs a positive speed")
        self.speed = speed
        self._t0 = time.monotonic()

    def start(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    async def sleep_until(self, t: float) -> None:
        delay = (t - self.now()) / self.speed
        if delay > 0:
            await asyncio.sleep(delay)


class _ManualClock:
    """A clock that moves only when told; waiters wake when it passes their time."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._changed = asyncio.Event()

    def now(self) -> float:
        return self._now

    def set(self, t: float) -> None:
        if t > self._now:
            self._now = t
            self._changed.set()
            self._changed = asyncio.Event()

    def advance(self, dt: float) -> None:
        self.set(self._now + dt)

    async def sleep_until(self, t: float) -> None:
        while self._now < t:
            await self._changed.wait()


class MediaClock(_ManualClock):
    """The position, in media seconds, that a replay has reached."""


class FakeClock(_ManualClock):
    """A clock for tests, moved with :meth:`advance` or :meth:`set`."""
