"""Shared test fixtures: the repo, the bundled session, and a way to run the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from omnilive.testing import CliResult
from omnilive.testing import read_events as read_events  # re-exported for the tests
from omnilive.testing import run_cli as in_process

ROOT = Path(__file__).resolve().parents[1]
SESSION = ROOT / "examples" / "sessions" / "desk"

# The cache that `make` filled (the local LLM, the assembled Whisper base), before the
# suite points OMNILIVE_CACHE elsewhere (see ``own_cache``).
from kernel.cache import cache_dir  # noqa: E402

INSTALLED_CACHE = cache_dir()


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite runs with a cache of its own that holds the speech models but no local LLM, so
    ``dialogue.backend: auto`` means the offline responder in every test (and every CLI the tests
    start) that does not ask for a model: the tests of the pipeline's mechanics stay fast and
    their replies predictable. The tests of the local LLM name it, or use :func:`with_local_llm`."""
    cache = tmp_path_factory.mktemp("omnilive-cache")
    models = INSTALLED_CACHE / "models"
    if models.is_dir():
        (cache / "models").mkdir()
        for entry in models.iterdir():
            if entry.is_dir():  # speech models; the GGUF files stay out
                (cache / "models" / entry.name).symlink_to(entry)
    os.environ["OMNILIVE_CACHE"] = str(cache)
    return cache


def with_local_llm() -> dict[str, str]:
    """Environment for a CLI run that should find the installed local LLM."""
    return {"OMNILIVE_CACHE": str(INSTALLED_CACHE)}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run ``run_assistant.py`` as a user would, with no OpenAI settings leaking in."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "run_assistant.py"), *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_main(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """As :func:`run_cli`, in this process (``omnilive.testing.run_cli``): no seconds of imports per
    run. A test of what needs a process of its own (signals, ``os._exit``, C libraries writing to
    the file descriptors, environment read at import) uses :func:`run_cli`."""
    scrubbed: dict[str, str | None] = {k: None for k in os.environ if k.startswith("OPENAI_")}
    return in_process(list(args), env={**scrubbed, **(env or {})}, cwd=ROOT)


def interruptible() -> None:
    """``preexec_fn`` for a child the test stops with Ctrl-C: a test run started in the background
    (``cmd &``, nohup) ignores SIGINT, and a child would inherit that and never see the Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ctrl_c(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Sends Ctrl-C and returns the rest of the child's (stdout, stderr). If it is still running
    after ``timeout``, the failure carries its asyncio tasks' stacks (SIGUSR1) and every thread's
    (faulthandler, which the child needs ``PYTHONFAULTHANDLER=1`` for)."""
    import contextlib
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        with contextlib.suppress(subprocess.TimeoutExpired):  # a moment to write them, unless it exits
            proc.wait(timeout=1)
        proc.send_signal(signal.SIGABRT)
        _, stderr = proc.communicate(timeout=10)
        raise AssertionError(f"still running {timeout:g} s after Ctrl-C:\n{stderr[-6000:]}") from None


@pytest.fixture(scope="session")
def session_manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SESSION / "session.json").read_text())
    return data


# --- media clips for the bad-input and media-format tests ---------------------------------


def write_clip(src: Path, dst: Path, seconds: float, fourcc: str = "MJPG") -> int:
    """Copy the first ``seconds`` of ``src`` to ``dst`` with OpenCV; returns the frame count."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    written = 0
    try:
        while written < round(seconds * fps):
            ok, image = cap.read()
            if not ok:
                break
            writer.write(image)
            written += 1
    finally:
        cap.release()
        writer.release()
    assert written == round(seconds * fps), f"{src} is shorter than {seconds} s"
    return written


@pytest.fixture(scope="session")
def desk_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 3 s of the bundled video, as MJPG in an AVI."""
    path = tmp_path_factory.mktemp("clip") / "desk-3s.avi"
    write_clip(SESSION / "video.mp4", path, 3.0)
    return path
