"""The async vision stage: sampled frames → change gate → describer → scene memory."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from kernel.channels import Channel
from kernel.errors import AssistantError, BackendError, ModelError
from kernel.eventlog import EventBus
from kernel.events import ErrorOccurred, SceneDescribed, Stage

from .describer import Describer, describe_frame
from .frames import Frame
from .memory import SceneDescription, SceneMemory
from .sampling import ChangeGate

log = logging.getLogger(__name__)

T = TypeVar("T")
BACKGROUND_NICE = 19


class BackgroundThread:
    """One worker thread at the lowest CPU priority (nice 19), for work nobody waits on.

    Background describing shares two cores with the reply path (Whisper, the LLM, Piper).
    Pausing it while a reply is produced does not stop a description already running,
    nor the ones that overlap Whisper's early decode while the user pauses. At nice 19 the
    kernel gives such work little CPU while the reply path wants it (its weight is
    15 against 1024), so it still runs whenever the assistant is only listening. The
    describer's ONNX and OpenCV work runs single-threaded on this thread, so all of it is
    lowered. Not SCHED_IDLE: a SCHED_IDLE thread preempted while it holds the GIL gets no
    CPU at all while other programs keep the cores busy, and then every thread of the
    assistant waits for the GIL behind it (Ctrl-C took 9 s, or never, with two busy loops
    running). Where thread priorities cannot be set, the thread runs at normal priority.
    """

    def __init__(self, name: str) -> None:
        # A daemon thread, not a ThreadPoolExecutor: the interpreter joins an executor's threads at
        # exit, and a description starved by a busy machine would hold up Ctrl-C by seconds.
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[object, ...], Future[Any]] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self.busy = False  # a job is running on the thread
        _workers.add(self)
        self._thread.start()

    def _work(self) -> None:
        _lower_priority()
        while (job := self._jobs.get()) is not None:
            fn, args, future = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller stopped waiting before it began
            self.busy = True
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the caller, as an executor does
                self.busy = False  # before the caller hears of it
                future.set_exception(exc)
            else:
                self.busy = False
                future.set_result(result)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        future: Future[T] = Future()
        self._jobs.put((fn, args, future))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._jobs.put(None)


_workers: weakref.WeakSet[BackgroundThread] = weakref.WeakSet()


def background_work_running() -> bool:
    """Whether a job is still running on a :class:`BackgroundThread`.

    Such a thread is a daemon. Were the interpreter to finalize while it is inside native
    code (ONNX Runtime, OpenCV), CPython 3.11 ends the thread with ``pthread_exit`` when it
    next wants the GIL, and the forced unwind through C++ frames aborts the whole process
    ("terminate called without an active exception"). A program that sees this at its end
    leaves with ``os._exit`` instead of finalizing (see ``omnilive.cli.entry``)."""
    return any(worker.busy and worker._thread.is_alive() for worker in list(_workers))


def raise_background_priority() -> None:
    """Puts every :class:`BackgroundThread` back at normal priority, where this process may.

    For the exit: the kernel ends a process only when each of its threads has run once more,
    and a nice-19 thread waits behind every busy program on the machine (Ctrl-C took 6-8 s with
    two busy loops). Raising a priority needs root or RLIMIT_NICE; otherwise it stays."""
    for worker in list(_workers):
        tid = worker._thread.native_id
        if tid is None or not worker._thread.is_alive():
            continue
        try:
            os.setpriority(os.PRIO_PROCESS, tid, 0)
        except OSError:
            return


def _lower_priority() -> None:
    tid = threading.get_native_id()
    try:  # on Linux a thread's nice value is its own: this lowers only the worker thread
        os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
    except (OSError, AttributeError) as exc:
        log.info("background thread keeps a higher priority: %s", exc)


class VisionStats:
    def __init__(self) -> None:
        self.frames = 0
        self.unchanged = 0
        self.described = 0
        self.failed = 0
        self.backed_off = 0  # frames skipped while a failing describer is given time


def checked_description(text: object) -> str:
    """The describer's answer, or a :class:`BackendError` when it is empty or not text."""
    if not isinstance(text, str) or not text.strip():
        shown = repr(text)[:40]
        raise BackendError(f"describer: answered {type(text).__name__} {shown}, not a description", retryable=True)
    return text.strip()


def describer_error(exc: Exception) -> AssistantError:
    """A describer's failure as one of our errors; anything unexpected is translated here, at the edge."""
    if isinstance(exc, AssistantError):
        return exc
    if isinstance(exc, TimeoutError):
        return BackendError(f"describer: timed out ({exc or 'no answer in time'})", retryable=True)
    return ModelError(f"describer: {type(exc).__name__}: {exc}")


def publish_describer_error(bus: EventBus, error: AssistantError) -> None:
    bus.publish(
        ErrorOccurred(t=bus.clock.now(), stage=Stage.DESCRIBER.value, code=error.code, message=str(error),
                      retryable=error.retryable)
    )


def record_description(
    memory: SceneMemory, bus: EventBus, frame: Frame, text: str, backend: str, started: float, change: float = 0.0,
    details: object = None,
) -> None:
    """A new description of ``frame`` (and the ``details`` it was made from, when the describer gives
    them): into scene memory, and a ``scene`` event (``started``: perf_counter)."""
    now = bus.clock.now()
    memory.update(SceneDescription(text=text, frame_t=frame.t, described_at=now, backend=backend, details=details))
    bus.publish(SceneDescribed(t=now, text=text, frame_t=frame.t, change=change, backend=backend,
                               compute_ms=(time.perf_counter() - started) * 1000))


class ReplyGate(Protocol):
    """Says when describing may go on: the runtime's reply priority, which waits while a reply
    is being produced."""

    async def wait(self) -> None: ...


async def run_vision(
    frames: Channel[Frame],
    gate: ChangeGate,
    describer: Describer,
    memory: SceneMemory,
    bus: EventBus,
    stats: VisionStats,
    priority: ReplyGate | None = None,
    backoff_max_s: float = 30.0,
) -> None:
    """Describes the newest changed frame in a worker thread, in the background.

    ``priority.wait()`` is awaited before each description, so that describing never
    competes with a reply for the CPU; a frame that arrives meanwhile replaces
    the one waiting. An unchanged frame confirms the newest description (it is
    still what the camera shows). A describer that fails (raises, times out,
    answers nothing or no text) is an ``error`` event: the last good description
    stays, unconfirmed, so it turns stale. After ``n`` failures in a row the next try
    waits ``2**(n-1)`` seconds of frame time, up to ``backoff_max_s``: a served VLM that
    is down (and shared by many kiosks) is not asked again every second. Describing runs on
    a :class:`BackgroundThread`."""
    worker = BackgroundThread("describer")
    try:
        failures = 0
        retry_at = float("-inf")
        async for frame in frames:
            memory.latest_frame = frame
            if priority is not None:
                await priority.wait()
                if len(frames):
                    continue  # a newer frame came while we waited: describe that one
            stats.frames += 1
            if frame.t < retry_at:
                stats.backed_off += 1
                continue
            changed, score = gate.check(frame.image)
            if not changed:
                stats.unchanged += 1
                memory.confirm(frame.t)
                log.debug("frame at %.2f s unchanged (%.4f)", frame.t, score)
                continue
            started = time.perf_counter()
            try:
                answer, details = await worker.run(describe_frame, describer, frame.image)
                text = checked_description(answer)
            except Exception as exc:  # a VLM may fail in many ways; the conversation goes on without it
                error = describer_error(exc)
                log.warning("describing the frame at %.2f s failed: %s", frame.t, error)
                publish_describer_error(bus, error)
                gate.reset()  # unchanged frames must not confirm the old description
                stats.failed += 1
                failures += 1
                retry_at = frame.t + min(2.0 ** (failures - 1), backoff_max_s)
                continue
            failures = 0
            record_description(memory, bus, frame, text, describer.name, started, change=score, details=details)
            stats.described += 1
    finally:
        worker.close()
