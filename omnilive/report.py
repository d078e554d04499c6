"""The report of a run, made from its events: ``transcript.md``, ``report.html`` and ``metrics.json``.

Each says what went wrong as plainly as what was said: the errors and stage restarts, counted
and in the timeline; the run's facts (source, speed, backends, versions); and what the
question-aware look saw for a question.
"""

from __future__ import annotations

import collections
import importlib.metadata
import json
import math
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.eventlog import finite
from kernel.events import (
    ErrorOccurred,
    Event,
    ReplyText,
    SceneDescribed,
    SessionEnded,
    SessionStarted,
    StageRestarted,
    Transcribed,
    TurnMetrics,
    to_record,
)

from .report_html import render

VERSIONED = ("omnilive", "faster-whisper", "onnxruntime", "opencv-python-headless", "piper-tts",
             "llama_cpp_python", "openai", "aiomqtt")
LOOK_SUFFIX = ":look"  # the backend name of a description the question-aware look made


def _fmt_t(t: float) -> str:
    if not math.isfinite(t):
        return "--:--"
    m, s = divmod(t, 60)
    return f"{int(m):02d}:{s:04.1f}"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def run_facts(source: str, speed: float, config: dict[str, Any]) -> dict[str, Any]:
    """What ran: the input, the speed, each backend and the versions (from ``session_start``'s config)."""
    def get(*path: str) -> Any:
        node: Any = config
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    return {
        "source": source,
        "speed": speed,
        "describer": get("describer", "backend"),
        "asr": f"{get('asr', 'model')} (beam {get('asr', 'beam_size')})" if get("asr") else None,
        "dialogue": get("dialogue", "backend"),
        "local_model": get("dialogue", "local", "model") if get("dialogue", "backend") in ("local", "auto") else None,
        "tts": get("tts", "backend"),
        "versions": versions(),
    }


@dataclass(slots=True)
class Report:
    """An event subscriber that keeps what the report needs (bounded by the session's turns)."""

    source: str = ""
    speed: float = 1.0
    config: dict[str, Any] = field(default_factory=dict)
    # (t, who, text); who: "You", "Camera", "Look", "Assistant", "Error", "Restart"
    entries: list[tuple[float, str, str]] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[dict[str, Any]] = field(default_factory=list)
    scenes: int = 0
    end: dict[str, Any] = field(default_factory=dict)
    _last_scene: str = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.source, self.speed, self.config = event.source, event.speed, event.config
        elif isinstance(event, Transcribed) and event.final and event.text:
            self.entries.append((event.t, "You", event.text))
        elif isinstance(event, SceneDescribed) and event.backend.endswith(LOOK_SUFFIX):
            self.entries.append((event.t, "Look", event.text))
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
            self.entries.append((event.t, "Error", f"{event.stage} ({event.code}): {event.message}"))
        elif isinstance(event, StageRestarted):
            self.restarts.append(to_record(event))
            self.entries.append((event.t, "Restart", f"{event.stage} restarted (#{event.restart}): {event.reason}"))
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
            "restarts": len(self.restarts),
            "first_audio_ms": stats("first_audio_ms"),
            "asr_final_ms": stats("asr_final_ms"),
            "first_token_ms": stats("first_token_ms"),
        }

    def problems(self) -> list[str]:
        """One line per kind of error or restart, with its count, most frequent first."""
        kinds = collections.Counter(f"{e['stage']} error ({e['code']})" for e in self.errors)
        kinds.update(f"{r['stage']} restarted" for r in self.restarts)
        return [f"{kind}: {n}x" for kind, n in kinds.most_common()]

    def write(self, out_dir: Path, extra: dict[str, Any] | None = None) -> None:
        facts = run_facts(self.source, self.speed, self.config)
        entries = sorted(self.entries, key=lambda e: e[0])  # a description is stamped with its frame's time
        style = {"You": "**You**", "Assistant": "**Assistant**", "Camera": "*Camera*", "Look": "*Camera (look)*",
                 "Error": "**Error**", "Restart": "**Restart**"}
        shown = {k: v for k, v in facts.items() if k != "versions" and v is not None}
        lines = [f"# Conversation: {self.source}",
                 "Run: " + ", ".join(f"{k} {v}" for k, v in shown.items() if k != "source"),
                 "Versions: " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items())]
        problems = self.problems()
        lines.append("Problems: " + "; ".join(problems) if problems else "Problems: none")
        lines += [f"{style[who]} ({_fmt_t(t)}): {text}" for t, who, text in entries]
        (out_dir / "transcript.md").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        talk = [(_fmt_t(t), who, text) for t, who, text in entries if who != "Camera"]
        seen = [(t, text) for t, who, text in entries if who == "Camera"]
        page = render(f"omnilive: {self.source}", talk, seen, self.turns, facts=facts, problems=problems)
        (out_dir / "report.html").write_text(page, encoding="utf-8")
        metrics = {
            "source": self.source,
            "speed": self.speed,
            "clock": "media time" if self.speed == 0 else "wall clock",
            "facts": facts,
            "summary": self.summary(),
            "turns": self.turns,
            "errors": self.errors,
            "restarts": self.restarts,
            "session_end": self.end,
            **(extra or {}),
        }
        tmp = out_dir / "metrics.json.tmp"
        text = json.dumps(finite(metrics), indent=2, allow_nan=False, ensure_ascii=False)
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(out_dir / "metrics.json")
