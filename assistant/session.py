"""Session wiring: settings → sources, models, channels and stages → one TaskGroup.

:func:`run_session` is every mode's runner: the event log, retention and the mode's
subscribers around the mode's body (:func:`replay_session` for a replay,
:func:`assistant.live_session.run_live_session` for the devices, and ``web.server`` for
each browser session, through :func:`assistant.live.run_live`).

``prepare_*`` functions fail early, with a typed error, before anything runs:
input files are opened and probed, then models are loaded once. ``run_replay``
then runs the pipeline until the media ends and the last reply is spoken.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from kernel.clock import MediaClock, WallClock
from kernel.errors import InputError
from kernel.eventlog import EventBus, JsonlWriter, Subscriber
from kernel.events import SessionEnded, SessionStarted
from perception.frames import VideoFileSource
from perception.sampling import Sampler
from perception.stages import VisionStats
from speech.audio_file import AudioFileSource
from speech.sinks import ReplySink, WavReplySink

from .config import OutputSettings, RuntimeSettings
from .models import Models
from .pipeline import Pipeline
from .replay import Progress, ReplayDriver
from .retention import MB, RetentionGuard

log = logging.getLogger(__name__)


class SessionManifest(BaseModel):
    """``session.json``: the files of a recorded session, relative to its folder."""

    model_config = ConfigDict(extra="allow")
    video: str | None = None
    audio: str | None = None


@dataclass(frozen=True, slots=True)
class Sources:
    audio: AudioFileSource | None
    video: VideoFileSource | None
    label: str


def prepare_sources(settings: RuntimeSettings) -> Sources:
    inp = settings.input
    video_path, audio_path, label = inp.video, inp.audio, ""
    if inp.session is not None:
        folder = inp.session
        manifest_path = folder / "session.json"
        if not folder.is_dir():
            raise InputError(f"session folder '{folder}': no such folder")
        if not manifest_path.is_file():
            raise InputError(f"session folder '{folder}': has no session.json")
        try:
            manifest = SessionManifest.model_validate(json.loads(manifest_path.read_text(encoding="utf-8")))
        except (ValueError, RecursionError, ValidationError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise InputError(f"'{manifest_path}': not a valid session manifest ({first})") from exc
        video_path = folder / manifest.video if manifest.video else None
        audio_path = folder / manifest.audio if manifest.audio else None
        label = f"session {folder}"
    if video_path is None and audio_path is None:
        raise InputError("no input: give --session DIR, or --video FILE and/or --audio FILE")
    audio = AudioFileSource(audio_path) if audio_path is not None else None
    video = VideoFileSource(video_path) if video_path is not None else None
    if not label:
        label = " + ".join(str(p) for p in (video_path, audio_path) if p is not None)
    return Sources(audio=audio, video=video, label=label)


@dataclass(slots=True)
class RunStats:
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)
    vision: VisionStats = field(default_factory=VisionStats)


async def run_replay(
    settings: RuntimeSettings,
    sources: Sources,
    models: Models,
    bus: EventBus,
    out_dir: Path,
    *,
    sink: ReplySink | None = None,
    on_progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Pipeline], None] | None = None,
) -> RunStats:
    """Runs one replay to the end. The bus must carry the clock this function uses:
    build it with :func:`make_clock`."""
    speed = settings.replay.speed
    clock = bus.clock
    assert isinstance(clock, MediaClock | WallClock)
    stats = RunStats()
    pipeline = Pipeline(settings, models, bus, sink or WavReplySink(out_dir / "replies"))
    stats.vision = pipeline.vision
    driver = ReplayDriver(
        audio=sources.audio,
        video=sources.video,
        sampler=Sampler(settings.video.sample_interval_s),
        clock=clock,
        activity=pipeline.activity,
        audio_out=pipeline.audio_in,
        frames_out=pipeline.frames_in,
        on_progress=on_progress,
        loops=settings.replay.loops,
        stop=stop,
    )
    if on_ready is not None:
        on_ready(pipeline)
    await pipeline.warm_up()  # before the clock starts: the first question finds the prompt's head evaluated
    bus.publish(
        SessionStarted(t=clock.now(), source=sources.label, speed=speed, config=settings.model_dump(mode="json"))
    )
    if isinstance(clock, WallClock):
        clock.start()  # the session clock starts at the first input sample
    started = time.perf_counter()
    reason = "error"
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(driver.run(), name="replay-driver")
            pipeline.start(tg)
        reason = "stopped" if stop is not None and stop.is_set() else "end_of_media"
    except asyncio.CancelledError:
        reason = "interrupted"
        raise
    finally:
        stats.media_seconds = driver.position
        stats.wall_seconds = time.perf_counter() - started
        stats.dropped = pipeline.dropped()
        bus.publish(
            SessionEnded(t=clock.now(), reason=reason, media_seconds=driver.position, dropped=stats.dropped)
        )
    return stats


def make_clock(speed: float) -> MediaClock | WallClock:
    return MediaClock() if speed == 0 else WallClock(speed)


@dataclass(frozen=True, slots=True)
class Record:
    """Where a session's events go, whatever its mode: ``events.jsonl`` in ``out`` and the mode's
    subscribers (a report, a console view, the kiosk's state and link). ``rotate``: the log rotates
    past ``output.events_max_mb``; ``retention``: the output is kept under ``output.max_mb``
    (:mod:`assistant.retention`), pruning the run folders beside ``out`` only with ``prune_siblings``."""

    out: Path
    output: OutputSettings
    subscribers: Sequence[Subscriber | None] = ()
    rotate: bool = True
    retention: bool = True
    prune_siblings: bool = False


def event_log(out: Path, output: OutputSettings) -> JsonlWriter:
    """``events.jsonl`` in ``out``, rotated past ``output.events_max_mb``."""
    limit = None if output.events_max_mb is None else int(output.events_max_mb * MB)
    return JsonlWriter(out / "events.jsonl", max_bytes=limit, keep=output.events_keep)


def retention_guard(out: Path, output: OutputSettings, *, siblings: bool) -> RetentionGuard | None:
    if output.max_mb is None:
        return None
    return RetentionGuard(out, max_mb=output.max_mb, max_age_days=output.max_age_days, siblings=siblings)


async def run_session(bus: EventBus, record: Record, body: Callable[[], Awaitable[RunStats]]) -> RunStats:
    """One session of any mode: ``body`` (the mode's sources and sinks through a :class:`Pipeline`,
    publishing on ``bus``) runs with its events recorded as ``record`` says; the log is closed after."""
    writer = event_log(record.out, record.output) if record.rotate else JsonlWriter(record.out / "events.jsonl")
    bus.subscribe(writer)
    guard = retention_guard(record.out, record.output, siblings=record.prune_siblings) if record.retention else None
    if guard is not None:
        guard.run_once()
        bus.subscribe(guard)
    for subscriber in record.subscribers:
        if subscriber is not None:
            bus.subscribe(subscriber)
    try:
        return await body()
    finally:
        writer.close()


async def replay_session(
    settings: RuntimeSettings,
    sources: Sources,
    models: Models,
    record: Record,
    *,
    on_progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Pipeline], None] | None = None,
) -> RunStats:
    """A replay of ``sources`` recorded as ``record`` says: the command line's and the kiosk's."""
    bus = EventBus(make_clock(settings.replay.speed))
    return await run_session(bus, record, lambda: run_replay(
        settings, sources, models, bus, record.out, on_progress=on_progress, stop=stop, on_ready=on_ready))
