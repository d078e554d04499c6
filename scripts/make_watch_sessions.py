#!/usr/bin/env python3
"""Sessions for standing watches: a request spoken early, then what it asks about appears well after
it, never, or comes and goes and comes back; real photos (scikit-image's) and the project's signs.

    .venv/bin/python scripts/make_watch_sessions.py OUT_DIR [--only NAME,...] [--minutes M]

Each session folder holds video.mp4, audio.wav and session.json, whose ``watch`` entry says when
the thing is in view (``shown``: [start, end] spans in seconds) and how many alerts are due.
``--minutes`` makes the quiet sessions (nothing asked for appears) that long, for false alarms.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.answer_set import (  # noqa: E402
    Voice,
    photo,
    plain,
    side_by_side,
    sign,
)
from benchmarks.answers import SAMPLE_RATE, Speakers, write_media  # noqa: E402

FPS = 5
LEAD_S = 1.0
Frame = np.ndarray


@dataclass(frozen=True)
class WatchSession:
    name: str
    request: str
    voice: Voice
    views: tuple[tuple[float, Callable[[float], Frame]], ...]  # (from this time on, the frame)
    shown: tuple[tuple[float, float], ...]  # when the thing asked about is in view
    alerts: int  # alerts due
    seconds: float
    language: str = "en"


def still(name: str, flip: bool = False) -> Callable[[float], Frame]:
    image = photo(name, flip=flip)
    return lambda _t: image


def two(left: str, right: str) -> Callable[[float], Frame]:
    return side_by_side(left, right)


PIPER = Voice("piper-joe", "piper")
FLITE = Voice("flite-slt", "flite", "slt")
ZH = Voice("zh", "zh")
WALL = plain((150, 150, 150))


def sessions(minutes: float = 1.0) -> list[WatchSession]:
    quiet = max(30.0, minutes * 60)
    return [
        WatchSession("cat-arrives", "Tell me when you see a cat.", PIPER,
                     ((0, WALL), (12, still("chelsea"))), ((12, 24),), 1, 24),
        WatchSession("cat-beside-cup", "Let me know if a cat shows up.", FLITE,
                     ((0, still("coffee")), (14, two("coffee", "chelsea"))), ((14, 26),), 1, 26),
        WatchSession("someone-comes-and-goes", "Tell me every time someone shows up.", PIPER,
                     ((0, still("coffee")), (10, still("astronaut")), (16, still("coffee")), (29, still("camera"))),
                     ((10, 16), (29, 38)), 2, 38),
        WatchSession("sign-closes", "Tell me when the sign says CLOSED.", FLITE,
                     ((0, sign("OPEN")), (12, sign("CLOSED"))), ((12, 24),), 1, 24),
        WatchSession("cup-taken", "Tell me if my cup is gone.", PIPER,
                     ((0, still("coffee")), (12, WALL)), ((12, 24),), 1, 24),
        WatchSession("cat-arrives-zh", "看到猫的时候告诉我。", ZH,
                     ((0, WALL), (12, still("chelsea"))), ((12, 24),), 1, 24, "zh"),
        # nothing asked for appears
        WatchSession("no-cat", "Tell me when you see a cat.", PIPER,
                     ((0, still("coffee")), (quiet / 3, still("astronaut")), (2 * quiet / 3, WALL)), (), 0, quiet),
        WatchSession("no-dog", "Let me know if a dog comes in.", FLITE,
                     ((0, still("chelsea")), (quiet / 2, two("chelsea", "coffee"))), (), 0, quiet),
        WatchSession("nobody", "Tell me when someone shows up.", PIPER,
                     ((0, still("coffee")), (quiet / 2, sign("OPEN"))), (), 0, quiet),
    ]


def unseen_sessions(minutes: float = 1.0) -> list[WatchSession]:
    """Sessions the watches were not made on: other photos, voices, wordings and kinds of watch."""
    quiet = max(30.0, minutes * 60)
    kal16 = Voice("flite-kal16", "flite", "kal16", 0.9)
    slow_joe = Voice("piper-joe-slow", "piper", rate=0.9)
    fast_slt = Voice("flite-slt-fast", "flite", "slt", 1.15)
    return [
        WatchSession("motorbike-arrives", "Let me know when a motorbike shows up.", kal16,
                     ((0, still("rocket")), (13, still("motorcycle_left"))), ((13, 26),), 1, 26),
        WatchSession("visitor-each-time", "Give me a shout whenever somebody comes in.", slow_joe,
                     ((0, still("rocket")), (11, still("astronaut")), (18, still("rocket")),
                      (31, still("astronaut", flip=True))), ((11, 18), (31, 40)), 2, 40),
        WatchSession("sign-sale", "Alert me if the sign changes to SALE.", fast_slt,
                     ((0, sign("OPEN")), (14, sign("SALE"))), ((14, 26),), 1, 26),
        WatchSession("cat-leaves", "Warn me when the cat goes away.", PIPER,
                     ((0, still("chelsea")), (15, still("rocket"))), ((15, 27),), 1, 27),
        WatchSession("someone-zh", "有人来了叫我。", Voice("zh-fast", "zh", rate=1.1),
                     ((0, still("coffee")), (12, still("astronaut"))), ((12, 24),), 1, 24, "zh"),
        # nothing asked for appears
        WatchSession("no-bird", "Tell me when a bird shows up.", kal16,
                     ((0, still("motorcycle_left")), (quiet / 3, still("astronaut")), (2 * quiet / 3, still("coffee"))),
                     (), 0, quiet),
        WatchSession("no-visitor", "Let me know if anyone comes in.", fast_slt,
                     ((0, still("chelsea")), (quiet / 2, still("rocket"))), (), 0, quiet),
        WatchSession("sign-never-closed", "Tell me when the sign says CLOSED.", slow_joe,
                     ((0, sign("OPEN")), (quiet / 2, sign("SALE"))), (), 0, quiet),
    ]


SETS = {"tuning": sessions, "unseen": unseen_sessions}


def view_at(session: WatchSession, t: float) -> Frame:
    current = session.views[0][1]
    for start, frame in session.views:
        if t >= start:
            current = frame
    return current(t)


def make(folder: Path, session: WatchSession, speakers: Speakers) -> None:
    clip = speakers.speak(session.request, session.voice)
    track = np.zeros(round(session.seconds * SAMPLE_RATE), np.float32)
    start = round(LEAD_S * SAMPLE_RATE)
    track[start : start + len(clip)] = clip
    write_media(folder, track, lambda t: view_at(session, t), session.seconds)
    manifest = {
        "name": session.name, "video": "video.mp4", "audio": "audio.wav", "language": session.language,
        "seconds": session.seconds,
        "questions": [{"text": session.request, "start": LEAD_S, "end": round(LEAD_S + len(clip) / SAMPLE_RATE, 3)}],
        "watch": {"shown": [list(s) for s in session.shown], "alerts": session.alerts},
    }
    (folder / "session.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("out", type=Path)
    p.add_argument("--only", default="", help="only these sessions (comma-separated names)")
    p.add_argument("--minutes", type=float, default=1.0, help="length of the sessions where nothing appears")
    p.add_argument("--set", choices=sorted(SETS), default="tuning",
                   help="tuning: the sessions the tests replay; unseen: others, for benchmarks/watch.py --set unseen")
    args = p.parse_args()
    speakers = Speakers()
    try:
        for session in SETS[args.set](args.minutes):
            if args.only and session.name not in args.only.split(","):
                continue
            make(args.out / session.name, session, speakers)
            print(args.out / session.name)
    finally:
        speakers.close()


if __name__ == "__main__":
    main()
