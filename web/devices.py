"""The browser as microphone, camera and speaker: the live session's devices, fed by and
feeding one WebSocket (see :mod:`web.protocol`).

They satisfy the Protocols of :mod:`assistant.live`, so a browser session is a live session with
other devices: the session clock is the browser microphone's sample count, as it is a local
microphone's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import soxr
from PIL import Image

from kernel.channels import Channel
from kernel.clock import Clock
from perception.frames import Frame
from speech.audio import BLOCK, SAMPLE_RATE, Audio, AudioBlock
from speech.sinks import ReplySink
from speech.tts import Pcm

from .protocol import REPLY_AUDIO, reply_audio

log = logging.getLogger(__name__)

MAX_PENDING_BYTES = 8 * 1024 * 1024  # unsent to one page (~3 min of reply audio): past it, the page is dropped
MIC_SLACK_S = 2.0  # the page's audio may run this far ahead of the wall clock (its buffers, a busy tab)
MAX_FRAME_PIXELS = 1920 * 1080  # a larger image from the page is refused (the page sends 640 px)


class Outbox:
    """What goes to one browser, in order: one writer task sends it. Sync code (a flush from a
    barge-in) can queue without awaiting; nothing is sent after :meth:`close`."""

    def __init__(self, send_bytes: Callable[[bytes], Any], send_str: Callable[[str], Any], *,
                 max_pending: int = MAX_PENDING_BYTES, on_overflow: Callable[[], None] = lambda: None) -> None:
        self._send_bytes = send_bytes
        self._send_str = send_str
        self._queue: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self.closed = False
        self.max_pending = max_pending
        self.pending = 0  # bytes queued and not yet sent
        self._on_overflow = on_overflow

    def put(self, message: bytes | str | dict[str, Any]) -> None:
        """Queues ``message``; past :attr:`max_pending` bytes unsent (a page that does not read) the
        outbox closes and ``on_overflow`` is called once, rather than buffering without bound."""
        if self.closed:
            return
        item = json.dumps(message, ensure_ascii=False) if isinstance(message, dict) else message
        size = len(item)
        if self.pending + size > self.max_pending:
            log.warning("web: the page reads nothing (%d bytes unsent); closing it", self.pending)
            self.close()
            self._on_overflow()
            return
        self.pending += size
        self._queue.put_nowait(item)

    def drop_audio(self) -> int:
        """Forgets reply audio not yet sent (a flush); returns how many chunks."""
        kept: list[bytes | str | None] = []
        dropped = 0
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, bytes) and item[:1] == REPLY_AUDIO:
                dropped += 1
                self.pending -= len(item)
            else:
                kept.append(item)
        for item in kept:
            self._queue.put_nowait(item)
        return dropped

    async def run(self) -> None:
        """Sends until :meth:`close`; a closed socket ends it quietly."""
        while (item := await self._queue.get()) is not None:
            self.pending -= len(item)
            try:
                await (self._send_bytes(item) if isinstance(item, bytes) else self._send_str(item))
            except (ConnectionError, RuntimeError):  # the tab went away
                self.closed = True
                return

    def close(self) -> None:
        self.closed = True
        self._queue.put_nowait(None)


class BrowserMic:
    """16 kHz Int16 PCM from the page, in any message size, cut into the pipeline's blocks.

    The page's audio is the session's clock, so it may not run ahead of the wall clock: what comes
    beyond real time, past :data:`MIC_SLACK_S` ahead (a page sending 10 s of audio in 1 s), is dropped and
    counted in :attr:`too_fast`, and the recognizer never works faster than someone can talk."""

    def __init__(self, wall: Callable[[], float] = time.monotonic) -> None:
        self._out: Channel[AudioBlock] | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._samples = 0  # delivered so far: the session clock
        self.dropped = 0
        self.too_fast = 0  # messages dropped for running ahead of real time
        self._wall = wall
        self._last: float | None = None  # the wall clock at the last message
        self._credit = MIC_SLACK_S  # seconds of audio the page may still send now

    @property
    def overflows(self) -> int:
        return self.dropped + self.too_fast

    def start(self, loop: asyncio.AbstractEventLoop, out: Channel[AudioBlock]) -> None:
        self._out = out

    def feed(self, pcm16: bytes) -> None:
        if self._out is None or self._out.closed:
            return
        usable = len(pcm16) - len(pcm16) % 2
        now = self._wall()  # a bucket of seconds of audio, filled by the wall clock, at most MIC_SLACK_S
        self._credit = min(self._credit + now - self._last, MIC_SLACK_S) if self._last is not None else MIC_SLACK_S
        self._last = now
        seconds = usable / 2 / SAMPLE_RATE
        if seconds > self._credit:
            self.too_fast += 1
            return
        self._credit -= seconds
        samples = np.frombuffer(pcm16[:usable], dtype="<i2").astype(np.float32) / np.float32(32768.0)
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= BLOCK:
            block, self._pending = self._pending[:BLOCK], self._pending[BLOCK:]
            if not self._out.put_nowait(AudioBlock(self._samples / SAMPLE_RATE, block)):
                self.dropped += 1
            self._samples += BLOCK

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


class BrowserCamera:
    """JPEG frames from the page, checked, decoded off the event loop and stamped with the session clock.

    A frame is refused before it is decoded when its header says it is not a JPEG, or larger than
    :data:`MAX_FRAME_PIXELS` (an 11000 x 11000 JPEG is 1.9 MB and took 1.4 s and 346 MB to decode
    on the loop); one that arrives while the last is still being decoded is skipped (the page sends
    one a second). :attr:`refused` counts them by reason, for the session's stats."""

    def __init__(self) -> None:
        self._out: Channel[Frame] | None = None
        self._clock: Clock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._want: Callable[[float], bool] = lambda t: True
        self._decoding: asyncio.Future[Any] | None = None
        self.index = 0
        self.refused: collections.Counter[str] = collections.Counter()

    @property
    def bad(self) -> int:
        return sum(self.refused.values())

    def start(self, loop: asyncio.AbstractEventLoop, out: Channel[Frame], clock: Clock,
              want: Callable[[float], bool]) -> None:
        self._out, self._clock, self._want, self._loop = out, clock, want, loop

    def feed(self, jpeg: bytes) -> None:
        if self._out is None or self._clock is None or self._loop is None or self._out.closed:
            return
        t = self._clock.now()
        if not self._want(t):
            return
        if self._decoding is not None and not self._decoding.done():
            self._refuse("busy", "a frame came while the last was being decoded")
            return
        problem = jpeg_problem(jpeg)
        if problem is not None:
            self._refuse(problem[0], problem[1])
            return
        self._decoding = self._loop.run_in_executor(None, _decode, jpeg)
        self._decoding.add_done_callback(lambda done: self._decoded(done, t))

    def _decoded(self, done: asyncio.Future[Any], t: float) -> None:
        if done.cancelled() or self._out is None or self._out.closed:
            return
        image = done.result() if done.exception() is None else None
        if image is None:
            self._refuse("undecodable", "the JPEG could not be decoded")
            return
        self._out.put_nowait(Frame(t, self.index, image))
        self.index += 1

    def _refuse(self, reason: str, why: str) -> None:
        self.refused[reason] += 1
        if self.refused[reason] == 1:  # one line per kind, not one per frame of a flood
            log.warning("browser camera: frame refused: %s (counted as %s)", why, reason)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


def jpeg_problem(data: bytes) -> tuple[str, str] | None:
    """Why a frame from the page is refused before decoding, read from its header alone: not a
    JPEG, or over :data:`MAX_FRAME_PIXELS`. None: decode it."""
    if not data.startswith(b"\xff\xd8"):
        return "not_jpeg", "it is not a JPEG"
    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: the size is judged here
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:  # reads the header, decodes nothing
                width, height = image.size
    except Image.DecompressionBombError:
        return "too_large", f"it is over twice Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels"
    except (OSError, ValueError, SyntaxError):
        return "undecodable", "its JPEG header cannot be read"
    if width * height > MAX_FRAME_PIXELS:
        return "too_large", f"{width} x {height} pixels is over the {MAX_FRAME_PIXELS} allowed"
    return None


def _decode(jpeg: bytes) -> Any:
    return cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)


class BrowserPlayer:
    """The reply audio, sent to the page as it is made, and kept in the run's WAVs by ``keep``.

    The page plays each chunk right after the one before; the server estimates what is playing
    from the wall clock (``playing``, and ``recent_output`` for the echo guard). It sends at most
    ``AHEAD_S`` ahead of what plays, and a turn ends when its audio has played, as on a local
    speaker: so a barge-in finds the turn still speaking. A flush tells the page to stop and forget
    what it has buffered, and drops what has not been sent."""

    AHEAD_S = 2.0

    def __init__(self, outbox: Outbox, keep: ReplySink | None = None, *,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.keep = keep
        self.rate = 0
        self.device_name = "browser"
        self._now = now
        self._play_until = 0.0
        self._sent: collections.deque[tuple[float, Audio]] = collections.deque()  # (start, 16 kHz audio)
        self._flushed: asyncio.Event | None = None
        self.flushes = 0

    @property
    def playing(self) -> bool:
        return self._now() < self._play_until

    async def _until_played(self, ahead_s: float) -> None:
        """Waits until at most ``ahead_s`` of audio is left to play, or a flush."""
        wait = self._play_until - self._now() - ahead_s
        if wait <= 0 or self._flushed is None or self._flushed.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flushed.wait(), wait)

    async def open_turn(self, turn: int, sample_rate: int) -> None:
        self.rate = sample_rate
        self._flushed = asyncio.Event()
        if self.keep is not None:
            await self.keep.open_turn(turn, sample_rate)

    async def write(self, pcm: Pcm) -> None:
        if not len(pcm):
            return
        self.outbox.put(reply_audio(self.rate, pcm))  # to the page first, then into the run's WAV
        if self.keep is not None:
            await self.keep.write(pcm)
        start = max(self._now(), self._play_until)
        self._play_until = start + len(pcm) / self.rate
        audio = np.asarray(pcm, dtype=np.float32) / np.float32(32768.0)
        if self.rate != SAMPLE_RATE:
            audio = np.asarray(soxr.resample(audio, self.rate, SAMPLE_RATE), dtype=np.float32)
        self._sent.append((start, audio))
        while len(self._sent) > 1 and self._sent[0][0] < self._now() - 10.0:
            self._sent.popleft()
        await self._until_played(self.AHEAD_S)

    async def close_turn(self, *, interrupted: bool = False) -> tuple[float, str | None]:
        if interrupted:
            self.flush()
        else:
            await self._until_played(0.0)
        if self.keep is not None:
            return await self.keep.close_turn(interrupted=interrupted)
        return 0.0, None

    def flush(self) -> None:
        self.flushes += 1
        self.outbox.drop_audio()
        self.outbox.put({"type": "flush"})
        self._play_until = self._now()
        self._sent.clear()
        if self._flushed is not None:
            self._flushed.set()

    def recent_output(self, seconds: float) -> Audio:
        """What should have played in the last ``seconds``, as 16 kHz float32 (zeros where nothing did)."""
        want = max(0, round(seconds * SAMPLE_RATE))
        out = np.zeros(want, dtype=np.float32)
        end = self._now()
        begin = end - want / SAMPLE_RATE
        for start, audio in self._sent:
            lo = max(start, begin)
            hi = min(start + len(audio) / SAMPLE_RATE, end)
            if hi <= lo:
                continue
            src = round((lo - start) * SAMPLE_RATE)
            dst = round((lo - begin) * SAMPLE_RATE)
            n = min(round((hi - lo) * SAMPLE_RATE), len(audio) - src, want - dst)
            if n > 0:
                out[dst:dst + n] = audio[src:src + n]
        return out
