"""Where reply audio goes. ``WavReplySink`` writes one ``replies/turn-NN.wav`` per turn."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from .tts import Pcm


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
        self.folder.mkdir(parents=True, exist_ok=True)
        self._path = self.folder / f"turn-{turn:02d}.wav"
        self._file = sf.SoundFile(self._path, "w", samplerate=sample_rate, channels=1, subtype="PCM_16")
        self._frames = 0
        self._rate = sample_rate

    async def write(self, pcm: Pcm) -> None:
        if self._file is None:
            raise RuntimeError("write() outside a turn")
        # No flush(): in libsndfile that is an fsync, and an fsync per block on the event loop can
        # stall it for seconds while the disk is busy. The file is complete once the turn closes.
        self._file.write(np.asarray(pcm, dtype=np.int16))
        self._frames += len(pcm)

    async def close_turn(self, *, interrupted: bool = False) -> tuple[float, str | None]:
        if self._file is not None:
            self._file.close()
            self._file = None
        path = str(self._path) if self._path else None
        return self._frames / self._rate, path
