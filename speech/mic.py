"""The live microphone: PortAudio capture re-blocked into 16 kHz :class:`AudioBlock` s.

The PortAudio callback runs on PortAudio's thread and only copies the samples and
hands them to the event loop (``call_soon_threadsafe``); everything else happens on
the loop: resampling, cutting exactly ``BLOCK`` samples, and ``put_nowait`` into a
``DROP_OLDEST`` channel, so the audio thread never waits on the pipeline.

``AudioBlock.t`` is the microphone's own sample clock: samples delivered so far
divided by 16 000. While the device is lost the clock stands still.

The stream is opened at 16 kHz when the device takes it; otherwise at the device's
default rate, resampled with ``soxr.ResampleStream``. When the stream stops on its
own (device unplugged, host error), ``on_status("lost", …)`` is reported and the
stream is reopened with exponential backoff on loop timers, reporting
``"retrying"`` after each failed try and ``"restored"`` once it is back.
``on_status`` is always called on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr

from kernel.channels import Channel, ChannelClosed

from .audio import BLOCK, SAMPLE_RATE, Audio, AudioBlock
from .devices import Backoff, Reconnector, call_on_loop, close_quietly, device_error, portaudio, resolve_audio_device

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, str], None]


class Microphone:
    def __init__(
        self,
        device: str | int | None = None,
        *,
        on_status: StatusCallback | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.device = device
        self._reconnect = Reconnector("microphone", self._reopen, on_status, Backoff(backoff_initial_s, backoff_max_s))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out: Channel[AudioBlock] | None = None
        self._stream: Any = None
        self._generation = 0  # bumps on every (re)open; callbacks of older streams are ignored
        self._resampler: Any = None
        self._pending: list[Audio] = []
        self._pending_n = 0
        self._delivered = 0
        self._overflows = 0
        self._closed = False
        self.native_rate: int | None = None
        self.device_name: str | None = None

    @property
    def overflows(self) -> int:
        """PortAudio input overflows plus blocks the output channel dropped."""
        return self._overflows

    @property
    def samples_delivered(self) -> int:
        """16 kHz samples handed out so far (always a multiple of ``BLOCK``)."""
        return self._delivered

    @property
    def running(self) -> bool:
        return self._stream is not None

    def start(self, loop: asyncio.AbstractEventLoop, out: Channel[AudioBlock]) -> None:
        """Open the device and start delivering; raises :class:`DeviceError` if it cannot."""
        if self._loop is not None:
            raise RuntimeError("Microphone.start() called twice")
        self._loop = loop
        self._out = out
        self._open()

    def close(self) -> None:
        self._closed = True
        self._reconnect.cancel()
        self._close_stream()

    # --- the stream --------------------------------------------------------------------

    def _open(self) -> None:
        sd = portaudio()
        index, name = resolve_audio_device(self.device, "input")
        self._generation += 1
        generation = self._generation

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            self._from_portaudio(generation, indata[:, 0].copy(), bool(status.input_overflow))

        def finished() -> None:
            call_on_loop(self._loop, self._stream_finished, generation)

        def open_at(rate: int) -> Any:
            return sd.InputStream(
                device=index,
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=round(BLOCK * rate / SAMPLE_RATE),
                callback=callback,
                finished_callback=finished,
            )

        try:
            stream = open_at(SAMPLE_RATE)
            rate = SAMPLE_RATE
        except sd.PortAudioError as exc:
            rate = int(sd.query_devices(index)["default_samplerate"])
            if rate == SAMPLE_RATE:
                raise device_error("input", self.device, f"cannot open '{name}' ({exc})") from exc
            log.info("microphone '%s' refuses %d Hz (%s); opening at %d Hz", name, SAMPLE_RATE, exc, rate)
            try:
                stream = open_at(rate)
            except sd.PortAudioError as exc2:
                raise device_error("input", self.device, f"cannot open '{name}' ({exc2})") from exc2
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close(ignore_errors=True)
            raise device_error("input", self.device, f"cannot start '{name}' ({exc})") from exc
        self._stream = stream
        self.native_rate = rate
        self.device_name = name
        self._resampler = (
            soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ") if rate != SAMPLE_RATE else None
        )
        log.info("microphone '%s' open at %d Hz (latency %.3f s)", name, rate, float(stream.latency))

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._generation += 1
        close_quietly(stream, "microphone")

    def _from_portaudio(self, generation: int, samples: Audio, overflow: bool) -> None:
        """PortAudio's thread: hand the samples over; never block."""
        call_on_loop(self._loop, self._deliver, generation, samples, overflow)

    # --- on the loop ---------------------------------------------------------------------

    def _deliver(self, generation: int, samples: Audio, overflow: bool) -> None:
        if generation != self._generation or self._closed or self._out is None:
            return
        if overflow:
            self._overflows += 1
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        if len(samples):
            self._pending.append(samples)
            self._pending_n += len(samples)
        if self._pending_n < BLOCK:
            return
        audio = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        n_blocks = len(audio) // BLOCK
        for k in range(n_blocks):
            block = AudioBlock(self._delivered / SAMPLE_RATE, audio[k * BLOCK : (k + 1) * BLOCK])
            dropped = self._out.dropped
            try:
                self._out.put_nowait(block)
            except ChannelClosed:
                return
            self._overflows += self._out.dropped - dropped
            self._delivered += BLOCK
        rest = audio[n_blocks * BLOCK :]
        self._pending = [rest] if len(rest) else []
        self._pending_n = len(rest)

    def _stream_finished(self, generation: int) -> None:
        if generation != self._generation or self._closed or self._loop is None:
            return  # we closed it ourselves
        self._close_stream()
        self._reconnect.lost(self._loop, f"microphone '{self.device_name}': the input stream stopped")

    def _reopen(self) -> str:
        self._open()
        return f"microphone '{self.device_name}' is back at {self.native_rate} Hz"
