"""``omnilive.testing.run_cli``: the command line in the test process, and the process as it was after."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import InputError
from omnilive import cli
from omnilive.testing import run_cli


def test_output_logs_exit_status_and_the_process_put_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def load_settings(*args: Any, **kwargs: Any) -> None:
        seen["env"], seen["cwd"] = os.environ.get("HARNESS_TEST"), Path.cwd()
        seen["gone"] = "HARNESS_GONE" in os.environ
        logging.getLogger("omnilive.harness").warning("a warning")
        logging.getLogger("omnilive.harness").info("not shown at the default level")
        print("on stdout")
        raise InputError("bad input")

    monkeypatch.setattr(cli, "load_settings", load_settings)
    monkeypatch.setenv("HARNESS_GONE", "1")
    root = logging.getLogger()

    def state() -> tuple[object, ...]:
        return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT), list(root.handlers), root.level

    before = state()
    cwd, env = Path.cwd(), dict(os.environ)

    result = run_cli(["--speed", "0"], env={"HARNESS_TEST": "yes", "HARNESS_GONE": None}, cwd=tmp_path)

    assert (result.code, result.stdout) == (2, "on stdout\n")
    assert result.stderr == "WARNING omnilive.harness: a warning\nomnilive: error: bad input\n"
    assert seen == {"env": "yes", "cwd": tmp_path, "gone": False}
    assert state() == before
    assert (Path.cwd(), dict(os.environ)) == (cwd, env)


def test_a_bad_argument_and_an_unexpected_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = run_cli(["--bogus"])
    assert bad.code == 2 and bad.stderr.startswith("omnilive: error: unrecognized arguments: --bogus")

    def load_settings(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "load_settings", load_settings)
    crash = run_cli([])
    assert crash.returncode == 1
    assert crash.stderr.startswith("Traceback") and crash.stderr.endswith("RuntimeError: a bug\n")
