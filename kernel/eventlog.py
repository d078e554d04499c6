"""The event bus and the event log (``events.jsonl``), the single record of a session.

Stages ``publish`` events; subscribers (the log writer, the console, the turn
timer, the report) receive them synchronously, in order. A subscriber that fails
is logged and skipped for that event; it never stops the pipeline.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .clock import Clock
from .events import Event, to_record

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber, event.type)


class JsonlWriter:
    """Appends one complete JSON line per event and flushes it at once.

    A line is written with a single ``write`` call, so a killed process leaves
    every line that made it to the file complete. Every line is strict JSON: a
    non-finite number (which ``json`` would write as ``Infinity``) is written as ``null``.

    With ``max_bytes``, a long run rotates the log: once the file passes it, it becomes
    ``events.1.jsonl`` (the one before, ``events.2.jsonl``; ``keep`` of them are kept) and a
    new ``events.jsonl`` starts.
    """

    def __init__(self, path: Path, *, max_bytes: int | None = None, keep: int = 3) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = max(keep, 1)
        self.rotations = 0
        self._file: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def __call__(self, event: Event) -> None:
        if self._file is None:
            return
        self._file.write(to_json(to_record(event)) + "\n")
        self._file.flush()
        if self.max_bytes is not None and self._file.tell() > self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        for i in range(self.keep, 0, -1):
            older = self.path.with_name(f"{self.path.stem}.{i}{self.path.suffix}")
            newer = self.path if i == 1 else self.path.with_name(f"{self.path.stem}.{i - 1}{self.path.suffix}")
            if newer.exists():
                os.replace(newer, older)
        self.rotations += 1
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def to_json(record: object) -> str:
    """One line of strict JSON; non-finite floats become ``null``."""
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(finite(record), ensure_ascii=False, allow_nan=False)


def finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def read_events(path: Path) -> list[dict[str, object]]:
    """Read an ``events.jsonl`` back, one dict per line."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
