"""Stage supervision: a stage that crashes, or stalls, is restarted while the rest runs on.

Every long-running stage (VAD, ASR, dialogue, vision, the device taps) is a coroutine
reading from bounded channels. :meth:`Supervisor.spawn` runs one in the session's
TaskGroup and watches it:

- it **returns**: its input ended; the stage is done.
- it **raises**: a ``stage_restart`` event, a backoff wait (``backoff_initial_s``,
  doubling up to ``backoff_max_s``; it starts over once a run outlived ``stall_s``), and
  a fresh run on the same channels. The item it held is dropped, never retried, so a
  poisoned input cannot crash it in a loop.
- it **stalls**: one of its inputs has work waiting, or an item in hand, and nothing
  was taken for ``stall_s``: the run is cancelled and restarted the same way. A stage
  that waits on an empty input is idle, not stalled.

Time is the loop's monotonic clock unless a test passes its own ``now``/``sleep``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from kernel.channels import Channel
from kernel.eventlog import EventBus
from kernel.events import StageRestarted

log = logging.getLogger(__name__)

StageFactory = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class StageHealth:
    name: str
    restarts: int = 0
    running: bool = False
    last_error: str = ""


class Supervisor:
    def __init__(
        self,
        bus: EventBus,
        *,
        enabled: bool = True,
        stall_s: float = 60.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        check_interval_s: float | None = None,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bus = bus
        self.enabled = enabled
        self.stall_s = stall_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.check_interval_s = check_interval_s or max(stall_s / 4, 0.05)
        self._now = now
        self._sleep = sleep
        self.stages: dict[str, StageHealth] = {}

    @property
    def restarts(self) -> int:
        return sum(s.restarts for s in self.stages.values())

    def spawn(
        self, tg: asyncio.TaskGroup, name: str, factory: StageFactory, inputs: Sequence[Channel[Any]] = ()
    ) -> asyncio.Task[None]:
        if not self.enabled:
            return tg.create_task(factory(), name=name)
        return tg.create_task(self.supervise(name, factory, inputs), name=f"{name}-supervisor")

    async def supervise(self, name: str, factory: StageFactory, inputs: Sequence[Channel[Any]] = ()) -> None:
        health = self.stages.setdefault(name, StageHealth(name))
        backoff = self.backoff_initial_s
        while True:
            started = self._now()
            health.running = True
            task = asyncio.create_task(factory(), name=name)
            try:
                reason = await self._watch(task, inputs)
            finally:
                health.running = False
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if reason is None:
                return
            if self._now() - started > self.stall_s:
                backoff = self.backoff_initial_s  # it ran well for a while: a fresh fault, not a loop
            health.restarts += 1
            health.last_error = reason
            log.error("stage %s %s; restarting in %.1f s (restart %d)", name, reason, backoff, health.restarts)
            self.bus.publish(
                StageRestarted(t=self.bus.clock.now(), stage=name, reason=reason, restart=health.restarts,
                               backoff_s=backoff)
            )
            await self._sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    async def _watch(self, task: asyncio.Task[None], inputs: Sequence[Channel[Any]]) -> str | None:
        """None when the stage ended by itself; else why it must restart."""
        taken = [c.taken for c in inputs]
        progress_at = self._now()
        while True:
            if inputs:
                sleeper = asyncio.ensure_future(self._sleep(self.check_interval_s))
                try:
                    await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
            else:
                await asyncio.wait({task})
            if task.done():
                if task.cancelled():
                    raise asyncio.CancelledError  # the session is shutting down
                exc = task.exception()
                if exc is None:
                    return None
                return f"crashed: {type(exc).__name__}: {exc}"
            now_taken = [c.taken for c in inputs]
            if now_taken != taken or not any(c.pending for c in inputs):
                taken, progress_at = now_taken, self._now()
            elif self._now() - progress_at >= self.stall_s:
                return f"stalled: no progress for {self._now() - progress_at:.0f} s with work waiting"
