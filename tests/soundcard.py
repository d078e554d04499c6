"""A simulated full-duplex sound card, so tests run the real PortAudio adapters.

ALSA's ``file`` plugin reads a capture stream from ``infile`` and writes a
playback stream to ``file``; both are FIFOs here. An ``.asoundrc`` in a temporary
HOME defines the devices PortAudio then lists:

- ``sim_mic``: capture, **float32 little-endian mono at ``mic_rate``**. The harness
  writes the FIFO ``mic.fifo``.
- ``sim_speaker``: playback, **int16 little-endian mono at ``speaker_rate``**. The
  harness reads the FIFO ``speaker.fifo``.
- ``default``: both of them (``type asym``).

Each is a ``plug`` over the file plugin whose slave has that one format and rate,
and whose ``rate_converter`` names one that does not exist: the device takes any
sample format but refuses every rate except its own (PortAudio reports a host
error), like hardware that only runs at 48 kHz. Clients must use the device rate.

Pacing. The file plugin is not paced (its slave is ``null``): a capture stream
reads as fast as data comes, a playback stream writes as fast as the FIFO drains.
The harness thread paces both in *lockstep media time*: each step writes
``step_ms`` of microphone samples, then reads the same duration from the speaker
(blocking until the player produced it), then records both. The pipeline runs as
fast as it can, but never further than the speaker FIFO (shrunk to one page) ahead
of the harness. ``before_step(i)`` runs in the harness thread before step ``i``; a
test blocks in it to wait for the pipeline (see :meth:`SimulatedSoundCard.gate`).

Capture caveat: PortAudio reads the capture side through ``mmap``; alsa-lib's file
plugin then ``read()``s the FIFO once per period and, on a short read, hands over
stale samples for the rest. So ``step_ms`` must be a whole number of capture
periods. :class:`speech.mic.Microphone` uses 32 ms blocks, and so does the harness.

Echo: ``echo_gain * speaker`` is mixed into the microphone, delayed by
``echo_delay_ms`` plus one step (the speaker step is read after the mic step is
written) plus what the player keeps buffered.

PortAudio reads the device list when it is initialised, and ``sounddevice`` does
that at import. :meth:`SimulatedSoundCard.__enter__` sets ``HOME``, drops alsa-lib's
cached configuration (``snd_config_update_free_global``) and re-initialises
PortAudio in this process (``sd._terminate(); sd._initialize()``); ``__exit__``
undoes it. No stream may be open across either.

Shutdown: a PortAudio stream blocked on a FIFO cannot be stopped, so call
:meth:`SimulatedSoundCard.release` before closing the microphone or the player: the
card then feeds silence and drains the speaker without gating, at real-time pace
(unpaced, the microphone would flood the event loop), and records nothing more.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import fcntl
import os
import select
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

MIC = "sim_mic"
SPEAKER = "sim_speaker"

BeforeStep = Callable[[int], None]


def _reinitialise_portaudio() -> None:
    import sounddevice as sd

    sd._terminate()
    asound = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    asound.snd_config_update_free_global()
    sd._initialize()


class SimulatedSoundCard:
    def __init__(
        self,
        root: Path,
        *,
        mic_rate: int = 16_000,
        speaker_rate: int = 48_000,
        step_ms: int = 32,
        echo_gain: float = 0.0,
        echo_delay_ms: float = 0.0,
        mic: bool = True,
        speaker: bool = True,
    ) -> None:
        self.root = root
        self.mic_rate = mic_rate
        self.speaker_rate = speaker_rate
        self.step_ms = step_ms
        self.mic_step = mic_rate * step_ms // 1000
        self.speaker_step = speaker_rate * step_ms // 1000
        self.echo_gain = echo_gain
        self.feeds_mic = mic
        self.lockstep_speaker = speaker
        self._echo = np.zeros(round(echo_delay_ms * mic_rate / 1000), dtype=np.float32)
        self._echo_resampler = soxr.ResampleStream(speaker_rate, mic_rate, 1, dtype="float32")
        self._feed: list[npt.NDArray[np.float32]] = []
        self._mic_written: list[npt.NDArray[np.float32]] = []
        self._speaker_read: list[npt.NDArray[np.int16]] = []
        self._cond = threading.Condition()
        self._budget: float = 0  # steps still allowed; inf once released
        self._released = False
        self._stop = threading.Event()
        self._before_step: BeforeStep | None = None
        self._thread: threading.Thread | None = None
        self.steps = 0
        self.error: BaseException | None = None
        self._old_home: str | None = None
        self._mic_fd = -1
        self._speaker_fd = -1

    # --- setup --------------------------------------------------------------------------------

    def asoundrc(self) -> str:
        mic, spk = self.root / "mic.fifo", self.root / "speaker.fifo"
        return f"""
pcm.simcard_mic_fifo {{ type file; slave.pcm "null"; file "/dev/null"; infile "{mic}"; format "raw" }}
pcm.{MIC} {{
    type plug
    slave {{ pcm "simcard_mic_fifo"; format FLOAT_LE; rate {self.mic_rate}; channels 1 }}
    rate_converter "simcard_no_such_converter"
}}
pcm.simcard_speaker_fifo {{ type file; slave.pcm "null"; file "{spk}"; format "raw" }}
pcm.{SPEAKER} {{
    type plug
    slave {{ pcm "simcard_speaker_fifo"; format S16_LE; rate {self.speaker_rate}; channels 1 }}
    rate_converter "simcard_no_such_converter"
}}
pcm.!default {{ type asym; playback.pcm "{SPEAKER}"; capture.pcm "{MIC}" }}
"""

    def __enter__(self) -> SimulatedSoundCard:
        self.root.mkdir(parents=True, exist_ok=True)
        for name in ("mic.fifo", "speaker.fifo"):
            os.mkfifo(self.root / name)
        # O_RDWR on both ends: opening never blocks, the device's end never sees EOF or EPIPE.
        self._mic_fd = os.open(self.root / "mic.fifo", os.O_RDWR | os.O_NONBLOCK)
        self._speaker_fd = os.open(self.root / "speaker.fifo", os.O_RDWR | os.O_NONBLOCK)
        fcntl.fcntl(self._speaker_fd, fcntl.F_SETPIPE_SZ, 4096)  # the player runs at most one page ahead
        (self.root / ".asoundrc").write_text(self.asoundrc())
        self._old_home = os.environ.get("HOME")
        os.environ["HOME"] = str(self.root)
        _reinitialise_portaudio()
        self._thread = threading.Thread(target=self._run, name="simulated-sound-card", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        os.close(self._mic_fd)
        os.close(self._speaker_fd)
        if self._old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = self._old_home
        _reinitialise_portaudio()

    # --- driving it ------------------------------------------------------------------------------

    def feed(self, audio: npt.ArrayLike) -> None:
        """Queue microphone audio (float32 at ``mic_rate``); silence follows it."""
        with self._cond:
            self._feed.append(np.asarray(audio, dtype=np.float32).reshape(-1))

    def run(self, steps: float = float("inf"), before_step: BeforeStep | None = None) -> None:
        """Allow ``steps`` more steps (all, by default), calling ``before_step(i)`` before each."""
        with self._cond:
            self._budget += steps
            self._before_step = before_step
            self._cond.notify_all()

    def release(self) -> None:
        """End the test: run on without gating, at real-time pace, recording nothing more.

        A PortAudio stream blocked on a FIFO cannot be stopped: call this before closing
        the microphone or the player."""
        with self._cond:
            self._released = True
            self._budget = float("inf")
            self._cond.notify_all()

    def wait_step(self, step: int, timeout: float = 10.0) -> bool:
        """Block until ``step`` steps are done (call it through ``asyncio.to_thread``)."""
        with self._cond:
            done = self._cond.wait_for(lambda: self.steps >= step or self.error is not None, timeout)
        if self.error is not None:
            raise RuntimeError(f"the simulated sound card failed at step {self.steps}") from self.error
        return done

    @staticmethod
    def gate(loop: asyncio.AbstractEventLoop, fn: Callable[[int], Awaitable[None]], timeout: float = 10.0) -> Gate:
        """A ``before_step`` that runs ``await fn(i)`` on ``loop`` and waits for it.

        :meth:`release` ends the wait: the loop may be about to block on closing a stream."""
        return Gate(loop, fn, timeout)

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # --- what happened ---------------------------------------------------------------------------

    @property
    def speaker_frames(self) -> int:
        """Speaker samples read so far: the harness's position on the speaker timeline."""
        return self.steps * self.speaker_step if self.lockstep_speaker else 0

    def speaker_audio(self) -> npt.NDArray[np.int16]:
        with self._cond:
            return np.concatenate(self._speaker_read) if self._speaker_read else np.zeros(0, np.int16)

    def mic_audio(self) -> npt.NDArray[np.float32]:
        """Everything written to the microphone, echo included."""
        with self._cond:
            return np.concatenate(self._mic_written) if self._mic_written else np.zeros(0, np.float32)

    # --- the harness thread -----------------------------------------------------------------------

    def _next_mic(self) -> npt.NDArray[np.float32]:
        n = self.mic_step
        out = np.zeros(n, dtype=np.float32)
        filled = 0
        with self._cond:
            while filled < n and self._feed:
                head = self._feed[0]
                take = min(n - filled, len(head))
                out[filled : filled + take] = head[:take]
                filled += take
                if take == len(head):
                    self._feed.pop(0)
                else:
                    self._feed[0] = head[take:]
        if self.echo_gain:
            echo = self._echo[:n]
            out[: len(echo)] += self.echo_gain * echo
            self._echo = self._echo[len(echo) :]
        return out

    def _io(self, fd: int, write: bytes | None, nbytes: int = 0, drop_when_full: bool = False) -> bytes:
        """Write all of ``write``, or read exactly ``nbytes``; gives up when stopped.

        With ``drop_when_full`` a write that does not fit is dropped (no reader: teardown)."""
        done = 0
        chunks: list[bytes] = []
        want = len(write) if write is not None else nbytes
        while done < want:
            if self._stop.is_set():
                raise _Stopped
            if write is not None:
                if select.select([], [fd], [], 0 if drop_when_full else 0.1)[1]:
                    try:
                        done += os.write(fd, write[done:])
                    except BlockingIOError:
                        continue
                elif drop_when_full:
                    break
            elif select.select([fd], [], [], 0.1)[0]:
                try:
                    chunk = os.read(fd, want - done)
                except BlockingIOError:
                    continue
                chunks.append(chunk)
                done += len(chunk)
        return b"".join(chunks)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._stop.is_set() or self.steps < self._budget)
                    if self._stop.is_set():
                        return
                    released = self._released
                    before = None if released else self._before_step
                if released and self._stop.wait(self.step_ms / 1000):
                    return  # released: real-time pace, so nothing floods while the pipeline shuts down
                if isinstance(before, Gate):
                    before.wait(self.steps, self)
                elif before is not None:
                    before(self.steps)
                mic = self._next_mic()
                if self.feeds_mic:
                    self._io(self._mic_fd, mic.tobytes(), drop_when_full=released)
                speaker = np.zeros(0, np.int16)
                if self.lockstep_speaker:
                    raw = self._io(self._speaker_fd, None, self.speaker_step * 2)
                    speaker = np.frombuffer(raw, dtype="<i2").astype(np.int16)
                    if self.echo_gain:
                        back = self._echo_resampler.resample_chunk(speaker.astype(np.float32) / 32768.0)
                        self._echo = np.concatenate([self._echo, back.astype(np.float32)])
                with self._cond:
                    if not released:  # what happens after release() is teardown, not the test
                        self._mic_written.append(mic)
                        self._speaker_read.append(speaker)
                    self.steps += 1
                    self._cond.notify_all()
        except _Stopped:
            return
        except BaseException as exc:  # surfaced to the test through wait_step() and .error
            self.error = exc
            with self._cond:
                self._cond.notify_all()


class _Stopped(Exception):
    pass


class Gate:
    """See :meth:`SimulatedSoundCard.gate`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fn: Callable[[int], Awaitable[None]], timeout: float) -> None:
        self.loop = loop
        self.fn = fn
        self.timeout = timeout

    def __call__(self, step: int) -> None:
        asyncio.run_coroutine_threadsafe(_as_coroutine(self.fn(step)), self.loop).result(self.timeout)

    def wait(self, step: int, card: SimulatedSoundCard) -> None:
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(self.fn(step)), self.loop)
        future.add_done_callback(lambda _: card._notify())
        with card._cond:
            finished = card._cond.wait_for(lambda: future.done() or card._released or card._stop.is_set(), self.timeout)
        if future.done():
            future.result()
        elif finished:
            future.cancel()  # released: run free
        else:
            raise TimeoutError(f"before_step({step}) did not finish within {self.timeout} s")


async def _as_coroutine(awaitable: Awaitable[None]) -> None:
    await awaitable


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(audio: npt.NDArray[Any], rate: int) -> float:
    x = np.asarray(audio, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])
