"""The event bus and the event log (``events.jsonl``), the single record of a session.

Stages ``publish`` events; subscribers (the log writer, the console, the turn
timer, the report) receive them synchronously, in order. A subscriber that fails
is logged and skipped for that event; it never stops the pipeline.
"""

from __future__ import annotations

import json
import logging
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
    every line that made it to the file complete.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def __call__(self, event: Event) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(to_record(event), ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def read_events(path: Path) -> list[dict[str, object]]:
    """Read an ``events.jsonl`` back, one dict per line."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
