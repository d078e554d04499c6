"""``kill -USR1 <pid>``: every asyncio task's stack in the log, for a run that seems stuck."""

from __future__ import annotations

import asyncio
import io
import logging
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("omnilive.tasks")

T = TypeVar("T")


def dump_tasks() -> None:
    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(limit=8, file=out)
        log.warning("task %s: %s", task.get_name(), out.getvalue())


async def with_task_dump(main: Coroutine[Any, Any, T]) -> T:
    """Runs ``main`` with SIGUSR1 bound to :func:`dump_tasks`."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    try:
        return await main
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
