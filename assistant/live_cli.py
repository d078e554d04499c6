"""The ``mode: live`` branch of the command line: open the devices, run, keep the record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from kernel.clock import MediaClock
from kernel.eventlog import EventBus, JsonlWriter, Subscriber
from kernel.events import DeviceStatus

from .config import OutputSettings, Settings
from .console import ConsoleView
from .pipeline import Pipeline
from .report import Report
from .retention import MB, RetentionGuard


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
    from perception.camera import CameraSource
    from speech.devices import resolve_audio_device
    from speech.mic import Microphone
    from speech.player import SpeakerPlayer

    from .live import run_live
    from .models import prepare_models
    from .recorder import SessionRecorder

    loop = asyncio.get_running_loop()
    live = settings.live
    clock = MediaClock()
    bus = EventBus(clock)

    def status(kind: str, device: str) -> Any:
        def report_status(state: str, message: str) -> None:
            event = DeviceStatus(t=clock.now(), kind=kind, device=device, state=state, message=message)
            loop.call_soon_threadsafe(bus.publish, event)

        return report_status

    # Every device is checked before any model loads: a wrong name fails in a moment.
    resolve_audio_device(live.microphone, "input")
    resolve_audio_device(live.speaker, "output")
    camera = CameraSource(live.camera, on_status=status("camera", live.camera)) if live.camera else None
    if camera is not None:
        await asyncio.to_thread(camera.open)
    mic = Microphone(live.microphone, on_status=status("microphone", str(live.microphone or "default")))
    player = SpeakerPlayer(live.speaker, on_status=status("speaker", str(live.speaker or "default")))
    player.start(loop)
    recorder = None
    try:
        models = prepare_models(settings, hearing=True, seeing=camera is not None)
        if live.record is not None:
            recorder = SessionRecorder(out)
            recorder.start()
        writer = event_log(out, settings.output)
        guard = retention_guard(out, settings.output, siblings=prune_siblings)
        if guard is not None:
            guard.run_once()
            bus.subscribe(guard)
        console_view = ConsoleView(console, live=clock) if view else None
        for subscriber in (writer, report, console_view, *subscribers):
            if subscriber is not None:
                bus.subscribe(subscriber)
        console.print(f"[bold]omnilive[/] live: camera {live.camera or 'none'}, microphone "
                      f"{mic.device or 'default'}, speaker {player.device_name or 'default'} → {out}")
        preview = None
        if live.preview:
            from .preview import Preview, can_show

            if can_show(console):
                preview = Preview()
                bus.subscribe(preview)
        try:
            drawing = asyncio.create_task(preview.run(), name="preview") if preview else None
            stats = await run_live(
                settings, models, bus, mic=mic, player=player, camera=camera, recorder=recorder,
                on_frame=preview.show if preview else None, stop=stop, on_ready=on_ready,
            )
            if drawing is not None:
                drawing.cancel()
            extra["pipeline_seconds"] = round(stats.wall_seconds, 2)
        finally:
            if console_view is not None:
                console_view.close()
            writer.close()
    finally:
        player.close()
        if recorder is not None:
            await asyncio.to_thread(recorder.close)


def event_log(out: Path, output: OutputSettings) -> JsonlWriter:
    """``events.jsonl`` in ``out``, rotated past ``output.events_max_mb``."""
    limit = None if output.events_max_mb is None else int(output.events_max_mb * MB)
    return JsonlWriter(out / "events.jsonl", max_bytes=limit, keep=output.events_keep)


def retention_guard(out: Path, output: OutputSettings, *, siblings: bool) -> RetentionGuard | None:
    if output.max_mb is None:
        return None
    return RetentionGuard(out, max_mb=output.max_mb, max_age_days=output.max_age_days, siblings=siblings)


def run_live_cli(settings: Settings, console: Console, extra: dict[str, Any], out: Path,
                 *, prune_siblings: bool = False) -> int:
    from .cli import run_async  # SIGTERM stops it as Ctrl-C does

    report = Report()
    try:
        run_async(run_live_session(settings, console, out, report, extra, prune_siblings=prune_siblings))
    finally:
        report.write(out, extra)
    return 0
