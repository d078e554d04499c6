"""The ``mode: live`` branch of the command line: open the devices, run, keep the record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from kernel.clock import MediaClock
from kernel.eventlog import EventBus, Subscriber
from kernel.events import DeviceStatus

from .config import Settings
from .console import ConsoleView
from .pipeline import Pipeline
from .report import Report
from .session import Record, RunStats, run_session

if TYPE_CHECKING:
    from perception.camera import CameraSource
    from speech.mic import Microphone
    from speech.player import SpeakerPlayer

    from .preview import Preview


async def run_live_session(
    settings: Settings,
    console: Console,
    out: Path,
    report: Report | None,
    extra: dict[str, Any],
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Pipeline], None] | None = None,
    subscribers: Sequence[Subscriber] = (),
    view: bool = True,
    prune_siblings: bool = False,
) -> None:
    """Opens the devices, loads the models and runs live until ``stop`` (or Ctrl-C).

    Output is kept under ``output.max_mb`` (:mod:`assistant.retention`); the run folders beside
    ``out`` are pruned only with ``prune_siblings`` (a folder made for this run, not one the user named)."""
    from .live import run_live
    from .models import prepare_models
    from .recorder import SessionRecorder

    live = settings.live
    clock = MediaClock()
    bus = EventBus(clock)
    devices = await open_devices(settings, bus)
    recorder = None
    try:
        models = prepare_models(settings, hearing=True, seeing=devices.camera is not None)
        if live.record is not None:
            recorder = SessionRecorder(out)
            recorder.start()
        console_view = ConsoleView(console, live=clock) if view else None
        record = Record(out, settings.output, (report, console_view, *subscribers), prune_siblings=prune_siblings)
        preview = _preview(settings, console)

        async def body() -> RunStats:
            console.print(f"[bold]omnilive[/] live: camera {live.camera or 'none'}, microphone "
                          f"{devices.mic.device or 'default'}, speaker {devices.player.device_name or 'default'}"
                          f" → {out}")
            if preview is not None:
                bus.subscribe(preview)
            drawing = asyncio.create_task(preview.run(), name="preview") if preview else None
            stats = await run_live(
                settings, models, bus, mic=devices.mic, player=devices.player, camera=devices.camera,
                recorder=recorder, on_frame=preview.show if preview else None, stop=stop, on_ready=on_ready,
            )
            if drawing is not None:
                drawing.cancel()
            return stats

        try:
            stats = await run_session(bus, record, body)
            extra["pipeline_seconds"] = round(stats.wall_seconds, 2)
        finally:
            if console_view is not None:
                console_view.close()
    finally:
        devices.player.close()
        if recorder is not None:
            await asyncio.to_thread(recorder.close)


@dataclass(frozen=True, slots=True)
class LiveDevices:
    """The opened devices (their modules are imported only here: they load PortAudio and OpenCV)."""

    mic: Microphone
    player: SpeakerPlayer
    camera: CameraSource | None


async def open_devices(settings: Settings, bus: EventBus) -> LiveDevices:
    """Every device is checked before any model loads: a wrong name fails in a moment. The
    devices report their state (lost, retrying, restored) as ``device_status`` events on ``bus``."""
    from perception.camera import CameraSource
    from speech.devices import resolve_audio_device
    from speech.mic import Microphone
    from speech.player import SpeakerPlayer

    loop = asyncio.get_running_loop()
    live = settings.live
    clock = bus.clock

    def status(kind: str, device: str) -> Callable[[str, str], None]:
        def report_status(state: str, message: str) -> None:
            event = DeviceStatus(t=clock.now(), kind=kind, device=device, state=state, message=message)
            loop.call_soon_threadsafe(bus.publish, event)

        return report_status

    resolve_audio_device(live.microphone, "input")
    resolve_audio_device(live.speaker, "output")
    camera = CameraSource(live.camera, on_status=status("camera", live.camera)) if live.camera else None
    if camera is not None:
        await asyncio.to_thread(camera.open)
    mic = Microphone(live.microphone, on_status=status("microphone", str(live.microphone or "default")))
    player = SpeakerPlayer(live.speaker, on_status=status("speaker", str(live.speaker or "default")))
    player.start(loop)
    return LiveDevices(mic=mic, player=player, camera=camera)


def _preview(settings: Settings, console: Console) -> Preview | None:
    """The camera window (``live.preview``), where one can be shown."""
    if not settings.live.preview:
        return None
    from .preview import Preview, can_show

    return Preview() if can_show(console) else None


def run_live_cli(settings: Settings, console: Console, extra: dict[str, Any], out: Path,
                 *, prune_siblings: bool = False) -> int:
    from .cli import run_async  # SIGTERM stops it as Ctrl-C does

    report = Report()
    try:
        run_async(run_live_session(settings, console, out, report, extra, prune_siblings=prune_siblings))
    finally:
        report.write(out, extra)
    return 0
