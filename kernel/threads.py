"""Calls into a blocking backend (Whisper, a VLM, a detector) from the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .errors import AssistantError, BackendError

T = TypeVar("T")


class InThread:
    """One blocking backend's calls, off the event loop: on one worker thread that this adapter
    owns, one call at a time in the order asked (two decodes side by side on two cores each take
    twice as long, so nothing is gained by running them together), with a vendor's exception
    turned into a :class:`BackendError` that names the backend (our own errors pass through)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"omnilive-{name}")

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except AssistantError:
            raise
        except Exception as exc:
            raise BackendError(f"{self.name}: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """No new calls; a call running finishes on its thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
