"""Speech: audio in, VAD, ASR, TTS and audio out.

The audio unit (``SAMPLE_RATE``, ``BLOCK``, ``Audio``, ``AudioBlock``) and the ASR and VAD
Protocols are re-exported here. The backends are imported by module (``speech.asr``,
``speech.vad``, ``speech.tts``, ``speech.mic``, ``speech.player``, ...): they load
faster-whisper, onnxruntime, piper or sounddevice, which ``import speech`` must not.
"""

from .audio import BLOCK, SAMPLE_RATE, Audio, AudioBlock
from .protocols import Asr, Vad

__all__ = ["BLOCK", "SAMPLE_RATE", "Asr", "Audio", "AudioBlock", "Vad"]
