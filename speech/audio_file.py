"""Audio files as a source: wav, flac, mp3 or anything ffmpeg decodes, at any rate
and channel count, streamed as 16 kHz mono float32 blocks.

libsndfile (through soundfile) reads wav/flac/ogg/mp3; other containers fall back
to PyAV (the ffmpeg libraries faster-whisper already depends on). Resampling is
soxr's streaming resampler, so memory stays flat however long the file is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from assistant.errors import InputError

from .vad import BLOCK, SAMPLE_RATE, Audio

_READ_FRAMES = 16_384


class AudioFileSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            raise InputError(f"audio file '{path}': no such file")
        if not path.is_file():
            raise InputError(f"audio file '{path}': not a file")
        try:
            info = sf.info(str(path))
            self._backend = "sndfile"
            self.native_rate = int(info.samplerate)
            self.channels = int(info.channels)
            self.duration = float(info.duration)
        except (sf.LibsndfileError, RuntimeError, TypeError):
            self._backend = "av"
            self.native_rate, self.channels, self.duration = self._probe_av()
        if self.native_rate <= 0 or self.duration <= 0:
            raise InputError(f"audio file '{path}': contains no audio")
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
                import av

                with av.open(str(self.path)) as container:
                    resampler = av.AudioResampler(format="flt", layout="mono", rate=self.native_rate)
                    for frame in container.decode(audio=0):
                        for out in resampler.resample(frame):
                            yield out.to_ndarray().reshape(-1)
        except InputError:
            raise
        except Exception as exc:  # libsndfile / ffmpeg decode errors
            raise InputError(f"audio file '{self.path}': cannot decode ({exc})") from exc

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
