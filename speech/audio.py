"""The audio unit that every speech stage shares: 16 kHz mono float32, in blocks of 512 samples.

The microphone and the file source deliver :class:`AudioBlock` values of ``BLOCK`` samples; the
VAD scores one block at a time (Silero's window at 16 kHz), and ASR reads whole utterances
of :data:`Audio`. Nothing here loads a model or a device, so it is cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000  # Hz, mono: what Silero VAD and Whisper take
BLOCK = 512  # samples per block (32 ms): the window Silero VAD scores at 16 kHz

Audio = npt.NDArray[np.float32]
"""Mono samples in [-1, 1] at ``SAMPLE_RATE``."""


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """``BLOCK`` samples of 16 kHz mono audio starting at media time ``t``."""

    t: float
    samples: Audio = field(repr=False)
