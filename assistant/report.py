"""The report of a run, made from its events: ``transcript.md`` and ``metrics.json``."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .events import (
    ErrorOccurred,
    Event,
    ReplyText,
    SceneDescribed,
    SessionEnded,
    SessionStarted,
    Transcribed,
    TurnMetrics,
    to_record,
)
from .report_html import render


def _fmt_t(t: float) -> str:
    m, s = divmod(t, 60)
    return f"{int(m):02d}:{s:04.1f}"


@dataclass(slots=True)
class Report:
    """An event subscriber that keeps what the report needs (bounded by the session's turns)."""

    source: str = ""
    speed: float = 1.0
    entries: list[tuple[float, str, str]] = field(default_factory=list)  # (t, "You"|"Camera"|"Assistant", text)
    turns: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    scenes: int = 0
    end: dict[str, Any] = field(default_factory=dict)
    _last_scene: str = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.source, self.speed = event.source, event.speed
        elif isinstance(event, Transcribed) and event.final and event.text:
            self.entries.append((event.t, "You", event.text))
        elif isinstance(event, SceneDescribed):
            self.scenes += 1
            if event.text != self._last_scene:
                self._last_scene = event.text
                self.entries.append((event.frame_t, "Camera", event.text))
        elif isinstance(event, ReplyText):
            self.entries.append((event.t, "Assistant", event.text + (" (interrupted)" if event.interrupted else "")))
        elif isinstance(event, TurnMetrics):
            self.turns.append(to_record(event))
        elif isinstance(event, ErrorOccurred):
            self.errors.append(to_record(event))
        elif isinstance(event, SessionEnded):
            self.end = to_record(event)

    def summary(self) -> dict[str, Any]:
        def stats(key: str) -> dict[str, float] | None:
            values = [t[key] for t in self.turns if t.get(key) is not None]
            if not values:
                return None
            return {"median": round(statistics.median(values), 1), "max": round(max(values), 1)}

        return {
            "turns": len(self.turns),
            "scene_descriptions": self.scenes,
            "errors": len(self.errors),
            "first_audio_ms": stats("first_audio_ms"),
            "asr_final_ms": stats("asr_final_ms"),
            "first_token_ms": stats("first_token_ms"),
        }

    def write(self, out_dir: Path, extra: dict[str, Any] | None = None) -> None:
        style = {"You": "**You**", "Assistant": "**Assistant**", "Camera": "*Camera*"}
        lines = [f"# Conversation: {self.source}"]
        lines += [f"{style[who]} ({_fmt_t(t)}): {text}" for t, who, text in self.entries]
        (out_dir / "transcript.md").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        talk = [(_fmt_t(t), who, text) for t, who, text in self.entries if who != "Camera"]
        seen = [(t, text) for t, who, text in self.entries if who == "Camera"]
        page = render(f"omnilive: {self.source}", talk, seen, self.turns)
        (out_dir / "report.html").write_text(page, encoding="utf-8")
        metrics = {
            "source": self.source,
            "speed": self.speed,
            "clock": "media time" if self.speed == 0 else "wall clock",
            "summary": self.summary(),
            "turns": self.turns,
            "errors": self.errors,
            "session_end": self.end,
            **(extra or {}),
        }
        tmp = out_dir / "metrics.json.tmp"
        tmp.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        tmp.replace(out_dir / "metrics.json")
