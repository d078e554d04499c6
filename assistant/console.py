"""The console view: the conversation as it happens, and a progress bar for fast replays."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .events import ErrorOccurred, Event, ReplyText, SceneDescribed, SessionEnded, Transcribed, TurnMetrics


class ConsoleView:
    def __init__(self, console: Console, *, duration: float = 0.0, progress: bool = False) -> None:
        self.console = console
        self._last_scene = ""
        self._progress: Progress | None = None
        self._task = None
        if progress and duration > 0:
            self._progress = Progress(
                TextColumn("replay"),
                BarColumn(),
                TextColumn("{task.completed:.1f}/{task.total:.1f} s media"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._progress.add_task("replay", total=duration)
            self._progress.start()

    def progress(self, position: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=position)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, event: Event) -> None:
        stamp = f"[dim]{event.t:7.2f}s[/dim]"
        if isinstance(event, Transcribed) and event.final and event.text:
            self.console.print(f"{stamp} [bold cyan]You:[/] {escape(event.text)}")
        elif isinstance(event, SceneDescribed) and event.text != self._last_scene:
            self._last_scene = event.text
            self.console.print(f"{stamp} [magenta]Camera:[/] {escape(event.text)}")
        elif isinstance(event, ReplyText):
            cut = " [yellow](interrupted)[/]" if event.interrupted else ""
            self.console.print(f"{stamp} [bold green]Assistant:[/] {escape(event.text)}{cut}")
        elif isinstance(event, TurnMetrics) and event.first_audio_ms is not None:
            self.console.print(
                f"{stamp} [dim]turn {event.turn}: first audio {event.first_audio_ms:.0f} ms after you stopped"
                f" (VAD {event.vad_end_ms:.0f}, ASR {event.asr_final_ms:.0f} ms)[/dim]"
            )
        elif isinstance(event, ErrorOccurred):
            self.console.print(f"{stamp} [red]error ({event.stage}): {escape(event.message)}[/]")
        elif isinstance(event, SessionEnded):
            self.close()
