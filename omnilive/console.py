"""The console view: the conversation as it happens; a progress bar for fast replays; and,
live, a status line with the state, the partial transcript, the scene and its age, and
the reply as it streams."""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from assistant.state import Phase, StateTracker
from kernel.clock import Clock
from kernel.events import (
    BargeIn,
    DeviceStatus,
    ErrorOccurred,
    Event,
    ReplyAudioEnded,
    ReplyChunk,
    ReplyText,
    SceneDescribed,
    SessionEnded,
    SpeechStarted,
    Transcribed,
    TurnMetrics,
)
from kernel.text import is_chinese

# the status line's words for each phase
SHOWN = {Phase.LISTENING: "listening", Phase.HEARING: "hearing you", Phase.THINKING: "thinking",
         Phase.SPEAKING: "speaking"}


class LiveStatus:
    """What the assistant is doing right now, rendered as a few lines. The state is the
    :class:`~assistant.state.StateTracker`'s phase; pass one the bus already feeds to share it,
    or this status feeds its own."""

    def __init__(self, clock: Clock, tracker: StateTracker | None = None) -> None:
        self.clock = clock
        self.tracker = tracker if tracker is not None else StateTracker()
        self._feeds = tracker is None
        self.partial = ""
        self.reply = ""
        self.scene = ""
        self.scene_t: float | None = None

    @property
    def state(self) -> str:
        return SHOWN[self.tracker.phase]

    def __call__(self, event: Event) -> None:
        if self._feeds:
            self.tracker(event)
        if isinstance(event, SpeechStarted):
            self.partial = ""
        elif isinstance(event, Transcribed):
            self.partial = event.text
        elif isinstance(event, ReplyChunk):
            self.reply = (self.reply + " " + event.text).strip()
        elif isinstance(event, ReplyAudioEnded | BargeIn):
            self.reply = ""
        elif isinstance(event, SceneDescribed):
            self.scene, self.scene_t = event.text, event.frame_t

    def __rich__(self) -> Group:
        colour = {"listening": "green", "hearing you": "cyan", "thinking": "yellow", "speaking": "magenta"}
        state = self.state
        lines = [Text.assemble(("● ", colour.get(state, "white")), (state, "bold"))]
        if state == "hearing you" and self.partial:
            lines.append(Text(f"  you: {self.partial} …", style="cyan"))
        if self.reply:
            lines.append(Text(f"  assistant: {self.reply}", style="green"))
        if self.scene_t is not None:
            age = max(0.0, self.clock.now() - self.scene_t)
            lines.append(Text(f"  camera ({age:.0f} s ago): {self.scene}", style="magenta"))
        return Group(*lines)


class ConsoleView:
    def __init__(
        self, console: Console, *, duration: float = 0.0, progress: bool = False, live: Clock | None = None
    ) -> None:
        self.console = console
        self._last_scene = ""
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._status: LiveStatus | None = None
        self._live: Live | None = None
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
        elif live is not None:
            self._status = LiveStatus(live)
            self._live = Live(self._status, console=console, refresh_per_second=4, transient=True)
            self._live.start()

    def progress(self, position: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=position)

    def close(self) -> None:
        for display in (self._progress, self._live):
            if display is not None:
                display.stop()
        self._progress = None
        self._live = None

    def _said(self, lead: str, text: str, tail: str = "") -> None:
        """One line of what was said or seen. Rich wraps at spaces, and a Chinese sentence has none: it
        would go whole to a line of its own, so Chinese is left to the terminal, which wraps it anywhere."""
        self.console.print(f"{lead}{escape(text)}{tail}", soft_wrap=is_chinese(text))

    def __call__(self, event: Event) -> None:
        if self._status is not None:
            self._status(event)
        stamp = f"[dim]{event.t:7.2f}s[/dim]"
        if isinstance(event, Transcribed) and event.final and event.text:
            self._said(f"{stamp} [bold cyan]You:[/] ", event.text)
        elif isinstance(event, SceneDescribed) and event.text != self._last_scene:
            self._last_scene = event.text
            self._said(f"{stamp} [magenta]Camera:[/] ", event.text)
        elif isinstance(event, ReplyText):
            cut = " [yellow](interrupted)[/]" if event.interrupted else ""
            self._said(f"{stamp} [bold green]Assistant:[/] ", event.text, cut)
        elif isinstance(event, TurnMetrics) and event.first_audio_ms is not None:
            self.console.print(
                f"{stamp} [dim]turn {event.turn}: first audio {event.first_audio_ms:.0f} ms after you stopped"
                f" (VAD {event.vad_end_ms:.0f}, ASR {event.asr_final_ms:.0f} ms)[/dim]"
            )
        elif isinstance(event, BargeIn):
            self.console.print(f"{stamp} [yellow]barge-in: stopped speaking[/]")
        elif isinstance(event, DeviceStatus):
            self.console.print(f"{stamp} [yellow]{event.kind} {escape(event.device)} {event.state}: "
                               f"{escape(event.message)}[/]")
        elif isinstance(event, ErrorOccurred):
            self.console.print(f"{stamp} [red]error ({event.stage}): {escape(event.message)}[/]")
        elif isinstance(event, SessionEnded):
            self.close()
