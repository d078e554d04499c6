"""kernel.threads.InThread: a blocking backend's calls, one at a time, on the adapter's own thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kernel.errors import BackendError, ModelError
from kernel.threads import InThread


async def test_calls_run_one_at_a_time_in_order_on_one_thread_off_the_loop() -> None:
    worker = InThread("asr")
    release = threading.Event()
    began = threading.Event()
    started: list[tuple[str, int]] = []

    def decode(name: str) -> str:
        started.append((name, threading.get_ident()))
        if name == "first":
            began.set()
            assert release.wait(30)
        return name.upper()

    try:
        first = asyncio.create_task(worker.call(decode, "first"))
        second = asyncio.create_task(worker.call(decode, "second"))
        assert await asyncio.to_thread(began.wait, 30)  # the loop stays free while the first call blocks
        assert [name for name, _ in started] == ["first"] and not second.done()
        release.set()
        assert await asyncio.gather(first, second) == ["FIRST", "SECOND"]
    finally:
        worker.close()
    assert [name for name, _ in started] == ["first", "second"]
    assert started[0][1] == started[1][1] != threading.get_ident()


async def test_a_vendor_error_becomes_a_backend_error_naming_the_backend_and_ours_pass_through() -> None:
    worker = InThread("asr")

    def fails() -> None:
        raise RuntimeError("CUDA failed with error out of memory")

    def ours() -> None:
        raise ModelError("asr: the model file is truncated")

    try:
        with pytest.raises(BackendError, match=r"^asr: RuntimeError: CUDA failed") as info:
            await worker.call(fails)
        assert isinstance(info.value.__cause__, RuntimeError)
        with pytest.raises(ModelError, match="truncated"):
            await worker.call(ours)
        assert await worker.call(len, "still works") == 11
    finally:
        worker.close()
