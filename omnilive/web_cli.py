"""The ``mode: web`` branch of the command line: load the models once, serve the page, and
keep a report in each browser session's folder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from assistant.models import prepare_models
from assistant.session import RunStats
from kernel.eventlog import Subscriber
from web.server import WebServer, serving, ssl_context
from web.settings import read_token

from .report import Report
from .running import run_async  # SIGTERM stops it as Ctrl-C does
from .settings import Settings


def _report_hooks(out: Path) -> tuple[Sequence[Subscriber], Callable[[RunStats], None]]:
    report = Report()

    def finish(stats: RunStats) -> None:
        report.write(out, {"pipeline_seconds": round(stats.wall_seconds, 2)})

    return (report,), finish


async def serve(settings: Settings, console: Console, out_root: Path, *,
                on_url: Callable[[str], Any] | None = None, stop: asyncio.Event | None = None) -> None:
    """Serves until cancelled (Ctrl-C, SIGTERM) or ``stop`` is set."""
    token = read_token(settings.web)  # before the models load: a missing token or certificate fails at once
    ssl_context(settings.web)
    models = await asyncio.to_thread(prepare_models, settings, hearing=True, seeing=True)
    server = WebServer(settings, settings.web, models, out_root, token=token, hooks=_report_hooks)
    async with serving(server) as url:
        shown = f"{url}?token=<your token>" if token else url
        console.print(f"[bold]omnilive[/] web: open {shown} (sessions → {out_root}/)")
        if not settings.web.tls.enabled and not settings.web.loopback:
            console.print("[yellow]web: browsers allow the camera and mic only over HTTPS or on localhost: "
                          "set web.tls.certfile/keyfile, or serve it behind an HTTPS reverse proxy[/]")
        if on_url is not None:
            on_url(url)
        await (stop.wait() if stop is not None else asyncio.Event().wait())


def run_web_cli(settings: Settings, console: Console, out_root: Path) -> int:

    run_async(serve(settings, console, out_root))
    return 0


@contextlib.asynccontextmanager
async def display_server(settings: Settings, console: Console) -> AsyncIterator[Subscriber | None]:
    """With ``web.display`` (replay and live modes), the display-only view of this session served at
    ``web.host:web.port``; yields the session's subscriber for it (None without ``web.display``)."""
    if not settings.web.display:
        yield None
        return
    token = read_token(settings.web)
    ssl_context(settings.web)
    server = WebServer(settings, settings.web, None, Path("."), token=token)
    async with serving(server) as url:
        shown = f"{url}?token=<your token>" if token else url
        console.print(f"[bold]omnilive[/] watch this session at {shown}")
        yield server.watch()
