"""Keeps a long-running assistant's output from filling its disk.

A kiosk or a live session writes a folder per start (``events.jsonl``, the report, a WAV per
reply). At full speed that was 692 MB an hour, mostly reply audio, with nothing ever removed;
a kiosk on a small SD card fills it in a day. Three bounds, oldest removed first:

- the folders of earlier runs beside the current one: at most ``max_mb`` together with it,
  and none older than ``max_age_days``;
- the current run's reply WAVs: the oldest go once the run itself passes ``max_mb``;
- ``events.jsonl``, rotated by :class:`kernel.eventlog.JsonlWriter` (``max_bytes``).

The current run's events, report and metrics are never removed: they say what happened.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kernel.events import Event, ReplyAudioEnded

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Pruned:
    folders: int = 0
    replies: int = 0
    freed_bytes: int = 0


def tree_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            continue  # removed meanwhile
    return total


def _age_key(path: Path) -> tuple[float, str]:
    try:
        return path.stat().st_mtime, path.name
    except OSError:
        return 0.0, path.name


def prune(
    current: Path, *, max_mb: float, max_age_days: float | None = None, now: float | None = None,
    siblings: bool = True,
) -> Pruned:
    """Removes what is needed so that ``current`` and the run folders beside it hold at most
    ``max_mb``: first earlier runs older than ``max_age_days``, then earlier runs oldest first,
    then the current run's oldest reply WAVs. Only folders that hold an ``events.jsonl`` count
    as runs, so nothing else in the parent folder is ever touched; with ``siblings`` False (a
    folder the user named), no other folder is."""
    limit = int(max_mb * MB)
    now = time.time() if now is None else now
    parent = current.parent
    runs = sorted((p for p in parent.iterdir() if p.is_dir() and p.resolve() != current.resolve()
                   and (p / "events.jsonl").is_file()), key=_age_key) if siblings and parent.is_dir() else []
    sizes = {p: tree_size(p) for p in runs}
    total = sum(sizes.values()) + tree_size(current)
    folders = replies = freed = 0
    for run in runs:
        too_old = max_age_days is not None and now - _age_key(run)[0] > max_age_days * 86400
        if not too_old and total <= limit:
            continue
        shutil.rmtree(run, ignore_errors=True)
        total -= sizes[run]
        freed += sizes[run]
        folders += 1
    if total > limit:
        for wav in sorted((current / "replies").glob("*.wav"), key=_age_key):
            if total <= limit:
                break
            try:
                size = wav.stat().st_size
                wav.unlink()
            except OSError:
                continue
            total -= size
            freed += size
            replies += 1
    if folders or replies:
        log.info("retention: removed %d earlier run(s) and %d reply WAV(s), %.1f MB, to stay under %.0f MB",
                 folders, replies, freed / MB, max_mb)
    return Pruned(folders, replies, freed)


class RetentionGuard:
    """Applies :func:`prune` when a run starts and after every reply (an event subscriber), on a
    worker thread so that removing a large folder never stalls the pipeline; one pass at a time."""

    def __init__(self, current: Path, *, max_mb: float, max_age_days: float | None, siblings: bool) -> None:
        self.current = current
        self.max_mb = max_mb
        self.max_age_days = max_age_days
        self.siblings = siblings
        self.passes = 0
        self.removed_folders = 0
        self.removed_replies = 0
        self._running: asyncio.Future[Pruned] | None = None

    def run_once(self) -> Pruned:
        done = prune(self.current, max_mb=self.max_mb, max_age_days=self.max_age_days, siblings=self.siblings)
        self.passes += 1
        self.removed_folders += done.folders
        self.removed_replies += done.replies
        return done

    def __call__(self, event: Event) -> None:
        if not isinstance(event, ReplyAudioEnded) or (self._running is not None and not self._running.done()):
            return
        self._running = asyncio.get_running_loop().run_in_executor(None, self.run_once)
        self._running.add_done_callback(_log_failure)

    async def wait(self) -> None:
        """Until the pass in progress (if any) has ended."""
        if self._running is not None:
            await asyncio.wait({self._running})


def _log_failure(future: asyncio.Future[Pruned]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("retention: pruning failed: %s", future.exception())
