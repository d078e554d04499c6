"""Voice activity detection: Silero VAD (ONNX, as faster-whisper ships it) and a segmenter.

:class:`SileroVad` scores one 512-sample block of 16 kHz audio at a time and keeps
the model's recurrent state between calls. :class:`Segmenter` turns those scores
into utterances with hysteresis, a minimum speech length, a minimum silence to end
a turn, and padding on both sides. Both are synchronous and cheap (~0.1 ms a
block); the async stage lives in :mod:`speech.stages`.
"""

from __future__ import annotations

import collections
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime

from kernel.errors import ModelError

from .audio import BLOCK, SAMPLE_RATE, Audio

_CONTEXT = 64


def bundled_model_path() -> Path:
    """The Silero VAD ONNX file that faster-whisper ships in its assets."""
    return Path(str(importlib.resources.files("faster_whisper").joinpath("assets/silero_vad_v6.onnx")))


class SileroVad:
    def __init__(self, path: Path | None = None) -> None:
        path = path or bundled_model_path()
        if not path.is_file():
            raise ModelError(f"vad.model: no such file '{path}'")
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"], sess_options=opts
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"vad.model: cannot load '{path}': {exc}") from exc
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def __call__(self, block: Audio) -> float:
        """Speech probability of one 512-sample block."""
        if block.shape != (BLOCK,):
            raise ValueError(f"SileroVad needs blocks of {BLOCK} samples, got {block.shape}")
        x = np.concatenate([self._context, block])[None, :].astype(np.float32)
        prob, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = block[-_CONTEXT:].copy()
        return float(np.asarray(prob).reshape(-1)[0])


@dataclass(frozen=True, slots=True)
class VadStart:
    utterance: int
    start: float


@dataclass(frozen=True, slots=True)
class VadEnd:
    utterance: int
    start: float
    end: float
    audio: Audio = field(repr=False)


VadSignal = VadStart | VadEnd


class Segmenter:
    """Turns per-block speech probabilities into utterances.

    Times are media seconds of the start of each block passed to :meth:`push`.
    ``VadStart`` comes once ``min_speech_ms`` of speech has been heard;
    ``VadEnd`` comes after ``min_silence_ms`` of silence, with the speech audio
    (padded by ``pad_ms`` on both sides).
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        min_speech_ms: int = 250,
        min_silence_ms: int = 500,
        pad_ms: int = 200,
        max_utterance_s: float = 30.0,
    ) -> None:
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        block_s = BLOCK / SAMPLE_RATE
        self._min_speech = max(1, round(min_speech_ms / 1000 / block_s))
        self._min_silence = max(1, round(min_silence_ms / 1000 / block_s))
        self._pad = round(pad_ms / 1000 / block_s)
        self._max_blocks = round(max_utterance_s / block_s)
        self._preroll: collections.deque[Audio] = collections.deque(maxlen=max(self._pad, 1))
        self._count = 0
        self._reset()

    def _reset(self) -> None:
        self._blocks: list[Audio] = []
        self._voiced = 0
        self._silent_run = 0
        self._start: float | None = None
        self._last_voiced_end = 0.0
        self._started = False

    @property
    def in_speech(self) -> bool:
        return self._started

    @property
    def utterance(self) -> int:
        """The number of the utterance in progress (or the last one)."""
        return self._count

    @property
    def silent_run(self) -> int:
        """Silent blocks since the last voiced one, within speech."""
        return self._silent_run if self._started else 0

    @property
    def last_voiced_end(self) -> float:
        return self._last_voiced_end

    def audio_so_far(self) -> Audio:
        """The audio of the utterance in progress, for a partial transcript."""
        if not self._started or not self._blocks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._blocks).astype(np.float32)

    def push(self, block: Audio, t: float, prob: float) -> list[VadSignal]:
        block_s = BLOCK / SAMPLE_RATE
        out: list[VadSignal] = []
        if self._start is None:
            if prob >= self.threshold:
                self._start = t
                self._blocks = list(self._preroll) if self._pad else []
                self._blocks.append(block)
                self._voiced = 1
                self._last_voiced_end = t + block_s
            elif self._pad:
                self._preroll.append(block)
            return out

        self._blocks.append(block)
        if prob >= self.threshold or (prob >= self.neg_threshold and self._silent_run == 0):
            self._voiced += 1
            self._silent_run = 0
            self._last_voiced_end = t + block_s
        else:
            self._silent_run += 1

        if not self._started and self._voiced >= self._min_speech:
            self._started = True
            self._count += 1
            out.append(VadStart(self._count, self._start))

        too_long = len(self._blocks) >= self._max_blocks
        if self._silent_run >= self._min_silence or too_long:
            if self._started:
                out.append(self._finish())
            else:
                self._preroll.clear()
                self._reset()
        return out

    def flush(self) -> list[VadSignal]:
        """End of input: close an utterance in progress."""
        if self._started:
            return [self._finish()]
        self._reset()
        return []

    def _finish(self) -> VadEnd:
        assert self._start is not None
        keep = len(self._blocks) - max(self._silent_run - self._pad, 0)
        audio = np.concatenate(self._blocks[:keep]).astype(np.float32)
        end = VadEnd(self._count, self._start, self._last_voiced_end, audio)
        self._preroll.clear()
        self._reset()
        return end
