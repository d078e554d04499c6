"""A live session from start to end: open the devices, load the models, run, keep the record.

The modes that run live on this machine (the command line, the kiosk) differ only in what
watches: they hand in their subscribers (a console, a report, the kiosk's link) and, to draw the
camera, a :class:`FrameView`. The browser mode has no devices here: it runs
:func:`assistant.live.run_live` with the page's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kernel.clock import Clock, MediaClock
from kernel.eventlog import EventBus, Subscriber
from kernel.events import DeviceStatus, Event
from perception.frames import Frame

from .config import RuntimeSettings
from .pipeline import Pipeline
from .session import Record, RunStats, run_session

if TYPE_CHECKING:
    from perception.camera import CameraSource
    from speech.mic import Microphone
    from speech.player import SpeakerPlayer


class FrameView(Protocol):
    """Something that draws the camera's frames with what happens (a preview window)."""

    def show(self, frame: Frame) -> None: ...

    def __call__(self, event: Event) -> None: ...

    async def run(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveDevices:
    """The opened devices (their modules are imported only here: they load PortAudio and OpenCV)."""

    mic: Microphone
    player: SpeakerPlayer
    camera: CameraSource | None


async def run_live_session(
    settings: RuntimeSettings,
    out: Path,
    *,
    subscribers: Sequence[Subscriber] = (),
    watch: Callable[[LiveDevices, Clock], Sequence[Subscriber]] | None = None,
    frame_view: FrameView | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Pipeline], None] | None = None,
    prune_siblings: bool = False,
) -> RunStats:
    """Opens the devices, loads the models and runs live until ``stop`` (or cancellation).

    Output is kept under ``output.max_mb`` (:mod:`assistant.retention`); the run folders beside
    ``out`` are pruned only with ``prune_siblings`` (a folder made for this run, not one the user
    named). ``watch`` is called once the devices are open and the models loaded, with the devices and
    the session's clock; the subscribers it returns watch the session with ``subscribers``."""
    from .live import run_live
    from .models import prepare_models
    from .recorder import SessionRecorder

    bus = EventBus(MediaClock())
    devices = await open_devices(settings, bus)
    recorder = None
    try:
        models = prepare_models(settings, hearing=True, seeing=devices.camera is not None)
        if settings.live.record is not None:
            recorder = SessionRecorder(out)
            recorder.start()
        watchers = (*subscribers, *(watch(devices, bus.clock) if watch is not None else ()), frame_view)
        record = Record(out, settings.output, watchers, prune_siblings=prune_siblings)

        async def body() -> RunStats:
            drawing = asyncio.create_task(frame_view.run(), name="preview") if frame_view else None
            try:
                return await run_live(
                    settings, models, bus, mic=devices.mic, player=devices.player, camera=devices.camera,
                    recorder=recorder, on_frame=frame_view.show if frame_view else None, stop=stop,
                    on_ready=on_ready,
                )
            finally:
                if drawing is not None:
                    drawing.cancel()

        return await run_session(bus, record, body)
    finally:
        devices.player.close()
        if recorder is not None:
            await asyncio.to_thread(recorder.close)


async def open_devices(settings: RuntimeSettings, bus: EventBus) -> LiveDevices:
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
