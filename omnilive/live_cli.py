"""The ``mode: live`` branch of the command line: the console, the preview window and the
report around :func:`assistant.live_session.run_live_session`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from assistant.live_session import LiveDevices, run_live_session
from kernel.clock import Clock
from kernel.eventlog import Subscriber

from .console import ConsoleView
from .report import Report
from .running import run_async  # SIGTERM stops it as Ctrl-C does
from .settings import Settings
from .web_cli import display_server

if TYPE_CHECKING:
    from .preview import Preview


def _preview(settings: Settings, console: Console) -> Preview | None:
    """The camera window (``live.preview``), where one can be shown."""
    if not settings.live.preview:
        return None
    from .preview import Preview, can_show

    return Preview() if can_show(console) else None


async def live_with_console(settings: Settings, console: Console, out: Path, report: Report,
                            extra: dict[str, Any], *, prune_siblings: bool = False) -> None:
    """Runs live until Ctrl-C, showing what happens on ``console``."""
    live = settings.live
    views: list[ConsoleView] = []

    def watch(devices: LiveDevices, clock: Clock) -> Sequence[Subscriber]:
        views.append(ConsoleView(console, live=clock))
        console.print(f"[bold]omnilive[/] live: camera {live.camera or 'none'}, microphone "
                      f"{devices.mic.device or 'default'}, speaker {devices.player.device_name or 'default'}"
                      f" → {out}")
        return views

    try:
        async with display_server(settings, console) as display:
            watchers = (report, display) if display is not None else (report,)
            stats = await run_live_session(settings, out, subscribers=watchers, watch=watch,
                                           frame_view=_preview(settings, console), prune_siblings=prune_siblings)
        extra["pipeline_seconds"] = round(stats.wall_seconds, 2)
    finally:
        for view in views:
            view.close()


def run_live_cli(settings: Settings, console: Console, extra: dict[str, Any], out: Path,
                 *, prune_siblings: bool = False) -> int:

    report = Report()
    try:
        run_async(live_with_console(settings, console, out, report, extra, prune_siblings=prune_siblings))
    finally:
        report.write(out, extra)
    return 0
