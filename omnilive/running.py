"""Running a session's coroutine from the command line: SIGTERM stops it as Ctrl-C does."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

from kernel.diagnostics import with_task_dump

T = TypeVar("T")


def sigterm_outside_the_loop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # as Ctrl-C: before or after the session runs, nothing to end cleanly


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` (with the SIGUSR1 task dump) in which SIGTERM does what Ctrl-C does: the main
    task is cancelled, its cleanup runs (the session ends, the log is closed), then KeyboardInterrupt.
    It does not go through SIGINT's handler, which a process started in the background lacks."""
    terminated = False

    async def run() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            nonlocal terminated
            if not terminated:
                terminated = True
                task.cancel()

        loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return await with_task_dump(main)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, sigterm_outside_the_loop)

    try:
        return asyncio.run(run())
    except asyncio.CancelledError:
        if terminated:
            raise KeyboardInterrupt from None
        raise
