"""The live speaker: a :class:`~speech.sinks.ReplySink` that plays through PortAudio.

One int16 mono ``OutputStream`` runs from :meth:`SpeakerPlayer.start` to
:meth:`SpeakerPlayer.close`. Its callback (PortAudio's thread) takes samples from a
bounded buffer and plays silence when the buffer is empty, so the device never
starves and a reply starts within one block.

- :meth:`write` resamples TTS audio to the device rate (``soxr``) and waits while
  more than ``max_buffer_s`` is queued: TTS runs ahead of playback, boundedly.
- :meth:`flush` drops everything not yet handed to the device. Playback stops
  within one callback block (``block_ms``, 10 ms by default) plus the device's own
  output latency (``latency``): samples already handed to the device cannot be
  called back.
- :meth:`recent_output` returns what was handed to the device in the last seconds,
  at 16 kHz, silence included: the reference for the echo guard.
- ``on_playback_start(turn)`` is called on the event loop when the first sample of
  a turn goes to the device.

If the stream stops on its own, ``on_status("lost", …)`` is reported, writes are
dropped (a reply must not hang on a missing speaker), and the stream is reopened
with exponential backoff (``"retrying"``, ``"restored"``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr

from .audio import SAMPLE_RATE, Audio
from .devices import Backoff, Reconnector, call_on_loop, close_quietly, device_error, portaudio, resolve_audio_device
from .tts import Pcm

log = logging.getLogger(__name__)

_PIECE_S = 0.1  # write() queues audio in pieces of at most this length


class SpeakerPlayer:
    def __init__(
        self,
        device: str | int | None = None,
        *,
        samplerate: int | None = None,
        block_ms: float = 10.0,
        max_buffer_s: float = 0.5,
        reference_s: float = 5.0,
        on_playback_start: Callable[[int], None] | None = None,
        on_status: Callable[[str, str], None] | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.device = device
        self.samplerate = samplerate
        self.block_ms = block_ms
        self.max_buffer_s = max_buffer_s
        self.reference_s = reference_s
        self.on_playback_start = on_playback_start
        self._reconnect = Reconnector("speaker", self._reopen, on_status, Backoff(backoff_initial_s, backoff_max_s))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self._generation = 0
        self._closed = False
        self.rate = 0  # the device rate, known after start()
        self.device_name: str | None = None
        self.latency = 0.0  # PortAudio's output latency in seconds
        # Shared with PortAudio's thread, under _lock:
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[int, Pcm]] = collections.deque()
        self._queued = 0
        self._head = 0  # samples of _queue[0] already played
        self._started_turns: set[int] = set()
        self._turn_played: dict[int, int] = {}
        self._played = 0
        self._ref = np.zeros(0, dtype=np.int16)
        self._ref_pos = 0  # total samples written into the reference ring
        # On the loop:
        self._space = asyncio.Event()
        self._drained = asyncio.Event()
        self._turn: int | None = None
        self._resampler: Any = None
        self._epoch = 0  # bumped by flush(): a write() in progress drops the rest of its audio

    # --- state -----------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        """True while queued reply audio remains to be handed to the device."""
        return self._queued > 0

    @property
    def played_samples(self) -> int:
        """Reply samples (device rate) handed to the device so far, over all turns."""
        return self._played

    @property
    def buffered_s(self) -> float:
        return self._queued / self.rate if self.rate else 0.0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the device; raises :class:`DeviceError` if it cannot."""
        if self._loop is not None:
            raise RuntimeError("SpeakerPlayer.start() called twice")
        self._loop = loop
        self._open()

    def close(self) -> None:
        self._closed = True
        self._reconnect.cancel()
        self.flush()
        self._close_stream()

    def _open(self) -> None:
        sd = portaudio()
        index, name = resolve_audio_device(self.device, "output")
        default_rate = int(sd.query_devices(index)["default_samplerate"])
        rates = [r for r in (self.samplerate, default_rate, 48_000, SAMPLE_RATE) if r]
        self._generation += 1
        generation = self._generation

        def callback(outdata: Any, frames: int, time_info: Any, status: Any) -> None:
            self._fill(outdata[:, 0], generation)

        def finished() -> None:
            call_on_loop(self._loop, self._stream_finished, generation)

        error: Exception | None = None
        for rate in dict.fromkeys(rates):
            try:
                stream = sd.OutputStream(
                    device=index,
                    samplerate=rate,
                    channels=1,
                    dtype="int16",
                    blocksize=max(1, round(rate * self.block_ms / 1000)),
                    latency="low",
                    callback=callback,
                    finished_callback=finished,
                )
                break
            except sd.PortAudioError as exc:
                log.info("speaker '%s' refuses %d Hz (%s)", name, rate, exc)
                error = exc
        else:
            raise device_error("output", self.device, f"cannot open '{name}' ({error})") from error
        with self._lock:
            self.rate = rate
            self._ref = np.zeros(max(1, round(self.reference_s * rate)), dtype=np.int16)
            self._ref_pos = 0
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close(ignore_errors=True)
            raise device_error("output", self.device, f"cannot start '{name}' ({exc})") from exc
        self._stream = stream
        self.device_name = name
        self.latency = float(stream.latency)
        log.info("speaker '%s' open at %d Hz (latency %.3f s)", name, rate, self.latency)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._generation += 1
        close_quietly(stream, "speaker")

    # --- the ReplySink protocol --------------------------------------------------------------

    async def open_turn(self, turn: int, sample_rate: int) -> None:
        if not self.rate:
            raise RuntimeError("SpeakerPlayer.open_turn() before start()")
        self._turn = turn
        with self._lock:
            self._turn_played[turn] = 0
        self._resampler = (
            soxr.ResampleStream(sample_rate, self.rate, 1, dtype="int16", quality="HQ")
            if sample_rate != self.rate
            else None
        )

    async def write(self, pcm: Pcm) -> None:
        if self._turn is None:
            raise RuntimeError("write() outside a turn")
        audio = np.ascontiguousarray(pcm, dtype=np.int16)
        if self._resampler is not None:
            audio = self._resampler.resample_chunk(audio)
        await self._enqueue(self._turn, audio)

    async def close_turn(self, *, interrupted: bool = False) -> tuple[float, str | None]:
        """Finish the turn: played seconds, and no path.

        Uninterrupted, waits until the turn's audio has gone to the device (bounded by
        the queued length plus two seconds); interrupted, drops what is left."""
        turn = self._turn
        if turn is None:
            return 0.0, None
        try:
            if interrupted:
                self.flush()
            else:
                if self._resampler is not None:
                    await self._enqueue(turn, self._resampler.resample_chunk(np.zeros(0, np.int16), last=True))
                try:
                    async with asyncio.timeout(self.buffered_s + 2.0):
                        while self.playing and self._stream is not None:
                            self._drained.clear()
                            await self._drained.wait()
                except TimeoutError:
                    log.warning("speaker: turn %d did not finish playing in time; dropping the rest", turn)
                    self.flush()
        finally:
            self._turn = None
            self._resampler = None
        with self._lock:
            played = self._turn_played.pop(turn, 0)
            self._started_turns.discard(turn)
        return played / self.rate, None

    def flush(self) -> None:
        """Drop every queued sample not yet handed to the device."""
        with self._lock:
            dropped = self._queued
            self._queue.clear()
            self._queued = 0
            self._head = 0
        self._epoch += 1
        if dropped:
            log.debug("speaker: flushed %d samples", dropped)
        self._space.set()
        self._drained.set()

    def recent_output(self, seconds: float) -> Audio:
        """The last ``seconds`` handed to the device, as 16 kHz float32 (zeros before the start)."""
        want = max(0, round(seconds * SAMPLE_RATE))
        if not self.rate or want == 0:
            return np.zeros(want, dtype=np.float32)
        n_dev = min(len(self._ref), math.ceil(seconds * self.rate) + 64)
        with self._lock:
            end = self._ref_pos % len(self._ref)
            raw = np.roll(self._ref, -end)[-n_dev:] if self._ref_pos >= len(self._ref) else self._ref[:end][-n_dev:]
        audio = raw.astype(np.float32) / np.float32(32768.0)
        if self.rate != SAMPLE_RATE and len(audio):
            audio = np.asarray(soxr.resample(audio, self.rate, SAMPLE_RATE), dtype=np.float32)
        if len(audio) >= want:
            return audio[-want:]
        return np.concatenate([np.zeros(want - len(audio), dtype=np.float32), audio])

    # --- queueing (loop side) ----------------------------------------------------------------

    async def _enqueue(self, turn: int, audio: Pcm) -> None:
        if self._stream is None:
            if len(audio):
                log.debug("speaker: no stream; dropping %d samples", len(audio))
            return
        piece = max(1, round(_PIECE_S * self.rate))
        limit = round(self.max_buffer_s * self.rate)
        epoch = self._epoch
        for start in range(0, len(audio), piece):
            while self._queued > limit and self._stream is not None and epoch == self._epoch:
                self._space.clear()
                await self._space.wait()
            if epoch != self._epoch or self._stream is None:
                return  # flushed meanwhile (barge-in), or the device went away
            with self._lock:
                chunk = audio[start : start + piece]
                self._queue.append((turn, chunk))
                self._queued += len(chunk)

    # --- PortAudio's thread ------------------------------------------------------------------

    def _fill(self, out: Pcm, generation: int) -> None:
        n = len(out)
        filled = 0
        first_of: list[int] = []
        with self._lock:
            while filled < n and self._queue:
                turn, chunk = self._queue[0]
                take = min(n - filled, len(chunk) - self._head)
                out[filled : filled + take] = chunk[self._head : self._head + take]
                if turn not in self._started_turns:
                    self._started_turns.add(turn)
                    first_of.append(turn)
                self._turn_played[turn] = self._turn_played.get(turn, 0) + take
                filled += take
                self._head += take
                if self._head == len(chunk):
                    self._queue.popleft()
                    self._head = 0
            self._queued -= filled
            self._played += filled
            out[filled:] = 0
            self._write_reference(out)
            queued = self._queued
        if generation != self._generation:
            return
        for turn in first_of:
            if self.on_playback_start is not None:
                call_on_loop(self._loop, self.on_playback_start, turn)
        if filled and queued <= round(self.max_buffer_s * self.rate):
            call_on_loop(self._loop, self._space.set)
        if filled and queued == 0:
            call_on_loop(self._loop, self._drained.set)

    def _write_reference(self, out: Pcm) -> None:
        size = len(self._ref)
        data = out[-size:]
        start = (self._ref_pos + len(out) - len(data)) % size
        first = min(len(data), size - start)
        self._ref[start : start + first] = data[:first]
        self._ref[: len(data) - first] = data[first:]
        self._ref_pos += len(out)

    # --- loss and recovery (loop side) --------------------------------------------------------

    def _stream_finished(self, generation: int) -> None:
        if generation != self._generation or self._closed or self._loop is None:
            return
        self._close_stream()
        self.flush()
        self._reconnect.lost(self._loop, f"speaker '{self.device_name}': the output stream stopped")

    def _reopen(self) -> str:
        self._open()
        return f"speaker '{self.device_name}' is back at {self.rate} Hz"
