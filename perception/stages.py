"""The async vision stage: sampled frames → change gate → describer → scene memory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from assistant.channels import Channel
from assistant.errors import AssistantError
from assistant.eventlog import EventBus
from assistant.events import ErrorOccurred, SceneDescribed, Stage

from .describer import Describer
from .frames import Frame
from .memory import SceneDescription, SceneMemory
from .sampling import ChangeGate

log = logging.getLogger(__name__)


class VisionStats:
    def __init__(self) -> None:
        self.frames = 0
        self.unchanged = 0
        self.described = 0


async def run_vision(
    frames: Channel[Frame],
    gate: ChangeGate,
    describer: Describer,
    memory: SceneMemory,
    bus: EventBus,
    stats: VisionStats,
    wait_turn: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Describes the newest changed frame in a worker thread, in the background.

    ``wait_turn`` is awaited before each description, so that describing never
    competes with a reply for the CPU; a frame that arrives meanwhile replaces
    the one waiting."""
    async for frame in frames:
        memory.latest_frame = frame
        if wait_turn is not None:
            await wait_turn()
            if len(frames):
                continue  # a newer frame came while we waited: describe that one
        stats.frames += 1
        changed, score = gate.check(frame.image)
        if not changed:
            stats.unchanged += 1
            log.debug("frame at %.2f s unchanged (%.4f)", frame.t, score)
            continue
        started = time.perf_counter()
        try:
            text = await asyncio.to_thread(describer.describe, frame.image)
        except AssistantError as exc:  # a served VLM may fail; the conversation goes on without it
            log.warning("describing the frame at %.2f s failed: %s", frame.t, exc)
            bus.publish(
                ErrorOccurred(t=bus.clock.now(), stage=Stage.DESCRIBER.value, code=exc.code, message=str(exc),
                              retryable=exc.retryable)
            )
            continue
        compute_ms = (time.perf_counter() - started) * 1000
        now = bus.clock.now()
        memory.update(SceneDescription(text=text, frame_t=frame.t, described_at=now, backend=describer.name))
        stats.described += 1
        bus.publish(
            SceneDescribed(
                t=now, text=text, frame_t=frame.t, change=score, backend=describer.name, compute_ms=compute_ms
            )
        )
