"""The live session: camera, microphone and speakers through the same pipeline as a replay,
whether they are this machine's (:mod:`assistant.live_session`) or a browser page's (``web.server``).

The session clock is the microphone's sample clock (a :class:`MediaClock` moved by
every block the microphone delivers), so VAD times, frame times and event times are
on one timeline, and a recording replays onto the same one.

Barge-in: speech of at least ``live.barge_in_min_speech_ms`` heard while the
assistant is speaking stops playback (``player.flush``) and cancels the turn, unless
the echo guard finds that speech to be the assistant's own voice coming back
through the microphone (see :mod:`speech.echo`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from kernel.channels import Channel
from kernel.clock import Clock, MediaClock
from kernel.eventlog import EventBus, Subscriber
from kernel.events import BargeIn, Event, ReplyChunk, SessionEnded, SessionStarted, SpeechStarted
from perception.frames import Frame
from perception.sampling import Sampler
from speech.audio import BLOCK, SAMPLE_RATE, Audio, AudioBlock
from speech.echo import RecentReplies, echo_score
from speech.sinks import ReplySink
from speech.stages import FinalTranscript

from .config import RuntimeSettings
from .graph import CAMERA, MICROPHONE
from .models import Models
from .pipeline import Pipeline
from .session import RunStats

log = logging.getLogger(__name__)

BLOCK_S = BLOCK / SAMPLE_RATE


class Microphone(Protocol):
    @property
    def overflows(self) -> int: ...

    def start(self, loop: asyncio.AbstractEventLoop, out: Channel[AudioBlock]) -> None: ...

    def close(self) -> None: ...


class Player(ReplySink, Protocol):
    @property
    def playing(self) -> bool: ...

    def flush(self) -> None: ...

    def recent_output(self, seconds: float) -> Audio: ...


class Camera(Protocol):
    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        out: Channel[Frame],
        clock: Clock,
        want: Callable[[float], bool],
    ) -> None: ...

    def close(self) -> None: ...


class Recorder(Protocol):
    fps: float

    def write_audio(self, block: AudioBlock) -> None: ...

    def write_frame(self, frame: Frame) -> None: ...


class EchoGuard:
    """Decides whether speech heard over the assistant is a barge-in or its own echo."""

    def __init__(self, settings: RuntimeSettings, player: Player, clock: Clock) -> None:
        self.echo = settings.live.echo
        self.player = player
        self.clock = clock
        self.recent = RecentReplies(window_s=self.echo.window_s, threshold=self.echo.transcript_similarity)
        self.echo_utterances: set[int] = set()
        self._mic: collections.deque[Audio] = collections.deque(maxlen=int(2.0 / BLOCK_S))
        self._muted_until = 0.0

    def heard(self, block: AudioBlock) -> Audio:
        """Keeps the microphone history; in half duplex, returns silence while the assistant talks."""
        self._mic.append(block.samples)
        if not self.echo.half_duplex:
            return block.samples
        now = self.clock.now()
        if self.player.playing:
            self._muted_until = now + self.echo.half_duplex_tail_ms / 1000
        if now < self._muted_until:
            return np.zeros_like(block.samples)
        return block.samples

    def score(self, seconds: float) -> float:
        n = max(1, int(seconds / BLOCK_S))
        mic = np.concatenate(list(self._mic)[-n:]) if self._mic else np.zeros(0, dtype=np.float32)
        return echo_score(mic, self.player.recent_output(len(mic) / SAMPLE_RATE + 0.4))

    def screen(self, final: FinalTranscript) -> str | None:
        if final.utterance in self.echo_utterances:
            return "echo: the speech matched the speaker output"
        if self.recent.matches(self.clock.now(), final.text):
            return "echo: the transcript matches what the assistant just said"
        return None


async def run_live(
    settings: RuntimeSettings,
    models: Models,
    bus: EventBus,
    *,
    mic: Microphone | None,
    player: Player,
    camera: Camera | None,
    recorder: Recorder | None = None,
    stop: asyncio.Event | None = None,
    label: str = "live",
    on_ready: Callable[[Pipeline], None] | None = None,
    on_frame: Callable[[Frame], None] | None = None,
) -> RunStats:
    """Runs until ``stop`` is set, the task is cancelled (Ctrl-C), or every input has ended."""
    clock = bus.clock
    assert isinstance(clock, MediaClock), "a live session runs on the microphone's sample clock"
    guard = EchoGuard(settings, player, clock)
    stats = RunStats()
    pipeline = Pipeline(
        settings, models, bus, player, screen=guard.screen, on_interrupt=player.flush,
        min_speech_ms=settings.live.barge_in_min_speech_ms,
    )
    stats.vision = pipeline.vision
    if on_ready is not None:
        on_ready(pipeline)
    bus.subscribe(barge_in_watcher(settings, pipeline, guard, player))
    taps = LiveTaps(settings, pipeline, clock, guard, recorder=recorder, on_frame=on_frame)
    bus.publish(SessionStarted(t=clock.now(), source=label, speed=1.0, config=settings.model_dump(mode="json")))
    started = time.perf_counter()
    reason = "error"
    try:
        await taps.run(mic, camera, stop)
        reason = "stopped"
    except asyncio.CancelledError:
        reason = "interrupted"
        raise
    finally:
        for device in (mic, camera):
            if device is not None:
                await asyncio.to_thread(device.close)  # a stuck device must not block the loop
        stats.media_seconds = clock.now()
        stats.wall_seconds = time.perf_counter() - started
        stats.dropped = {**pipeline.dropped(), "microphone": mic.overflows if mic else 0,  # includes mic_ch drops
                         **({"camera_refused": refused} if (refused := getattr(camera, "bad", 0)) else {})}
        bus.publish(SessionEnded(t=clock.now(), reason=reason, media_seconds=clock.now(), dropped=stats.dropped))
    return stats


def barge_in_watcher(settings: RuntimeSettings, pipeline: Pipeline, guard: EchoGuard, player: Player) -> Subscriber:
    """Speech heard while the assistant speaks: its own echo, or a barge-in that stops the turn."""
    live = settings.live
    bus = pipeline.bus

    def watch(event: Event) -> None:
        if isinstance(event, ReplyChunk):
            guard.recent.add(event.t, event.text)
        elif isinstance(event, SpeechStarted) and player.playing and pipeline.manager is not None:
            score = guard.score(live.barge_in_min_speech_ms / 1000)
            if score >= live.echo.correlation_threshold:
                guard.echo_utterances.add(event.utterance)
                log.info("speech at %.2f s is the assistant's echo (%.2f); no barge-in", event.t, score)
            elif live.barge_in and pipeline.manager.active:
                turn = pipeline.manager.turn
                pipeline.manager.interrupt()
                bus.publish(BargeIn(t=bus.clock.now(), utterance=event.utterance, turn=turn, echo_score=score))

    return watch


class LiveTaps:
    """The devices' channels (``microphone``, ``camera``) and the taps that feed the pipeline from them."""

    def __init__(
        self,
        settings: RuntimeSettings,
        pipeline: Pipeline,
        clock: MediaClock,
        guard: EchoGuard,
        *,
        recorder: Recorder | None,
        on_frame: Callable[[Frame], None] | None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.clock = clock
        self.guard = guard
        self.recorder = recorder
        self.on_frame = on_frame
        self.mic_ch = pipeline.open_channel(MICROPHONE)
        self.camera_ch = pipeline.open_channel(CAMERA)
        self.vision_sampler = Sampler(settings.video.sample_interval_s)

    async def mic_tap(self) -> None:
        pipeline = self.pipeline
        async for block in self.mic_ch:
            self.clock.set(block.t + BLOCK_S)
            if self.recorder is not None:
                self.recorder.write_audio(block)
            await pipeline.audio_in.put(AudioBlock(block.t, self.guard.heard(block)))
        pipeline.audio_in.close()

    async def camera_tap(self) -> None:
        pipeline = self.pipeline
        seeing = pipeline.models.describer is not None
        async for frame in self.camera_ch:
            if self.on_frame is not None:
                self.on_frame(frame)
            if self.recorder is not None:
                self.recorder.write_frame(frame)
            if seeing and self.vision_sampler.due(frame.t):
                pipeline.frames_in.put_nowait(frame)
        pipeline.frames_in.close()

    async def stopper(self, stop: asyncio.Event | None) -> None:
        if stop is not None:
            await stop.wait()
            self.mic_ch.close()
            self.camera_ch.close()

    async def run(self, mic: Microphone | None, camera: Camera | None, stop: asyncio.Event | None) -> None:
        """The pipeline and the taps, until the inputs end or ``stop`` closes them."""
        await self.pipeline.warm_up()  # before the mic opens: the first question finds the prompt's head evaluated
        async with asyncio.TaskGroup() as tg:
            self.pipeline.start(tg)
            taps = [self._start_mic(tg, mic), self._start_camera(tg, camera)]
            stop_task = tg.create_task(self.stopper(stop), name="stopper")
            await asyncio.gather(*(tap for tap in taps if tap is not None))
            stop_task.cancel()

    def _start_mic(self, tg: asyncio.TaskGroup, mic: Microphone | None) -> asyncio.Task[None] | None:
        if mic is None:
            self.mic_ch.close()
            self.pipeline.audio_in.close()
            return None
        mic.start(asyncio.get_running_loop(), self.mic_ch)
        return self.pipeline.supervisor.spawn(tg, "mic-tap", self.mic_tap, [self.mic_ch])

    def _start_camera(self, tg: asyncio.TaskGroup, camera: Camera | None) -> asyncio.Task[None] | None:
        if camera is None:
            self.camera_ch.close()
            self.pipeline.frames_in.close()
            return None
        # The camera thread has its own sampler: every recorded (or previewed) frame,
        # or only what the describer will look at; the tap's sampler picks those.
        recorder = self.recorder
        rate = recorder.fps if recorder is not None else 10.0 if self.on_frame is not None else 0.0
        want = Sampler(1 / rate if rate else self.settings.video.sample_interval_s).due
        camera.start(asyncio.get_running_loop(), self.camera_ch, self.clock, want)
        return self.pipeline.supervisor.spawn(tg, "camera-tap", self.camera_tap, [self.camera_ch])
