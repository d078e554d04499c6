"""Property-based fuzzing (Hypothesis, fixed budget, derandomized) of the CLI's file inputs: a
session manifest, an audio file and a video file, mangled at random. Each either loads and reads
to its end or fails with the one-line ``InputError``; never any other exception."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.session import prepare_sources
from kernel.errors import InputError
from omnilive.settings import Settings

from .conftest import SESSION

BUDGET = settings(max_examples=60, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def read_all(settings_: Settings) -> None:
    """Loads the inputs and reads every audio block and every frame, as a replay would."""
    sources = prepare_sources(settings_)
    if sources.audio is not None:
        for _ in sources.audio.blocks():
            pass
    if sources.video is not None:
        for _ in sources.video.frames():
            pass


def loads_or_says_why(settings_: Settings) -> None:
    try:
        read_all(settings_)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc)


@BUDGET
@given(manifest=st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries({"video": st.text(max_size=30), "audio": st.text(max_size=30)}).map(json.dumps),
    st.text(max_size=200),
    st.integers(1, 20000).map(lambda n: "[" * n + "]" * n),  # deep nesting: a RecursionError in json
))
def test_a_mangled_session_manifest_loads_or_is_one_line(tmp_path: Path, manifest: str) -> None:
    folder = tmp_path / "session"
    folder.mkdir(exist_ok=True)
    (folder / "session.json").write_text(manifest, encoding="utf-8")
    for name in ("audio.wav", "video.mp4"):
        if not (folder / name).exists():
            shutil.copy(SESSION / name, folder / name)
    loads_or_says_why(Settings.model_validate({"input": {"session": str(folder)}}))


def mangle(data: bytes, cuts: list[tuple[int, int]], truncate: float | None) -> bytes:
    out = bytearray(data)
    for at, value in cuts:
        out[at % len(out)] = value
    if truncate is not None:
        out = out[: int(len(out) * truncate)]
    return bytes(out)


mangling = {
    "cuts": st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), max_size=40),
    "truncate": st.none() | st.floats(0.0, 1.0),
}


@pytest.mark.parametrize("name", ["audio.wav", "video.mp4"])
def test_a_mangled_media_file_reads_through_or_is_one_line(tmp_path: Path, name: str) -> None:
    original = (SESSION / name).read_bytes()  # an mp4 keeps its index at the end: cut it short, it reads nothing

    @settings(BUDGET, max_examples=30 if name == "video.mp4" else 60)
    @given(**mangling)
    def check(cuts: list[tuple[int, int]], truncate: float | None) -> None:
        path = tmp_path / name
        path.write_bytes(mangle(original, cuts, truncate))
        field = "audio" if name.endswith(".wav") else "video"
        loads_or_says_why(Settings.model_validate({"input": {field: str(path)}}))

    check()
