"""The page's WebSocket protocol (``/ws``), both ways.

Browser → server:
- binary ``0x01`` + Int16 LE PCM, mono, 16 kHz: the microphone (the page's AudioContext
  resamples to 16 kHz; the browser's echo cancellation and noise suppression are on);
- binary ``0x02`` + a JPEG: a camera frame, about one a second, at most 640 px wide;
- text ``{"type": "mute", "muted": bool}``, ``{"type": "volume", "level": 0..2}``.

Server → browser:
- binary ``0x03`` + uint32 LE sample rate + Int16 LE PCM: reply audio, played in order;
- text ``hello`` (session id, view, output folder), ``busy``, ``flush`` (stop and forget the
  buffered audio: a barge-in), ``state`` (listening, hearing, thinking, speaking, muted),
  ``tick`` (the session clock, for the scene's age) and ``event`` (an event as events.jsonl
  writes it).
"""

from __future__ import annotations

import struct

import numpy as np

from speech.tts import Pcm

MIC = b"\x01"
FRAME = b"\x02"
REPLY_AUDIO = b"\x03"

MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # a frame or an audio message larger than this closes the socket


def reply_audio(sample_rate: int, pcm: Pcm) -> bytes:
    return REPLY_AUDIO + struct.pack("<I", sample_rate) + np.asarray(pcm, dtype="<i2").tobytes()
