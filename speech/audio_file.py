"""Audio files as a source: wav, flac, mp3 or anything ffmpeg decodes, at any rate
and channel count, streamed as 16 kHz mono float32 blocks.

libsndfile (through soundfile) reads wav/flac/ogg/aiff; mp3 and everything else goes
through PyAV (the ffmpeg libraries faster-whisper already depends on): libsndfile's mp3
decoder stops for good at a corrupt stretch and prints to stderr, where ffmpeg skips
the bad frames and goes on. Resampling is soxr's streaming resampler, so memory stays
flat however long the file is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from kernel.errors import InputError

from .audio import BLOCK, SAMPLE_RATE, Audio

log = logging.getLogger(__name__)

_READ_FRAMES = 16_384
_SNDFILE_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM")  # wav, flac, ogg, aiff


class AudioFileSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            raise InputError(f"audio file '{path}': no such file")
        if not path.is_file():
            raise InputError(f"audio file '{path}': not a file")
        info = _sndfile_info(path)
        if info is not None:
            self._backend = "sndfile"
            self.native_rate = int(info.samplerate)
            self.channels = int(info.channels)
            self.duration = float(info.duration)
        else:
            self._backend = "av"
            self.native_rate, self.channels, self.duration = self._probe_av()
        if self.native_rate <= 0 or self.duration <= 0:
            raise InputError(f"audio file '{path}': contains no audio")
        self._warned = False
        # Decode the first block now, so a file that is corrupt past its header fails here.
        next(iter(self._native_blocks()), None)

    def _probe_av(self) -> tuple[int, int, float]:
        import av

        try:
            with av.open(str(self.path)) as container:
                if not container.streams.audio:
                    raise InputError(f"audio file '{self.path}': has no audio stream")
                stream = container.streams.audio[0]
                duration = float(container.duration or 0) / 1_000_000
                return int(stream.rate or 0), int(stream.channels or 1), duration
        except av.error.FFmpegError as exc:
            raise InputError(f"audio file '{self.path}': not a readable audio file ({exc})") from exc

    def _native_blocks(self) -> Iterator[np.ndarray]:
        """Blocks of mono float32 at the file's own rate."""
        try:
            if self._backend == "sndfile":
                with sf.SoundFile(str(self.path)) as f:
                    while True:
                        data = f.read(_READ_FRAMES, dtype="float32", always_2d=True)
                        if len(data) == 0:
                            return
                        yield data.mean(axis=1)
            else:
                yield from self._av_blocks()
        except InputError:
            raise
        except Exception as exc:  # libsndfile / ffmpeg decode errors
            raise InputError(f"audio file '{self.path}': cannot decode ({exc})") from exc

    def _av_blocks(self) -> Iterator[np.ndarray]:
        """Blocks decoded by ffmpeg. A packet that does not decode (a corrupt stretch) is
        skipped and played as silence of its length, so what follows keeps its media time;
        the file fails only when nothing in it decodes."""
        import av

        skipped = owed = 0.0  # seconds: all skipped, and skipped but not yet played as silence
        first_bad: float | None = None
        played, error = 0, None  # samples yielded; the last decode error
        with av.open(str(self.path)) as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=self.native_rate)
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    lost = _packet_seconds(packet, stream.bit_rate)
                    skipped, owed, error = skipped + lost, owed + lost, exc
                    first_bad = played / self.native_rate if first_bad is None else first_bad
                    continue
                for frame in frames:
                    if owed:  # before this good frame, so a file where nothing decodes yields nothing
                        yield from _silence(round(owed * self.native_rate))
                        played, owed = played + round(owed * self.native_rate), 0.0
                    for out in resampler.resample(frame):
                        samples = out.to_ndarray().reshape(-1)
                        played += len(samples)
                        yield samples
        if error is not None and not played:
            raise InputError(f"audio file '{self.path}': cannot decode ({error})")
        if skipped and not self._warned:
            self._warned = True
            log.warning("audio file '%s': skipped %.1f s that could not be decoded, from %.1f s on",
                        self.path, skipped, first_bad)

    def blocks(self) -> Iterator[Audio]:
        """The whole file as 16 kHz mono float32 blocks of exactly ``BLOCK`` samples;
        the last one is padded with silence."""
        resampler = soxr.ResampleStream(self.native_rate, SAMPLE_RATE, 1, dtype="float32")
        pending = np.zeros(0, dtype=np.float32)
        blocks = self._native_blocks()
        done = False
        while not done:
            native = next(blocks, None)
            done = native is None
            chunk = resampler.resample_chunk(
                np.zeros(0, dtype=np.float32) if native is None else native.astype(np.float32),
                last=done,
            )
            pending = np.concatenate([pending, chunk])
            while len(pending) >= BLOCK:
                yield pending[:BLOCK]
                pending = pending[BLOCK:]
        if len(pending):
            yield np.concatenate([pending, np.zeros(BLOCK - len(pending), dtype=np.float32)])


def _sndfile_info(path: Path) -> Any:
    """libsndfile's view of a file it reads well (known by its first bytes), else None. On any
    other file libsndfile tries its mp3 decoder, which prints to stderr even while probing."""
    try:
        with path.open("rb") as f:
            if not f.read(4).startswith(_SNDFILE_MAGIC):
                return None
        return sf.info(str(path))
    except (OSError, sf.LibsndfileError, RuntimeError, TypeError):
        return None


def _packet_seconds(packet: Any, bit_rate: int | None) -> float:
    """How long a packet that did not decode would have played: its size at the stream's bit
    rate (ffmpeg's mp3 demuxer hands a whole corrupt stretch over as one packet), or its duration."""
    duration = float(packet.duration * packet.time_base) if packet.duration and packet.time_base else 0.0
    return max(duration, packet.size * 8 / bit_rate if bit_rate else 0.0)


def _silence(samples: int) -> Iterator[np.ndarray]:
    for start in range(0, samples, _READ_FRAMES):
        yield np.zeros(min(_READ_FRAMES, samples - start), dtype=np.float32)
