"""An early decode that Whisper left without an end ("what color is the") is decoded again on the
whole utterance with silence after it (speech.stages.run_asr); one that ends as a sentence is used
as it is, and a second decode with fewer words than the first is not taken."""

from __future__ import annotations

import numpy as np

from kernel.channels import Channel, Overflow
from kernel.clock import FakeClock
from kernel.eventlog import EventBus
from kernel.events import Transcribed
from speech.audio import SAMPLE_RATE, Audio
from speech.stages import REDECODE_SILENCE_S, EarlyTranscriber, FinalTranscript, Utterance, finished_sentence, run_asr


class ByTail:
    """Hears ``cut`` in a clip that ends in sound, ``whole`` in one followed by silence."""

    def __init__(self, cut: str, whole: str) -> None:
        self.cut, self.whole = cut, whole
        self.heard: list[int] = []

    def transcribe(self, audio: Audio) -> str:
        self.heard.append(len(audio))
        tail = audio[-round(REDECODE_SILENCE_S * SAMPLE_RATE):]
        return self.whole if not np.any(tail) else self.cut


async def final(asr: ByTail) -> tuple[str, list[Transcribed]]:
    voice = np.full(SAMPLE_RATE, 0.1, dtype=np.float32)
    early = EarlyTranscriber(asr)
    early.pause(1, 1.0, voice[: SAMPLE_RATE // 2])
    utterances: Channel[Utterance] = Channel("utterances", 2, Overflow.BLOCK)
    transcripts: Channel[FinalTranscript] = Channel("transcripts", 2, Overflow.BLOCK)
    utterances.put_nowait(Utterance(1, 0.0, 1.0, voice))
    utterances.close()
    bus = EventBus(FakeClock())
    published: list[Transcribed] = []
    bus.subscribe(lambda e: published.append(e) if isinstance(e, Transcribed) else None)
    await run_asr(utterances, transcripts, asr, bus, early=early)
    got = [t async for t in transcripts]
    assert len(got) == 1
    return got[0].text, published


async def test_a_decode_with_no_end_is_decoded_again_with_silence_after() -> None:
    asr = ByTail("what color is the", "What color is the ball?")
    text, published = await final(asr)
    assert text == "What color is the ball?" and published[0].early
    assert asr.heard == [SAMPLE_RATE // 2, SAMPLE_RATE + round(REDECODE_SILENCE_S * SAMPLE_RATE)]


async def test_a_finished_sentence_is_used_as_it_is_and_fewer_words_are_not_taken() -> None:
    finished = ByTail("What color is the ball?", "What?")
    assert (await final(finished))[0] == "What color is the ball?" and len(finished.heard) == 1
    shorter = ByTail("do you see a dog", "do you see")
    assert (await final(shorter))[0] == "do you see a dog" and len(shorter.heard) == 2


def test_what_counts_as_an_end() -> None:
    for closed in ("What is it?", "Tell me.", "有几只猫？", "有几只猫?", "好。", "Stop!", '"Go."', ""):
        assert finished_sentence(closed), closed
    for cut in ("what color is the", "有几只摸", "Is there a person", "Wait,"):
        assert not finished_sentence(cut), cut
