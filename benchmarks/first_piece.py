#!/usr/bin/env python3
"""The first spoken piece of a reply: when it is ready, how long Piper takes to say it, and how it ends.

Each reply (shaped like a real model's) is streamed as 4-character subword tokens at 40
tokens/s (each word's leading space on its first piece) through ``SentenceChunker`` with the
shipped settings (``dialogue.first_chunk_words``, ``dialogue.first_chunk_max_words``), by the
rule before phrase boundaries (``first_min_words=0``: cut after exactly ``first_max_words``
words) and by the current one. Readiness is counted in tokens (no sleeping): the token whose
arrival completes the first piece, and what that is in ms at 40 tokens/s after the first token.
Synthesis time is Piper's (voice joe, median of ``--runs`` after one warm-up).

For a first piece cut inside a sentence (no punctuation at its end), the end of its pitch
contour is compared for (a) the piece as written, (b) the piece with a comma added for
synthesis (would it keep the voice up, as a clause end does?) and (c) the whole sentence, at
the same words (found by aligning (a) against (c) with DTW on log spectra): F0 (autocorrelation
tracker) over the last 300 ms of speech, as the slope in semitones/s and the last 100 ms against
the utterance's median F0, in semitones (a sentence end falls several semitones; a phrase that
goes on stays near the median); and the silence Piper leaves after the speech. Piper samples its
durations and noise, so each figure is the median [interquartile range] of ``--f0-runs``
syntheses. ``--more`` adds more pieces the phrase rule cuts to the comparison.

    .venv/bin/python benchmarks/first_piece.py [--runs 5] [--tokens-per-s 40]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialogue.chunker import SentenceChunker  # noqa: E402
from dialogue.settings import DialogueSettings  # noqa: E402
from omnilive.testing import subword_tokens  # noqa: E402
from speech.tts import PiperTts  # noqa: E402

REPLIES = (
    "The camera shows a red board with a white panel in the middle that says OPEN in large black letters, "
    "so the shop is probably open right now.",
    "I can see a wooden desk with a blue mug standing next to a sheet of white paper and a yellow pencil "
    "that is slowly sliding across it.",
    "Well, it looks like a green ball is rolling from the left side of the frame towards the right in a "
    "fairly dark room.",
    "There are three things on the table: a blue mug, a sheet of paper, and a yellow pencil lying on top of the paper.",
    "Yes, I can read the sign for you. It says 'OPEN'.",
    "A cup, a blue object, and a white rectangle moving left to right.",
)
MORE = (  # --more: first sentences whose first piece the phrase rule cuts
    "The green ball is moving left to right in a dark scene.",
    "The sign is red and white in the picture.",
    "I see a cup and a pen on the desk.",
    "A person is standing near the door with a bag.",
    "The room looks quite dark from here.",
    "The ball is rolling towards the edge of the table.",
    "It looks like a small box on the floor.",
    "The picture shows a street at night.",
)
HOP_S = 0.010  # F0 and energy frames
WINDOW_S = 0.040
END_S = 0.300  # the end of a piece whose contour is compared
LAST_S = 0.100  # its final F0


def with_comma(piece: str) -> str:
    """``piece`` with a comma for synthesis, where it ends with no punctuation."""
    return piece if piece[-1] in ",;:—.!?…'\"" else piece + ","




@dataclass
class First:
    piece: str
    tokens: int  # the token whose arrival completes it (1-based)
    words_streamed: int  # words begun by then (the last is often a word's first token)


def first_piece(reply: str, *, phrase: bool) -> First:
    s = DialogueSettings()
    chunker = SentenceChunker(
        first_clause_words=s.first_chunk_words, first_max_words=s.first_chunk_max_words,
        **({} if phrase else {"first_min_words": 0}),
    )
    streamed = ""
    for n, token in enumerate(subword_tokens(reply), 1):
        streamed += token
        pieces = chunker.feed(token)
        if pieces:
            return First(pieces[0], n, len(streamed.split()))
    pieces = chunker.flush()
    return First(pieces[0], len(subword_tokens(reply)), len(reply.split()))


def frames(pcm: npt.NDArray[np.int16], rate: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per 10 ms frame: F0 in Hz (nan where unvoiced) and energy in dB."""
    x = pcm.astype(np.float64) / 32768
    hop, win = int(HOP_S * rate), int(WINDOW_S * rate)
    lo, hi = int(rate / 400), int(rate / 60)  # lags for 400..60 Hz
    n = max(0, (len(x) - win) // hop + 1)
    f0 = np.full(n, np.nan)
    db = np.full(n, -120.0)
    taper = np.hanning(win)
    norm = np.correlate(taper * taper, taper * taper, "full")[win - 1 :]  # the window's own autocorrelation
    for i in range(n):
        frame = x[i * hop : i * hop + win]
        frame = (frame - frame.mean()) * taper
        energy = float(np.dot(frame, frame))
        db[i] = 10 * np.log10(energy / win + 1e-12)
        if energy < 1e-6:
            continue
        spec = np.fft.rfft(frame, 2 * win)
        ac = np.fft.irfft(spec * np.conj(spec))[: hi + 2] / norm[: hi + 2]
        ac /= ac[0]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] < 0.5:
            continue
        a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
        shift = float(np.clip(0.5 * (a - c) / (a - 2 * b + c), -1, 1)) if a - 2 * b + c else 0.0
        f0[i] = rate / (lag + shift)
    loud = db > db.max() - 35
    f0[~loud] = np.nan
    # Octave jumps: a frame more than 7 semitones off its neighbours' median is dropped.
    st = 12 * np.log2(f0 / 100)
    for i in range(n):
        near = st[max(0, i - 5) : i + 6]
        near = near[~np.isnan(near)]
        if len(near) >= 3 and abs(st[i] - np.median(near)) > 7:
            f0[i] = np.nan
    return f0, db


def speech_bounds(db: npt.NDArray[np.float64]) -> tuple[int, int]:
    """First and one-past-last frame of speech: louder than 40 dB under the loudest frame."""
    loud = np.flatnonzero(db > db.max() - 40)
    return int(loud[0]), int(loud[-1]) + 1


def spectra(pcm: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.float64]:
    """Log spectra in 24 bands per 10 ms frame, each band mean-normalised (for the alignment)."""
    x = pcm.astype(np.float64) / 32768
    hop, win = int(HOP_S * rate), int(0.025 * rate)
    n = max(1, (len(x) - win) // hop + 1)
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    mag = np.abs(np.fft.rfft(x[idx] * np.hanning(win), axis=1))[:, : win // 2]
    edges = np.geomspace(3, mag.shape[1], 25).astype(int)
    bands = np.log(np.stack([mag[:, a:b].sum(axis=1) for a, b in itertools.pairwise(edges)], 1) + 1e-6)
    return np.asarray(bands - bands.mean(axis=0))


def aligned_end(piece: npt.NDArray[np.float64], whole: npt.NDArray[np.float64]) -> int:
    """The frame of ``whole`` where ``piece`` (its start aligned with ``whole``'s) ends: open-end DTW."""
    whole = whole[: 2 * len(piece) + 50]
    cost = np.sqrt(((piece[:, None, :] - whole[None, :, :]) ** 2).sum(axis=2))
    acc = np.full((len(piece) + 1, len(whole) + 1), np.inf)
    acc[0, 0] = 0
    for i in range(1, len(piece) + 1):
        row, prev = acc[i], acc[i - 1]
        diag = np.minimum(prev[:-1], prev[1:])  # (i-1, j-1) or (i-1, j)
        for j in range(1, len(whole) + 1):
            row[j] = cost[i - 1, j - 1] + min(diag[j - 1], row[j - 1])
    steps = len(piece) + np.arange(len(whole) + 1)
    return int(np.argmin(acc[-1] / steps))


@dataclass
class Contour:
    slope: float  # semitones per second over the last END_S of speech
    end: float  # median F0 of the last LAST_S against the median F0 of the whole, in semitones
    silence_ms: float  # after the speech, to the end of the audio


def contour(f0: npt.NDArray[np.float64], end: int, stop: int) -> Contour:
    """The F0 contour ending at frame ``end``; ``stop`` is the last frame of audio."""
    st = 12 * np.log2(f0[:end] / 100)
    median = float(np.nanmedian(st))
    span = int(END_S / HOP_S)
    tail = st[end - span : end]
    t = np.arange(len(tail)) * HOP_S
    ok = ~np.isnan(tail)
    slope = float(np.polyfit(t[ok], tail[ok], 1)[0]) if ok.sum() >= 5 else float("nan")
    last = tail[-int(LAST_S / HOP_S) :]
    last = last[~np.isnan(last)]
    if not len(last):  # an unvoiced last consonant: the last voiced frames
        voiced = tail[~np.isnan(tail)]
        last = voiced[-5:]
    final = float(np.median(last)) - median if len(last) else float("nan")
    return Contour(slope, final, (stop - end) * HOP_S * 1000)


def synth_ms(tts: PiperTts, texts: list[str], runs: int) -> dict[str, str]:
    """Median (and least) synthesis time of each text, taken in turn (the machine's load falls on all alike)."""
    times: dict[str, list[float]] = {text: [] for text in texts}
    for _ in range(runs):
        for text in times:
            started = time.perf_counter()
            tts.synthesize(text)
            times[text].append((time.perf_counter() - started) * 1000)
    return {text: f"{statistics.median(t):.0f} ms (min {min(t):.0f})" for text, t in times.items()}


def compare(tts: PiperTts, piece: str, sentence: str, runs: int) -> dict[str, list[Contour]]:
    """Contour ends, one a run, of (a) the piece, (b) the piece and a comma, (c) the sentence at the piece's end."""
    rate = tts.sample_rate
    found: dict[str, list[Contour]] = {"a plain": [], "b comma": [], "c sentence": []}
    for _ in range(runs):
        reference = None
        for name, text in (("a plain", piece), ("b comma", with_comma(piece))):
            pcm = tts.synthesize(text)
            f0, db = frames(pcm, rate)
            start, end = speech_bounds(db)
            found[name].append(contour(f0, end, len(db)))
            if reference is None:
                reference = spectra(pcm[int(start * HOP_S * rate) : int(end * HOP_S * rate)], rate), start
        assert reference is not None
        pcm = tts.synthesize(sentence)
        f0, db = frames(pcm, rate)
        start, _ = speech_bounds(db)
        end = start + aligned_end(reference[0], spectra(pcm[int(start * HOP_S * rate) :], rate))
        whole = contour(f0, end, end)  # no silence inside the sentence at this point: none counted
        whole.silence_ms = float("nan")
        found["c sentence"].append(whole)
    return found


def spread(values: list[float], unit: str, sign: str = "+") -> str:
    """Median and interquartile range."""
    v = np.asarray(values)
    v = v[~np.isnan(v)]
    if not len(v):
        return "-"
    q1, q2, q3 = np.percentile(v, [25, 50, 75])
    return f"{q2:{sign}6.1f} {unit} [{q1:{sign}.1f}, {q3:{sign}.1f}]"


def show(name: str, contours: list[Contour]) -> None:
    silence = "" if name.startswith("c") else ", then silence " + spread([c.silence_ms for c in contours], "ms", "")
    print(f"      F0 end {name:12}: slope {spread([c.slope for c in contours], 'st/s')}, "
          f"last 100 ms {spread([c.end for c in contours], 'st')}{silence}")


def difference(found: dict[str, list[Contour]]) -> tuple[float, float, float]:
    """Medians of (b) less those of (a): last 100 ms, slope, silence after."""

    def median(name: str, field: str) -> float:
        return float(np.nanmedian([getattr(c, field) for c in found[name]]))

    end, slope, silence = (median("b comma", f) - median("a plain", f) for f in ("end", "slope", "silence_ms"))
    return end, slope, silence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="syntheses timed per piece")
    parser.add_argument("--f0-runs", type=int, default=10, help="syntheses per variant for the pitch contour")
    parser.add_argument("--tokens-per-s", type=float, default=40.0)
    parser.add_argument("--more", action="store_true", help="more cut pieces in the pitch comparison")
    args = parser.parse_args()
    ms_per_token = 1000 / args.tokens_per_s
    s = DialogueSettings()
    print(f"first_chunk_words={s.first_chunk_words} first_chunk_max_words={s.first_chunk_max_words}, "
          f"{args.tokens_per_s:g} tokens/s of 4-character tokens; Piper voice joe: synthesis median of {args.runs}, "
          f"F0 median [IQR] of {args.f0_runs}")
    tts = PiperTts()
    tts.synthesize("Warming up.")
    ends: dict[str, list[Contour]] = {}
    paired: list[tuple[float, float, float]] = []  # per piece, medians of (b) - (a): end, slope, silence
    for reply in REPLIES:
        sentence = reply[: reply.find(". ") + 1] if ". " in reply else reply
        print(f"\n{reply}")
        old, new = first_piece(reply, phrase=False), first_piece(reply, phrase=True)
        took = synth_ms(tts, list(dict.fromkeys([old.piece, new.piece, with_comma(new.piece)])), args.runs)
        for label, f in (("old", old), ("new", new)):
            said = with_comma(f.piece)
            extra = f"; as {said!r}: {took[said]}" if said in took and said != f.piece else ""
            print(f"  {label}: {f.piece!r:40} {len(f.piece.split())} words, ready at token {f.tokens:2} "
                  f"({f.words_streamed} words begun), {(f.tokens - 1) * ms_per_token:3.0f} ms after the first token; "
                  f"Piper {took[f.piece]}{extra}")
        if with_comma(new.piece) != new.piece:
            found = compare(tts, new.piece, sentence, args.f0_runs)
            paired.append(difference(found))
            for name, cs in found.items():
                ends.setdefault(name, []).extend(cs)
                show(name, cs)
    if args.more:
        print()
        for sentence in MORE:
            piece = first_piece(sentence, phrase=True).piece
            found = compare(tts, piece, sentence, args.f0_runs)
            paired.append(difference(found))
            print(f"  {piece!r:32} last 100 ms: a plain {np.nanmedian([c.end for c in found['a plain']]):+5.1f} st, "
                  f"b comma {np.nanmedian([c.end for c in found['b comma']]):+5.1f} st, "
                  f"c sentence {np.nanmedian([c.end for c in found['c sentence']]):+5.1f} st")
            for name, cs in found.items():
                ends.setdefault(name, []).extend(cs)
    print(f"\nAll {len(paired)} cut first pieces together:")
    for name, cs in ends.items():
        show(name, cs)
    end, slope, silence = (np.asarray(v) for v in zip(*paired, strict=True))
    print(f"  comma - plain, per piece: last 100 ms {np.median(end):+.1f} st (higher for {(end > 0).sum()} of "
          f"{len(end)}), slope {np.median(slope):+.1f} st/s (flatter for {(slope > 0).sum()}), "
          f"silence after {np.median(silence):+.0f} ms")



if __name__ == "__main__":
    main()
