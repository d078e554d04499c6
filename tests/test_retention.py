"""Retention: a long-running kiosk's output folders stay under a size and age cap, oldest first,
and nothing but earlier runs and the current run's reply audio is ever removed."""

from __future__ import annotations

import os
from pathlib import Path

from assistant.retention import MB, prune, tree_size


def run_folder(parent: Path, name: str, mb: float, mtime: float, replies: int = 0) -> Path:
    folder = parent / name
    (folder / "replies").mkdir(parents=True)
    (folder / "events.jsonl").write_text('{"type": "session_start"}\n')
    (folder / "blob.bin").write_bytes(b"\0" * int(mb * MB))
    for i in range(replies):
        wav = folder / "replies" / f"turn-{i + 1:02d}.wav"
        wav.write_bytes(b"\0" * MB)
        os.utime(wav, (mtime + i, mtime + i))
    os.utime(folder, (mtime, mtime))
    return folder


def test_earlier_runs_go_oldest_first_until_all_fit(tmp_path: Path) -> None:
    old = run_folder(tmp_path, "20261101-000000", 3, mtime=1000)
    mid = run_folder(tmp_path, "20261102-000000", 3, mtime=2000)
    new = run_folder(tmp_path, "20261103-000000", 3, mtime=3000)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\0" * 5 * MB)  # not a run: never touched
    current = run_folder(tmp_path, "20261104-000000", 1, mtime=4000)
    done = prune(current, max_mb=5, now=5000)
    assert not old.exists() and not mid.exists() and new.exists() and current.exists() and other.exists()
    assert done.folders == 2 and done.freed_bytes >= 6 * MB
    assert tree_size(new) + tree_size(current) <= 5 * MB


def test_runs_older_than_the_age_cap_go_even_when_there_is_room(tmp_path: Path) -> None:
    day = 86400.0
    stale = run_folder(tmp_path, "a", 0.1, mtime=0)
    recent = run_folder(tmp_path, "b", 0.1, mtime=29 * day)
    current = run_folder(tmp_path, "c", 0.1, mtime=31 * day)
    prune(current, max_mb=1000, max_age_days=30, now=31 * day)
    assert not stale.exists() and recent.exists() and current.exists()


def test_the_current_run_loses_its_oldest_replies_but_never_its_record(tmp_path: Path) -> None:
    current = run_folder(tmp_path, "now", 0.5, mtime=100, replies=6)
    done = prune(current, max_mb=3, now=200)
    left = sorted(p.name for p in (current / "replies").glob("*.wav"))
    assert left == ["turn-05.wav", "turn-06.wav"] and done.replies == 4
    assert (current / "events.jsonl").is_file() and (current / "blob.bin").is_file()
    assert tree_size(current) <= 3 * MB


def test_the_event_log_rotates_and_every_line_stays_strict_json(tmp_path: Path) -> None:
    import json

    from kernel.eventlog import JsonlWriter
    from kernel.events import SceneDescribed

    path = tmp_path / "events.jsonl"
    writer = JsonlWriter(path, max_bytes=4000, keep=2)
    for i in range(200):
        writer(SceneDescribed(t=float(i), text="a cup " * 5, frame_t=float(i), change=float("inf") if i == 195 else 0.1,
                              backend="basic", compute_ms=float("nan") if i == 196 else 1.0))
    writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["events.1.jsonl", "events.2.jsonl", "events.jsonl"] and writer.rotations > 2
    assert all(p.stat().st_size <= 4000 + 300 for p in tmp_path.iterdir())
    lines = [json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # Infinity: fail
             for name in ("events.2.jsonl", "events.1.jsonl", "events.jsonl")
             for line in (tmp_path / name).read_text().splitlines()]
    ts = [line["t"] for line in lines]
    assert ts == sorted(ts) and ts[-1] == 199.0  # the newest lines, in order, none lost between files
    assert [line["change"] for line in lines if line["t"] == 195.0] == [None]
    assert [line["compute_ms"] for line in lines if line["t"] == 196.0] == [None]
