"""Shared test fixtures: the repo, the bundled session, and a way to run the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION = ROOT / "examples" / "sessions" / "desk"


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


def read_events(out: Path) -> list[dict[str, Any]]:
    with open(out / "events.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def session_manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SESSION / "session.json").read_text())
    return data
