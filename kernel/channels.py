"""Bounded channels between stages, and the activity tracker behind ``--speed 0``.

Every channel has a bound and a policy for when it is full:

- ``Overflow.BLOCK``: the producer waits. Nothing is dropped; used for control
  data and for replayed media, which must not lose samples.
- ``Overflow.DROP_OLDEST``: the oldest item is dropped and counted; used for live
  audio (a slow consumer must never block the audio thread) and, with
  ``maxsize=1``, for frames, where the newest always wins.

A channel may share an :class:`Activity` with the rest of the pipeline. An item
counts as work from ``put`` until its consumer asks for the next item, so
``Activity.wait_idle()`` returns only once everything put has been handled and
whatever it caused downstream has been handled too. The replay driver waits for
that between media items when it runs as fast as the models allow.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Overflow(enum.Enum):
    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"


class ChannelClosed(Exception):
    """Raised by ``put`` on a closed channel."""


class Activity:
    """Counts units of work in flight anywhere in the pipeline."""

    def __init__(self) -> None:
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> int:
        return self._busy

    def begin(self) -> None:
        self._busy += 1
        self._idle.clear()

    def end(self) -> None:
        if self._busy <= 0:
            raise RuntimeError("Activity.end() without begin()")
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


class Channel(Generic[T]):
    def __init__(
        self,
        name: str,
        maxsize: int,
        policy: Overflow = Overflow.BLOCK,
        activity: Activity | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("a channel needs room for at least one item")
        self.name = name
        self.maxsize = maxsize
        self.policy = policy
        self.dropped = 0
        self._items: collections.deque[T] = collections.deque()
        self._activity = activity
        self._closed = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._in_hand = False  # the consumer holds an item it has not finished
        self.taken = 0  # items handed to the consumer: its progress, for the supervisor

    def __len__(self) -> int:
        return len(self._items)

    @property
    def pending(self) -> bool:
        """Work is waiting, or the consumer holds an item it has not finished."""
        return bool(self._items) or self._in_hand

    @property
    def closed(self) -> bool:
        return self._closed

    def _push(self, item: T) -> None:
        self._items.append(item)
        if self._activity is not None:
            self._activity.begin()
        self._readable.set()
        if len(self._items) >= self.maxsize:
            self._writable.clear()

    def put_nowait(self, item: T) -> bool:
        """Put without waiting. Returns False when a BLOCK channel is full."""
        if self._closed:
            raise ChannelClosed(self.name)
        if len(self._items) >= self.maxsize:
            if self.policy is Overflow.BLOCK:
                return False
            self._items.popleft()
            self.dropped += 1
            if self._activity is not None:
                self._activity.end()
        self._push(item)
        return True

    async def put(self, item: T) -> None:
        while self.policy is Overflow.BLOCK and len(self._items) >= self.maxsize:
            if self._closed:
                raise ChannelClosed(self.name)
            await self._writable.wait()
        self.put_nowait(item)

    def close(self) -> None:
        """No more items will come; consumers finish what is queued, then stop."""
        self._closed = True
        self._readable.set()
        self._writable.set()

    def clear(self) -> int:
        """Drop everything queued (for example on an interruption); returns the count."""
        n = len(self._items)
        self._items.clear()
        if self._activity is not None:
            for _ in range(n):
                self._activity.end()
        self._writable.set()
        if not self._closed:
            self._readable.clear()
        return n

    def task_done(self) -> None:
        """The consumer has finished with the item it took last."""
        if self._in_hand:
            self._in_hand = False
            if self._activity is not None:
                self._activity.end()

    async def get(self) -> T:
        """The next item; raises ``EOFError`` once closed and drained."""
        self.task_done()
        while not self._items:
            if self._closed:
                raise EOFError(self.name)
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        self.taken += 1
        self._in_hand = True
        self._writable.set()
        return item

    async def __aiter__(self) -> AsyncIterator[T]:
        try:
            while True:
                try:
                    yield await self.get()
                except EOFError:
                    return
        finally:
            self.task_done()
