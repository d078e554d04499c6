"""Where reply audio goes. ``WavReplySink`` writes one ``replies/turn-NN.wav`` per turn.

A WAV's header holds its sizes, which libsndfile writes only on close: a process killed
mid-turn would leave a header that says the file is empty. :func:`open_wav` has libsndfile
rewrite the header after every write (``SFC_SET_UPDATE_HEADER_AUTO``, a few µs a write, no
fsync), so a killed process leaves a WAV that reads with every block written but the one in flight.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from kernel.errors import DeviceError

from .tts import Pcm

_SFC_SET_UPDATE_HEADER_AUTO = 0x1061  # sndfile.h


def open_wav(path: Path, sample_rate: int) -> sf.SoundFile:
    """A mono PCM_16 WAV open for writing, whose header is kept current after every write."""
    wav = sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=1, subtype="PCM_16", format="WAV")
    # soundfile has no public sf_command; its cffi handles (_snd, _ffi, _file) are stable since 0.9.
    if sf._snd.sf_command(wav._file, _SFC_SET_UPDATE_HEADER_AUTO, sf._ffi.NULL, 1) != 1:
        wav.close()
        raise DeviceError(f"'{path}': libsndfile refused to keep the WAV header up to date")
    return wav


class ReplySink(Protocol):
    async def open_turn(self, turn: int, sample_rate: int) -> None: ...

    async def write(self, pcm: Pcm) -> None:
        """Queue audio to be heard; returns once it is accepted."""
        ...

    async def close_turn(self, *, interrupted: bool = False) -> tuple[float, str | None]:
        """Finish the turn; returns the seconds of audio and where it was written."""
        ...


class WavReplySink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._file: sf.SoundFile | None = None
        self._path: Path | None = None
        self._frames = 0
        self._rate = 1

    async def open_turn(self, turn: int, sample_rate: int) -> None:
        self._path = self.folder / f"turn-{turn:02d}.wav"
        self._file = await asyncio.to_thread(self._open, self._path, sample_rate)
        self._frames = 0
        self._rate = sample_rate

    def _open(self, path: Path, sample_rate: int) -> sf.SoundFile:
        """Off the loop: creating a file can wait on the disk."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return open_wav(path, sample_rate)

    async def write(self, pcm: Pcm) -> None:
        if self._file is None:
            raise RuntimeError("write() outside a turn")
        # No flush(): in libsndfile that is an fsync, and an fsync per block on the event loop can
        # stall it for seconds while the disk is busy. The header is rewritten (see open_wav).
        self._file.write(np.asarray(pcm, dtype=np.int16))
        self._frames += len(pcm)

    async def close_turn(self, *, interrupted: bool = False) -> tuple[float, str | None]:
        if self._file is not None:
            self._file.close()
            self._file = None
        path = str(self._path) if self._path else None
        return self._frames / self._rate, path
