"""Run the command line in this process, as a test would run ``run_assistant.py``.

Starting ``run_assistant.py`` as a child costs seconds of imports (numpy, OpenCV, ONNX Runtime,
CTranslate2) per run; :func:`run_cli` calls :func:`omnilive.cli.main` instead and captures what it
prints. Around the call it saves and restores what ``main`` changes for the whole process: the
signal handlers, the environment, the working folder and the root logger. Log lines the run emits
land in the captured stderr in the format ``main`` gives them (``logging.basicConfig`` does nothing
in a process whose root logger already has handlers, as under pytest).

What needs a process of its own still needs a child: a signal sent to the run (Ctrl-C,
SIGTERM), ``entry``'s ``os._exit``, output written by C libraries to the file descriptors, and
environment variables read when a module is first imported.

Call it from the main thread, outside a running event loop (``main`` runs ``asyncio.run`` and binds
signals).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.events import SpeechEnded
    from speech.audio import Audio
    from speech.protocols import Vad
    from speech.stages import EarlyTranscriber, TurnEndCheck
    from speech.vad import Segmenter

from kernel.eventlog import read_events as _read_log
from kernel.text import is_chinese

_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)
_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # as omnilive.cli.main's logging.basicConfig


@dataclass(frozen=True)
class CliResult:
    """The exit status and the captured output of one run."""

    code: int
    stdout: str
    stderr: str

    @property
    def returncode(self) -> int:  # the name subprocess.CompletedProcess gives it
        return self.code


def read_events(out: Path) -> list[dict[str, Any]]:
    """The events a run wrote to ``out/events.jsonl``."""
    return _read_log(Path(out) / "events.jsonl")


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None] | None) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for key, value in (env or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    saved: dict[int, Any] = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:  # None: set from outside Python; cannot be put back
                signal.signal(sig, handler)


@contextlib.contextmanager
def _working_folder(cwd: str | os.PathLike[str] | None) -> Iterator[None]:
    if cwd is None:
        yield
        return
    saved = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def _root_logger(stream: io.StringIO) -> Iterator[None]:
    root = logging.getLogger()
    saved_level, saved_handlers, saved_disable = root.level, list(root.handlers), logging.root.manager.disable
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # what basicConfig sets in a fresh process; main may change it
    try:
        yield
    finally:
        for h in list(root.handlers):
            if h not in saved_handlers:
                root.removeHandler(h)
                if h is not handler:
                    h.close()
        for h in saved_handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(saved_level)
        logging.disable(saved_disable)


def _wait_for_background_work(timeout: float) -> None:
    """A description still running on the describer's daemon thread after ``main`` returned would
    otherwise compete with the next test for the CPU, or meet the interpreter's exit."""
    stages = sys.modules.get("perception.stages")
    if stages is None:
        return
    stages.raise_background_priority()
    deadline = time.monotonic() + timeout
    while stages.background_work_running() and time.monotonic() < deadline:
        time.sleep(0.02)


def run_cli(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    background_timeout: float = 60.0,
) -> CliResult:
    """Runs ``omnilive.cli.main(argv)`` in this process and returns its exit status and output.

    ``env`` is laid over the environment for the run (a value of ``None`` removes the variable);
    ``cwd`` is the working folder for the run. An exception ``main`` lets through becomes what the
    interpreter would make of it: the traceback on stderr and exit status 1; an argparse exit
    (``SystemExit``) is its status."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("run_cli: call it from the main thread (main binds signal handlers)")
    from . import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    code: int
    with _signals(), _environment(env), _working_folder(cwd), _root_logger(stderr), \
            contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = cli.main([os.fspath(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            code = 1
        finally:
            _wait_for_background_work(background_timeout)
    return CliResult(code=code, stdout=stdout.getvalue(), stderr=stderr.getvalue())


def subword_tokens(text: str) -> list[str]:
    """``text`` as a model streams it (the stand-in LLMs of the benchmarks and tests): pieces of
    at most four characters, about what BPE gives English, each word's leading space on its first.
    Chinese comes in pieces of two and one characters in turn, 1.5 a token: Qwen's tokenizer gives
    1.6 (42 characters of a reply in 25 tokens)."""
    if is_chinese(text):
        sizes = itertools.cycle((2, 1))
        starts = list(itertools.accumulate((next(sizes) for _ in range(len(text))), initial=0))
        return [text[a:b] for a, b in itertools.pairwise(starts) if a < len(text)]
    pieces: list[str] = []
    for i, word in enumerate(text.split(" ")):
        word = word if i == 0 else " " + word
        pieces += [word[j : j + 4] for j in range(0, len(word), 4)]
    return pieces


async def speech_ends(
    audio: Audio, vad: Vad, segmenter: Segmenter, *,
    early: EarlyTranscriber | None = None, turn_end: TurnEndCheck | None = None,
) -> list[SpeechEnded]:
    """Runs the VAD stage (:func:`speech.stages.run_vad`) over a clip held in memory, on a media
    clock that follows the blocks as the live microphone moves it; returns its ``speech_end``
    events. For the tests and benchmarks of the end of a turn."""
    from kernel.channels import Channel, Overflow
    from kernel.clock import MediaClock
    from kernel.eventlog import EventBus
    from kernel.events import SpeechEnded
    from speech.audio import BLOCK, SAMPLE_RATE, AudioBlock
    from speech.stages import Utterance, run_vad

    clock = MediaClock()
    bus = EventBus(clock)
    ended: list[SpeechEnded] = []
    bus.subscribe(lambda event: ended.append(event) if isinstance(event, SpeechEnded) else None)
    n = len(audio) // BLOCK
    blocks: Channel[AudioBlock] = Channel("audio", n + 1, Overflow.BLOCK)
    for i in range(n):
        blocks.put_nowait(AudioBlock(i * BLOCK / SAMPLE_RATE, audio[i * BLOCK : (i + 1) * BLOCK]))
    blocks.close()
    times = iter(range(1, n + 1))

    class Scored:  # ``vad``, with the clock moved to each block's last sample as it is scored
        def __call__(self, block: Audio) -> float:
            clock.set(next(times) * BLOCK / SAMPLE_RATE)
            return vad(block)

        def reset(self) -> None:
            vad.reset()

    utterances: Channel[Utterance] = Channel("utterances", n + 1, Overflow.BLOCK)
    await run_vad(blocks, utterances, Scored(), segmenter, bus,
                  early=early, turn_end=turn_end)
    return ended
