"""The replay driver: feeds a recorded video and audio into the pipeline by media time.

Audio blocks and sampled frames are merged in media-time order. With ``speed > 0``
each item is released when the wall clock (scaled by the speed) reaches its time,
as a camera and microphone would deliver it. With ``speed == 0`` the driver waits
until the whole pipeline is idle, then moves the media clock to the item's time:
every stage sees the media as if the models took no time at all, and the run is
as fast, and as repeatable, as the models allow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from kernel.channels import Activity, Channel
from kernel.clock import MediaClock, WallClock
from perception.frames import Frame, VideoFileSource
from perception.sampling import Sampler
from speech.audio import BLOCK, SAMPLE_RATE, AudioBlock
from speech.audio_file import AudioFileSource

Progress = Callable[[float], None]


class ReplayDriver:
    def __init__(
        self,
        *,
        audio: AudioFileSource | None,
        video: VideoFileSource | None,
        sampler: Sampler,
        clock: MediaClock | WallClock,
        activity: Activity,
        audio_out: Channel[AudioBlock],
        frames_out: Channel[Frame],
        on_progress: Progress | None = None,
        loops: int = 1,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.audio = audio
        self.video = video
        self.sampler = sampler
        self.clock = clock
        self.activity = activity
        self.audio_out = audio_out
        self.frames_out = frames_out
        self.on_progress = on_progress
        self.loops = loops
        self.stop = stop
        self.position = 0.0

    @property
    def duration(self) -> float:
        return max(self.audio.duration if self.audio else 0.0, self.video.duration if self.video else 0.0)

    async def _reach(self, t: float) -> None:
        if isinstance(self.clock, MediaClock):
            if self.stop is None:
                await self.activity.wait_idle()
            else:  # a stop must not wait for a pipeline that never goes idle
                idle = asyncio.ensure_future(self.activity.wait_idle())
                stopping = asyncio.ensure_future(self.stop.wait())
                await asyncio.wait({idle, stopping}, return_when=asyncio.FIRST_COMPLETED)
                idle.cancel()
                stopping.cancel()
                if self.stop.is_set():
                    return
            self.clock.set(t)
        else:
            await self.clock.sleep_until(t)
        self.position = max(self.position, t)
        if self.on_progress is not None:
            self.on_progress(self.position)

    async def run(self) -> None:
        """Plays the input ``loops`` times (0: until ``stop``), media time running on across loops."""
        offset = 0.0
        played = 0
        try:
            while not self._stopped():
                await self._play(offset)
                played += 1
                if self.loops and played >= self.loops:
                    break
                offset += self.duration
        finally:
            self.audio_out.close()
            self.frames_out.close()

    def _stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def _play(self, offset: float) -> None:
        block_s = BLOCK / SAMPLE_RATE
        blocks = self.audio.blocks() if self.audio else None
        frames = self.video.frames(lambda t: self.sampler.due(offset + t)) if self.video else None
        audio_t = offset
        block = next(blocks, None) if blocks else None
        frame = await asyncio.to_thread(next, frames, None) if frames else None
        while (block is not None or frame is not None) and not self._stopped():
            # A block is delivered when its last sample has arrived.
            if block is not None and (frame is None or audio_t + block_s <= offset + frame.t):
                await self._reach(audio_t + block_s)
                await self.audio_out.put(AudioBlock(audio_t, block))
                audio_t += block_s
                block = next(blocks, None) if blocks else None
            elif frame is not None:
                await self._reach(offset + frame.t)
                self.frames_out.put_nowait(replace(frame, t=offset + frame.t) if offset else frame)
                frame = await asyncio.to_thread(next, frames, None) if frames else None
        if not self._stopped():
            # The media lasts until its end, not until the last sampled frame.
            await self._reach(max(offset + self.duration, self.position))
