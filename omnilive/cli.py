"""The command line behind ``run_assistant.py``.

Exit status: 0 when the session ran to its end, 2 for bad input (a missing or
corrupt file, an invalid config, an unknown backend, a missing model), 130 when
stopped with Ctrl-C or SIGTERM (which stops it the same way: the session ends and the
report is written). Errors are one line on stderr; the output folder keeps
everything written up to that point.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

# (The package's __init__, run first, has quieted the ffmpeg/OpenCV loggers.)
from rich.console import Console

from kernel.errors import AssistantError, InputError

from .console import ConsoleView
from .report import Report
from .running import run_async, sigterm_outside_the_loop
from .settings import Settings, load_settings, parse_override

log = logging.getLogger("omnilive")

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """A bad argument is one line, like every other bad input (argparse prints the usage too)."""
        self.exit(2, f"omnilive: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_assistant.py",
        description="omnilive: an assistant that sees and talks. Replays a recorded session through the pipeline.",
    )
    p.add_argument("--config", type=Path, help="YAML settings file (for example configs/demo.yaml)")
    p.add_argument("--session", type=Path, help="replay a session folder (holds session.json)")
    p.add_argument("--video", type=Path, help="replay this video file (any format OpenCV/ffmpeg reads)")
    p.add_argument("--audio", type=Path, help="replay this audio file (wav, flac, mp3, any rate)")
    p.add_argument("--speed", type=float, help="1 = real time (default), 0 = as fast as the models allow")
    p.add_argument("--out", type=Path, help="output folder (default runs/<timestamp>/)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
        help="override a config field, e.g. --set dialogue.backend=openai (repeatable)",
    )
    p.add_argument("--live", action="store_true", help="run live on the camera, microphone and speakers")
    p.add_argument("--web", action="store_true",
                   help="serve a page: talk through a browser's camera, mic and speaker (web.host:web.port)")
    p.add_argument("--camera", help="live camera: index, device path, file or stream URL ('none' for no camera)")
    p.add_argument("--mic", help="live microphone: name (substring) or index")
    p.add_argument("--speaker", help="live speaker: name (substring) or index")
    p.add_argument("--record", type=Path, help="live: record the session (video, mic audio, events) into DIR")
    p.add_argument("--preview", action="store_true", help="live: show the camera with descriptions and captions")
    p.add_argument("--half-duplex", action="store_true", help="live: mute the mic while the assistant speaks")
    p.add_argument("--list-devices", action="store_true", help="print the cameras and audio devices, then exit")
    p.add_argument("--check", action="store_true",
                   help="check the config, devices or inputs, models and MQTT broker; print a table; exit 0 or 2")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def _overrides(args: argparse.Namespace) -> list[tuple[str, Any]]:
    out = [parse_override(o) for o in args.overrides]
    if args.session is not None:
        out += [("input.session", str(args.session)), ("input.video", None), ("input.audio", None)]
    elif args.video is not None or args.audio is not None:
        out += [
            ("input.session", None),
            ("input.video", str(args.video) if args.video else None),
            ("input.audio", str(args.audio) if args.audio else None),
        ]
    if args.live:
        out.append(("mode", "live"))
    if args.web:
        out.append(("mode", "web"))
    for flag, path in (("camera", "live.camera"), ("mic", "live.microphone"), ("speaker", "live.speaker")):
        value = getattr(args, flag)
        if value is not None:
            out.append((path, None if value == "none" else value))
    if args.record is not None:
        out.append(("live.record", str(args.record)))
    if args.preview:
        out.append(("live.preview", True))
    if args.half_duplex:
        out.append(("live.echo.half_duplex", True))
    if args.speed is not None:
        out.append(("replay.speed", args.speed))
    if args.out is not None:
        out.append(("output.dir", str(args.out)))
    return out


def _out_dir(settings: Settings) -> Path:
    out = settings.live.record if settings.mode == "live" and settings.live.record else settings.output.dir
    out = out or Path("runs") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if (out / "events.jsonl").exists():
        raise InputError(f"output folder '{out}': already holds a run (events.jsonl); choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"output folder '{out}': cannot create it ({exc.strerror})") from exc
    return out


def _assistant_error(exc: BaseException) -> AssistantError | None:
    if isinstance(exc, AssistantError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _assistant_error(inner)
            if found is not None:
                return found
    return None


def entry() -> NoReturn:
    """The program: :func:`main`, then the exit.

    A description still running on the describer's daemon thread must not meet the
    interpreter's finalization (see ``perception.stages.background_work_running``): then
    everything is flushed and the process leaves at once. Its output is complete by then:
    ``main`` has closed the event log and written the report."""
    code = main()
    stages = sys.modules.get("perception.stages")
    if stages is None:
        sys.exit(code)
    stages.raise_background_priority()
    if stages.background_work_running():
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@dataclass(slots=True)
class _Run:
    """What ``main`` must write whatever happens: the report, into the output folder."""

    started: float = field(default_factory=time.perf_counter)
    out: Path | None = None
    report: Report | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def finish(self) -> None:
        if self.report is not None and self.out is not None:
            self.extra["wall_seconds"] = round(time.perf_counter() - self.started, 2)
            self.report.write(self.out, self.extra)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, sigterm_outside_the_loop)
    run = _Run()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    console = Console(quiet=args.quiet, highlight=False)
    try:
        return _dispatch(args, console, run)
    except KeyboardInterrupt:
        out = run.out
        print(f"omnilive: interrupted; output kept in {out}" if out else "omnilive: interrupted", file=sys.stderr)
        return 130
    except BaseException as exc:
        found = _assistant_error(exc)
        if found is None:
            raise
        print(f"omnilive: error: {found}", file=sys.stderr)
        return 2
    finally:
        run.finish()


def _dispatch(args: argparse.Namespace, console: Console, run: _Run) -> int:
    """The branch the arguments and settings ask for: devices, check, kiosk, web, live or replay."""
    if args.list_devices:
        from .devices import describe_devices

        console.print(describe_devices())
        return 0
    settings = load_settings(args.config, _overrides(args))
    logging.getLogger().setLevel(settings.log_level)
    if args.check:
        from .check import print_checks, run_checks

        logging.getLogger().setLevel(logging.WARNING)  # the table is the output

        return print_checks(console, run_checks(settings, args.config))
    if settings.kiosk.enabled:
        return _run_kiosk(settings, run)
    if settings.mode == "web":
        from .web_cli import run_web_cli

        # Each browser session gets its own folder under this one.
        run.out = _out_dir(settings)
        return run_web_cli(settings, console, run.out)
    if settings.mode == "live":
        from .live_cli import run_live_cli

        run.out = _out_dir(settings)
        made_for_this_run = settings.output.dir is None and settings.live.record is None
        return run_live_cli(settings, console, run.extra, run.out, prune_siblings=made_for_this_run)
    return _run_replay(settings, console, run, quiet=args.quiet)


def _run_kiosk(settings: Settings, run: _Run) -> int:
    from kiosk.runtime import configure_json_logs, run_kiosk

    configure_json_logs(settings.log_level)
    if settings.kiosk.mqtt.enabled:
        from kiosk.settings import check_credentials

        check_credentials(settings.kiosk.mqtt)  # before its output folder is made
    # A service starts many times: each start gets its own folder under output.dir.
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run.out = _out_dir(settings.model_copy(update={"output": settings.output.model_copy(
        update={"dir": (settings.output.dir or Path("runs")) / stamp})}))
    asyncio.run(run_kiosk(settings, settings.kiosk, run.out, live=settings.mode == "live"))
    return 0


def _run_replay(settings: Settings, console: Console, run: _Run, *, quiet: bool) -> int:
    from assistant.models import prepare_models
    from assistant.session import Record, RunStats, prepare_sources, replay_session

    from .web_cli import display_server

    sources = prepare_sources(settings)
    models = prepare_models(settings, hearing=sources.audio is not None, seeing=sources.video is not None)
    run.out = out = _out_dir(settings)
    speed = settings.replay.speed
    run.report = report = Report()
    duration = max(s.duration for s in (sources.audio, sources.video) if s is not None)
    view = ConsoleView(console, duration=duration, progress=speed != 1 and not quiet)
    console.print(f"[bold]omnilive[/] replaying {sources.label} at speed {speed:g} → {out}")

    async def replay() -> RunStats:
        async with display_server(settings, console) as display:
            # The command line's log does not rotate, and it prunes nothing.
            record = Record(out, settings.output, (report, view, display), rotate=False, retention=False)
            return await replay_session(settings, sources, models, record, on_progress=view.progress)

    try:
        stats = run_async(replay())
    finally:
        view.close()
    run.extra["pipeline_seconds"] = round(stats.wall_seconds, 2)
    console.print(
        f"done: {stats.media_seconds:.1f} s of media in {stats.wall_seconds:.1f} s; "
        f"{len(report.turns)} replies; output in {out}"
    )
    return 0
