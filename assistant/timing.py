"""When each step of a turn happened: the latency the report and the metrics show."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel.events import (
    Event,
    ReplyAudioStarted,
    ReplyChunk,
    ReplyRequested,
    ReplyStarted,
    SpeechEnded,
    Transcribed,
    TurnMetrics,
)


@dataclass(slots=True)
class _TurnTimes:
    utterance: int
    request: float | None = None
    first_token: float | None = None
    first_chunk: float | None = None
    first_audio: float | None = None
    compute: dict[str, float] = field(default_factory=dict)


KEEP_UTTERANCES = 16


class TurnTimer:
    """Reads the event log and works out each turn's latencies from the end of speech."""

    def __init__(self) -> None:
        self._speech_end: dict[int, tuple[float, float]] = {}  # utterance -> (end_at, detected t)
        self._final: dict[int, tuple[float, float, float | None]] = {}  # utterance -> (t, compute ms, decode ms)
        self._turns: dict[int, _TurnTimes] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, SpeechEnded):
            self._speech_end[event.utterance] = (event.speech_end_at, event.t)
            self._forget_before(event.utterance - KEEP_UTTERANCES)
        elif isinstance(event, Transcribed) and event.final:
            self._final[event.utterance] = (event.t, event.compute_ms, event.decode_ms)
        elif isinstance(event, ReplyRequested) and event.turn in self._turns:
            self._turns[event.turn].request = event.t
        elif isinstance(event, ReplyStarted):
            self._turns.setdefault(event.turn, _TurnTimes(event.utterance)).first_token = event.t
        elif isinstance(event, ReplyChunk) and event.turn in self._turns:
            times = self._turns[event.turn]
            times.first_chunk = times.first_chunk if times.first_chunk is not None else event.t
        elif isinstance(event, ReplyAudioStarted) and event.turn in self._turns:
            self._turns[event.turn].first_audio = event.t

    def _forget_before(self, utterance: int) -> None:
        """Utterances that never became a finished turn (no words, echo, a turn cancelled early)
        leave entries behind; only the last few are kept, so memory stays flat."""
        for table in (self._speech_end, self._final):
            for key in [k for k in table if k < utterance]:
                del table[key]
        for turn in [t for t, times in self._turns.items() if times.utterance < utterance]:
            del self._turns[turn]

    def begin(self, turn: int, utterance: int) -> None:
        self._turns[turn] = _TurnTimes(utterance)

    def add_compute(self, turn: int, key: str, ms: float) -> None:
        times = self._turns.get(turn)
        if times is None:
            return  # an announcement (``say``, a greeting) is not a timed turn
        times.compute[key] = times.compute.get(key, 0.0) + ms

    def finish(self, turn: int, t: float) -> TurnMetrics | None:
        times = self._turns.pop(turn, None)
        if times is None or times.utterance not in self._speech_end:
            return None
        end_at, detected = self._speech_end.pop(times.utterance)
        final_t, asr_ms, decode_ms = self._final.pop(times.utterance, (detected, 0.0, None))
        decoded = {} if decode_ms is None else {"asr_decode_ms": round(decode_ms, 1)}

        def since_end(x: float | None) -> float | None:
            return None if x is None else round((x - end_at) * 1000, 1)

        return TurnMetrics(
            t=t,
            turn=turn,
            utterance=times.utterance,
            speech_end_at=end_at,
            vad_end_ms=round((detected - end_at) * 1000, 1),
            asr_final_ms=round((final_t - end_at) * 1000, 1),
            llm_request_ms=since_end(times.request),
            first_token_ms=since_end(times.first_token),
            first_chunk_ms=since_end(times.first_chunk),
            first_audio_ms=since_end(times.first_audio),
            compute={"asr_ms": round(asr_ms, 1), **decoded, **{k: round(v, 1) for k, v in times.compute.items()}},
        )
