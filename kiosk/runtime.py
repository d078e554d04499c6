"""The headless kiosk: the assistant (live, or a looped replay) with supervised stages,
JSON logs, an MQTT link for status, events, metrics and commands, and attract mode.

``run_assistant.py --config configs/kiosk.yaml`` lands in :func:`run_kiosk` when
``kiosk.enabled`` is true. SIGTERM and SIGINT, or an MQTT ``shutdown`` command, stop it
cleanly: the inputs close, the stages drain, the status goes offline, exit 0.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import resource
import signal
import statistics
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from assistant.config import RuntimeSettings
from assistant.pipeline import Pipeline
from assistant.state import Phase, StateTracker
from assistant.watching import Watching
from kernel.diagnostics import dump_tasks
from kernel.eventlog import Subscriber
from kernel.events import (
    ErrorOccurred,
    Event,
    ReplyText,
    StageRestarted,
    Transcribed,
    TurnMetrics,
)

from .commands import CommandFailed
from .mqtt import MqttLink
from .settings import AttractSettings, KioskSettings

log = logging.getLogger("omnilive.kiosk")

RECENT_TURNS = 50


# the kiosk's published state for each phase of the assistant
KIOSK_STATE = {Phase.LISTENING: "idle", Phase.HEARING: "listening", Phase.THINKING: "thinking",
               Phase.SPEAKING: "speaking"}


class KioskState:
    """What the kiosk is doing, from its events: idle, listening, thinking, speaking, or muted.
    The :class:`~assistant.state.StateTracker`'s phase in the kiosk's words; "starting" until
    :meth:`ready` or the first change. ``listeners`` get each new state."""

    def __init__(self, tracker: StateTracker | None = None) -> None:
        self.tracker = tracker if tracker is not None else StateTracker()
        self._feeds = tracker is None
        self.state = "starting"
        self.listeners: list[Callable[[str], None]] = []
        self.tracker.listeners.append(lambda _: self._show())

    @property
    def muted(self) -> bool:
        return self.tracker.muted

    @property
    def last_activity(self) -> float:
        """Session time of the last speech heard or said (0 before any)."""
        return self.tracker.last_activity or 0.0

    def _show(self) -> None:
        shown = "muted" if self.tracker.muted else KIOSK_STATE[self.tracker.phase]
        if shown != self.state:
            self.state = shown
            for listener in self.listeners:
                listener(shown)

    def set_muted(self, muted: bool) -> None:
        self.tracker.set_muted(muted)
        self._show()

    def ready(self) -> None:
        self._show()

    def __call__(self, event: Event) -> None:
        if self._feeds:
            self.tracker(event)


class KioskMetrics:
    """Counters and recent per-turn latency for the ``metrics`` topic; bounded however long it runs."""

    def __init__(self) -> None:
        self.turns = 0
        self.errors = 0
        self.restarts: collections.Counter[str] = collections.Counter()
        self._first_audio: collections.deque[float] = collections.deque(maxlen=RECENT_TURNS)
        self.last_turn: dict[str, Any] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, TurnMetrics):
            self.turns += 1
            if event.first_audio_ms is not None:
                self._first_audio.append(event.first_audio_ms)
            self.last_turn = {"turn": event.turn, "vad_end_ms": event.vad_end_ms, "asr_final_ms": event.asr_final_ms,
                              "first_token_ms": event.first_token_ms, "first_audio_ms": event.first_audio_ms}
        elif isinstance(event, ErrorOccurred):
            self.errors += 1
        elif isinstance(event, StageRestarted):
            self.restarts[event.stage] += 1

    def snapshot(self, pipeline: Pipeline | None) -> dict[str, Any]:
        recent = sorted(self._first_audio)
        latency = (
            {"turns": len(recent), "p50_ms": round(statistics.median(recent), 1),
             "p90_ms": round(recent[min(len(recent) - 1, int(0.9 * len(recent)))], 1)}
            if recent else None
        )
        return {
            "media_s": round(pipeline.bus.clock.now(), 2) if pipeline is not None else 0.0,
            "turns": self.turns,
            "errors": self.errors,
            "first_audio": latency,
            "last_turn": self.last_turn,
            "restarts": dict(self.restarts),
            "dropped": pipeline.dropped() if pipeline is not None else {},
            "vision": dict(vars(pipeline.vision)) if pipeline is not None else {},
            "rss_mb": rss_mb(),
        }


def rss_mb() -> float:
    """Resident memory now (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return round(pages * resource.getpagesize() / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class KioskController:
    """The MQTT commands, carried out on the running pipeline."""

    def __init__(self, stop: asyncio.Event, state: KioskState) -> None:
        self.stop = stop
        self.state = state
        self.pipeline: Pipeline | None = None

    def _ready(self) -> Pipeline:
        if self.pipeline is None:
            raise CommandFailed("the assistant is still starting", retryable=True)
        return self.pipeline

    def _voiced(self) -> Pipeline:
        pipeline = self._ready()
        if not pipeline.voiced:
            raise CommandFailed("this kiosk has no voice (no audio input or no TTS)")
        return pipeline

    async def say(self, text: str) -> dict[str, Any]:
        if self.state.muted:
            raise CommandFailed("muted: send unmute first")
        turn = await self._voiced().announce(text)
        # Let the turn's task take its first step before the next command runs: a task cancelled before it
        # starts never runs its cleanup, and the turn would be acknowledged with no reply_text ever published.
        await asyncio.sleep(0)
        return {"turn": turn}

    async def mute(self) -> dict[str, Any]:
        self._ready().set_muted(True)
        self.state.set_muted(True)
        return {"muted": True}

    async def unmute(self) -> dict[str, Any]:
        self._ready().set_muted(False)
        self.state.set_muted(False)
        return {"muted": False}

    async def reset(self) -> dict[str, Any]:
        return {"cleared": self._voiced().reset_conversation()}

    async def describe_now(self) -> dict[str, Any]:
        pipeline = self._ready()
        if not pipeline.seeing:
            raise CommandFailed("this kiosk has no camera or no describer")
        described = await pipeline.describe_now() if pipeline.latest_frame is not None else None
        if described is None:
            raise CommandFailed("no camera frame yet", retryable=True)
        frame, text = described
        return {"text": text, "frame_t": round(frame.t, 3)}

    async def set_volume(self, level: float) -> dict[str, Any]:
        self._voiced().set_volume(level)
        return {"volume": level}

    async def shutdown(self) -> dict[str, Any]:
        self.stop.set()
        return {"stopping": True}

    def _watching(self) -> Watching:
        pipeline = self._ready()
        if pipeline.watching is None:
            raise CommandFailed("this kiosk has no voice (no audio input or no TTS): it cannot say what it sees")
        if not pipeline.seeing:
            raise CommandFailed("this kiosk has no camera or no describer")
        return pipeline.watching

    async def watch(self, request: str) -> dict[str, Any]:
        try:
            watch, said = self._watching().set_for(request)
        except ValueError as exc:
            raise CommandFailed(str(exc)) from None
        return {"watch": watch, "said": said}

    async def watches(self) -> dict[str, Any]:
        return {"watches": self._watching().listed()}

    async def unwatch(self, name: str) -> dict[str, Any]:
        return {"cleared": [watch.id for watch in self._watching().clear(name)]}

    def greeter_idle(self) -> bool:
        """For attract mode: nothing in progress, not muted."""
        pipeline = self.pipeline
        return (pipeline is not None and not self.state.muted and pipeline.manager is not None
                and not pipeline.manager.active and self.state.state == "idle")


def configure_json_logs(level: str) -> None:
    """One JSON object per line on stderr: what a journal or a log shipper reads."""
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                       rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("faster_whisper").setLevel(max(logging.WARNING, root.level))  # a line per decode


def log_event(event: Event) -> None:
    """The conversation and faults in the log, as an operator reads it."""
    if isinstance(event, Transcribed) and event.final:
        log.info("heard", extra={"utterance": event.utterance, "text": event.text})
    elif isinstance(event, ReplyText):
        log.info("said", extra={"turn": event.turn, "text": event.text, "interrupted": event.interrupted})
    elif isinstance(event, ErrorOccurred):
        log.warning("error", extra={"stage": event.stage, "code": event.code, "detail": event.message})


async def run_kiosk(settings: RuntimeSettings, kiosk: KioskSettings, out: Path, *, live: bool) -> dict[str, Any]:
    """Runs ``settings`` live on the devices (or, not ``live``, as a replay of its input), with
    ``kiosk``'s MQTT link and attract mode, until SIGTERM/SIGINT, a ``shutdown`` command, or (a
    replay that does not loop) the end of input."""
    stop = asyncio.Event()
    state = KioskState()
    metrics = KioskMetrics()
    controller = KioskController(stop, state)
    mqtt = kiosk.mqtt
    with _stop_on_signals(stop):
        link = MqttLink(mqtt, controller=controller, metrics=lambda: metrics.snapshot(controller.pipeline)) \
            if mqtt.enabled else None
        subscribers: list[Subscriber] = [state, metrics, log_event]
        if link is not None:
            state.listeners.append(link.set_state)
            subscribers.append(link.publish_event)
        tasks: list[asyncio.Task[None]] = []

        def ready(pipeline: Pipeline) -> None:
            controller.pipeline = pipeline
            state.ready()
            greeter = _start_attract(kiosk.attract, pipeline, controller, settings.language)
            if greeter is not None:
                tasks.append(greeter)
            log.info("ready", extra={"mode": "live" if live else "replay", "kiosk_id": mqtt.kiosk_id})

        extra: dict[str, Any] = {}
        try:
            async with _link_running(link):
                try:
                    run = _run_live if live else _run_replay
                    await run(settings, out, extra, stop=stop, on_ready=ready, subscribers=subscribers)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            log.info("stopped", extra={"turns": metrics.turns, "restarts": dict(metrics.restarts)})
    return extra


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop``; SIGUSR1 dumps the running tasks to the log."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    try:
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def _link_running(link: MqttLink | None) -> AsyncIterator[None]:
    """The MQTT link runs for the body's time; at the end it goes offline cleanly."""
    if link is None:
        yield
        return
    link_stop = asyncio.Event()
    link_task = asyncio.create_task(link.run(link_stop), name="mqtt")
    try:
        yield
    finally:
        link_stop.set()
        await link_task


def _start_attract(attract: AttractSettings, pipeline: Pipeline,
                   controller: KioskController, language: str = "en") -> asyncio.Task[None] | None:
    """Attract mode's task, when it is on and the kiosk can see and speak (greeting in Chinese in a zh session)."""
    if not (attract.enabled and pipeline.models.describer is not None and pipeline.manager is not None):
        return None
    from .attract import Attract, PresenceDetector

    attract = attract.model_copy(update={"greeting": attract.greeting_in(language)})

    manager = pipeline.manager
    greeter = Attract(attract, PresenceDetector(attract.detector), say=manager.announce,
                      is_idle=controller.greeter_idle, frames=lambda: pipeline.latest_frame,
                      bus=pipeline.bus, tracker=controller.state.tracker)
    return asyncio.create_task(greeter.run(), name="attract")


async def _run_live(settings: RuntimeSettings, out: Path, extra: dict[str, Any], *, stop: asyncio.Event,
                    on_ready: Callable[[Pipeline], None], subscribers: list[Subscriber]) -> None:
    from assistant.live_session import run_live_session

    # Each start gets its own folder under output.dir: the ones before it are pruned.
    stats = await run_live_session(settings, out, subscribers=subscribers, stop=stop, on_ready=on_ready,
                                   prune_siblings=True)
    extra["pipeline_seconds"] = round(stats.wall_seconds, 2)


async def _run_replay(settings: RuntimeSettings, out: Path, extra: dict[str, Any], *, stop: asyncio.Event,
                      on_ready: Callable[[Pipeline], None], subscribers: list[Subscriber]) -> None:
    from assistant.models import prepare_models
    from assistant.session import Record, prepare_sources, replay_session

    sources = prepare_sources(settings)
    models = prepare_models(settings, hearing=sources.audio is not None, seeing=sources.video is not None)
    record = Record(out, settings.output, subscribers, prune_siblings=True)
    stats = await replay_session(settings, sources, models, record, stop=stop, on_ready=on_ready)
    extra["media_seconds"] = round(stats.media_seconds, 2)
