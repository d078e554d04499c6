"""The echo guard: the assistant must not answer itself through its own speakers.

Two checks, both cheap:

- :func:`echo_score`, at the start of speech heard while the assistant is talking:
  the best normalised cross-correlation between the microphone audio and what the
  speaker played just before (any delay up to ``max_lag_s``). Speech that is mostly
  the assistant's own voice scores close to 1; a person talking over it scores low,
  so barge-in works without a headset.
- :class:`RecentReplies`, after ASR: a transcript that matches what the assistant
  said in the last few seconds is its own voice, and is dropped.

Half duplex (muting the microphone while the assistant speaks) is the fallback for
rooms where neither is enough; it is a config switch in the live session.
"""

from __future__ import annotations

import collections
import re

import numpy as np
from rapidfuzz import fuzz

from .audio import SAMPLE_RATE, Audio


def echo_score(mic: Audio, reference: Audio, *, max_lag_s: float = 0.4, rate: int = SAMPLE_RATE) -> float:
    """How much of ``mic`` is explained by ``reference`` played earlier, in [0, 1].

    ``reference`` ends at the same instant as ``mic`` and should reach back
    ``len(mic) + max_lag`` samples. Returns the peak normalised correlation over lags."""
    n = len(mic)
    if n == 0 or len(reference) == 0:
        return 0.0
    max_lag = min(int(max_lag_s * rate), max(len(reference) - n, 0))
    ref = reference[-(n + max_lag) :].astype(np.float64)
    m = mic.astype(np.float64) - float(np.mean(mic))
    m_norm = float(np.sqrt(np.dot(m, m)))
    if m_norm < 1e-9 or len(ref) < n:
        return 0.0
    size = 1 << int(np.ceil(np.log2(len(ref) + n)))
    # corr[k] = sum_i m[i] * ref[k + i]: the mic aligned at each offset into the reference
    corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(m, size)), size)[: len(ref) - n + 1]
    csum = np.concatenate([[0.0], np.cumsum(ref)])
    csq = np.concatenate([[0.0], np.cumsum(ref * ref)])
    window_sum = csum[n:] - csum[:-n]
    window_sq = csq[n:] - csq[:-n]
    energy = np.maximum(window_sq - window_sum * window_sum / n, 1e-12)
    scores = np.abs(corr) / (m_norm * np.sqrt(energy))
    return float(np.clip(scores.max(), 0.0, 1.0))


_WORDS = re.compile(r"[a-z0-9']+")


def _normal(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


class RecentReplies:
    """What the assistant said in the last ``window_s`` seconds, for matching transcripts."""

    def __init__(self, *, window_s: float = 8.0, threshold: float = 80.0) -> None:
        self.window_s = window_s
        self.threshold = threshold
        self._said: collections.deque[tuple[float, str]] = collections.deque(maxlen=32)

    def add(self, t: float, text: str) -> None:
        if text.strip():
            self._said.append((t, _normal(text)))

    def matches(self, t: float, transcript: str) -> bool:
        heard = _normal(transcript)
        if not heard:
            return False
        recent = [said for when, said in self._said if t - when <= self.window_s]
        return any(fuzz.partial_ratio(heard, said) >= self.threshold for said in recent)
