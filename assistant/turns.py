"""A reply is a turn: LLM stream → sentence chunker → TTS → sink.

A question the scene's details settle (:mod:`perception.answers`), or a watch request, skips
the LLM: its answer goes straight to the chunker. A noun misheard one letter from a thing in
view is taken for that thing first (:func:`perception.answers.heard_as_seen`).

The LLM and TTS run as two tasks joined by a small channel, so the next sentence is
being generated while the first is synthesized. Cancelling the turn (barge-in, shutdown)
cancels both, closes the sink's turn and still records what was said, marked
``interrupted``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from dialogue.backends import ChatBackend, Prefills
from dialogue.chunker import SentenceChunker
from dialogue.prompt import (
    DEFAULT_HISTORY_TOKENS,
    DEFAULT_OBSERVATIONS,
    DEFAULT_STALE_AFTER_S,
    DEFAULT_SYSTEM_PROMPT,
    Conversation,
    Exchange,
    ReplyRequest,
    build_request,
    system_message,
)
from kernel.channels import Channel
from kernel.errors import AssistantError
from kernel.eventlog import EventBus
from kernel.events import (
    ErrorOccurred,
    ReplyAudioEnded,
    ReplyAudioStarted,
    ReplyChunk,
    ReplyRequested,
    ReplyStarted,
    ReplyText,
    Stage,
)
from perception.memory import SceneMemory
from speech.sinks import ReplySink
from speech.tts import Tts

from .graph import PIECES
from .speculation import Speculation
from .timing import TurnTimer

if TYPE_CHECKING:
    from perception.grounding import Grounded


class WatchRequests(Protocol):
    """Standing watches (:class:`assistant.watching.Watching`): a request is answered by them, not the LLM."""

    def understands(self, question: str) -> bool: ...

    def answer(self, question: str) -> str: ...

log = logging.getLogger(__name__)

FALLBACK_REPLY = "Sorry, I could not get an answer just now."


class TurnRunner:
    def __init__(
        self,
        *,
        bus: EventBus,
        llm: ChatBackend,
        tts: Tts,
        sink: ReplySink,
        memory: SceneMemory,
        conversation: Conversation,
        timer: TurnTimer,
        system_prompt: str | None = None,
        history_tokens: int = DEFAULT_HISTORY_TOKENS,
        observations: int = DEFAULT_OBSERVATIONS,
        first_chunk_words: int = 4,
        first_max_words: int = 0,
        look: Callable[[str], Awaitable[bool]] | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        multilingual: bool = False,
        grounded: bool = True,
    ) -> None:
        self.bus = bus
        self.llm = llm
        self.tts = tts
        self.sink = sink
        self.memory = memory
        self.conversation = conversation
        self.timer = timer
        self.system_prompt = system_prompt or DEFAULT_SYSTEM_PROMPT
        self.history_tokens = history_tokens
        self.observations = observations
        self.first_chunk_words = first_chunk_words
        self.first_max_words = first_max_words
        self.look = look
        self.stale_after_s = stale_after_s
        self.multilingual = multilingual  # the session is not English-only: replies follow the question's language
        self.grounded = grounded  # questions the describer's details settle are answered from them (perception.answers)
        self.watching: WatchRequests | None = None  # set by the pipeline: "tell me when you see a cat"
        self.volume = 1.0  # gain on the synthesized audio (the kiosk's ``set_volume``)
        # One synthesis at a time, on its own thread. A cancelled turn cannot stop the synthesis
        # already running in a thread; its next pieces are never started, and a new turn's wait
        # behind it. Memory stays at one piece (at most ``max_chars``) however many turns are
        # cancelled: unbounded, 35 cancelled ``say`` commands took Piper from 0.5 to 3 GB.
        self._synth = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")

    async def run(
        self, turn: int, utterance: int, question: str, speculation: Speculation | None = None,
        language: str | None = None,
    ) -> None:
        """Answers ``question`` (heard in ``language``, when known); with ``speculation`` (asked on
        the same words before the turn was confirmed), its request and the tokens it has already
        received are used."""
        self.timer.begin(turn, utterance)
        if speculation is not None:
            request, look_ms = await speculation.prepared()
        else:
            request, look_ms = await self.prepare(question, language)
        if look_ms is not None:
            self.timer.add_compute(turn, "look_ms", look_ms)
        said: list[str] = []
        if self.watching is not None and self.watching.understands(question):
            from perception.grounding import Grounded

            found: Grounded | None = Grounded(self.watching.answer(question), "watch")
        else:
            found = self.grounded_answer(request)
        if found is not None:
            if speculation is not None:
                speculation.cancel()
            await self._deliver(turn, utterance, question, said,
                                lambda pieces: self._say_grounded(turn, utterance, found, pieces, said),
                                camera=request.camera)
            return
        await self._deliver(
            turn, utterance, question, said,
            lambda pieces: self._generate(turn, utterance, request, pieces, said, speculation),
            camera=request.camera, speculation=speculation,
        )

    async def prepare(self, question: str, language: str | None = None) -> tuple[ReplyRequest, float | None]:
        """The question-aware look (when the question is about what is visible), then the request;
        returns it and the look's time in ms (None when no fresh description was added)."""
        look_ms = None
        if self.look is not None:
            started = time.perf_counter()
            if await self.look(question):
                look_ms = (time.perf_counter() - started) * 1000
        request = self._request(question, language)
        if self.grounded and request.scene is not None and not request.scene_stale:
            from perception.answers import heard_as_seen  # the basic describer's stack, loaded only when asked

            heard = heard_as_seen(getattr(request.scene, "details", None), question)
            if heard != question:  # "the cut" over a cup: the cup, which the answer then names
                log.info("turns: %r taken as %r (a thing in view)", question, heard)
                request = self._request(heard, language)
        return request, look_ms

    def _request(self, question: str, language: str | None) -> ReplyRequest:
        return build_request(
            question, self.conversation, self.memory.history(), self.bus.clock.now(), self.system_prompt,
            observations=self.observations, history_tokens=self.history_tokens,
            events=self.memory.events(), stale_after_s=self.stale_after_s,
            language=language if self.multilingual else None,
        )

    def grounded_answer(self, request: ReplyRequest) -> Grounded | None:
        """The answer the freshest description's details give to the request's question
        (:mod:`perception.answers`), or None: the LLM answers. Never from a stale view."""
        scene = request.scene
        if not self.grounded or scene is None or request.scene_stale:
            return None
        from perception.answers import grounded_answer  # the basic describer's stack, loaded only when asked

        return grounded_answer(getattr(scene, "details", None), request.question)

    def answers_itself(self, request: ReplyRequest) -> bool:
        """Whether the turn will answer ``request`` without the LLM: a watch request, or the scene's details."""
        if self.watching is not None and self.watching.understands(request.question):
            return True
        return self.grounded_answer(request) is not None

    def speculate(self, utterance: int, question: str) -> Speculation:
        """Asks the LLM now, on an early transcript, while the end of the turn is not yet confirmed."""
        return Speculation(self, utterance, question)

    async def warm(self) -> None:
        """Lets a local LLM evaluate the prompt up to the question while the user is still
        speaking (persona, history, the camera block as it is now): the request then adds
        only the question. Backends without ``prefill`` need nothing."""
        if not isinstance(self.llm, Prefills):
            return
        request = build_request(
            "", self.conversation, self.memory.history(), self.bus.clock.now(), self.system_prompt,
            observations=self.observations, history_tokens=self.history_tokens,
            events=self.memory.events(), stale_after_s=self.stale_after_s,
        )
        await self.llm.prefill(request.messages)

    async def warm_start(self) -> bool:
        """Lets a local LLM evaluate the fixed head of every prompt (the persona and the observation
        rule, up to where the first user message begins) before the session's first question, so
        that question pays only for what changes. True when the backend has ``prefill``."""
        if not isinstance(self.llm, Prefills):
            return False
        # As the first question will most likely find it: with a picture (a blind head differs at its end only).
        await self.llm.prefill([system_message(self.system_prompt, seeing=True), {"role": "user", "content": ""}])
        return True

    async def announce(self, turn: int, text: str) -> None:
        """Speaks ``text`` as turn ``turn`` without asking the LLM (an operator's ``say``, a greeting).
        It is not part of the conversation the LLM sees."""

        async def script(pieces: Channel[str]) -> None:
            chunker = self.chunker()
            try:
                for piece in [*chunker.feed(text), *chunker.flush()]:
                    await pieces.put(piece)
            finally:
                pieces.close()

        await self._deliver(turn, -1, "", [text], script)

    async def _deliver(
        self,
        turn: int,
        utterance: int,
        question: str,
        said: list[str],
        produce: Callable[[Channel[str]], Coroutine[Any, Any, None]],
        *,
        camera: str = "",
        speculation: Speculation | None = None,
    ) -> None:
        """Pieces of text from ``produce`` → TTS → the sink; then the record of the turn (with the
        camera block the question was asked with, kept in the conversation as it was sent)."""
        clock = self.bus.clock
        pieces = PIECES.open(name=f"turn-{turn}-pieces")
        interrupted = False
        try:
            async with asyncio.TaskGroup() as tg:
                # The sink opens (a WAV file: a few ms of disk) while the LLM is asked, not before.
                opened = tg.create_task(self.sink.open_turn(turn, self.tts.sample_rate), name=f"turn-{turn}-open")
                tg.create_task(produce(pieces), name=f"turn-{turn}-text")
                tg.create_task(self._speak(turn, pieces, opened, speculation), name=f"turn-{turn}-tts")
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            seconds, path = await self.sink.close_turn(interrupted=interrupted)
            now = clock.now()
            self.bus.publish(ReplyAudioEnded(t=now, turn=turn, duration_s=seconds, path=path))
            text = "".join(said).strip()
            self.bus.publish(
                ReplyText(t=now, turn=turn, utterance=utterance, text=text, question=question, interrupted=interrupted)
            )
            if question:
                self.conversation.add(
                    Exchange(user=question, assistant=text, interrupted=interrupted, camera=camera))
                metrics = self.timer.finish(turn, now)
                if metrics is not None:
                    self.bus.publish(metrics)

    async def _generate(
        self, turn: int, utterance: int, request: ReplyRequest, pieces: Channel[str], said: list[str],
        speculation: Speculation | None = None,
    ) -> None:
        chunker = self.chunker()
        started = time.perf_counter()
        first = True
        self.bus.publish(ReplyRequested(t=self.bus.clock.now(), turn=turn, utterance=utterance, backend=self.llm.name))
        tokens = speculation.tokens() if speculation is not None else self.llm.stream(request)
        try:
            async for token in tokens:
                if first:
                    first = False
                    compute_ms = speculation.first_token_ms if speculation is not None else None
                    if compute_ms is None:
                        compute_ms = (time.perf_counter() - started) * 1000
                    self.timer.add_compute(turn, "llm_first_token_ms", compute_ms)
                    self.bus.publish(
                        ReplyStarted(t=self.bus.clock.now(), turn=turn, utterance=utterance, backend=self.llm.name)
                    )
                said.append(token)
                for piece in chunker.feed(token):
                    await pieces.put(piece)
            for piece in chunker.flush():
                await pieces.put(piece)
        except AssistantError as exc:
            log.warning("turn %d: %s", turn, exc)
            self.bus.publish(
                ErrorOccurred(
                    t=self.bus.clock.now(),
                    stage=Stage.DIALOGUE.value,
                    code=exc.code,
                    message=str(exc),
                    retryable=exc.retryable,
                )
            )
            if not "".join(said).strip():
                said.append(FALLBACK_REPLY)
                await pieces.put(FALLBACK_REPLY)
        finally:
            pieces.close()

    async def _say_grounded(
        self, turn: int, utterance: int, found: Grounded, pieces: Channel[str], said: list[str],
    ) -> None:
        """Speaks an answer from the scene's details, in the pieces an LLM's reply would come in."""
        chunker = self.chunker()
        now = self.bus.clock.now()
        self.bus.publish(ReplyRequested(t=now, turn=turn, utterance=utterance, backend=f"scene:{found.intent}"))
        self.bus.publish(ReplyStarted(t=now, turn=turn, utterance=utterance, backend=f"scene:{found.intent}"))
        said.append(found.text)
        try:
            for piece in [*chunker.feed(found.text), *chunker.flush()]:
                await pieces.put(piece)
        finally:
            pieces.close()

    def chunker(self) -> SentenceChunker:
        """A reply's text cut into the pieces it is spoken in (the first one short)."""
        return SentenceChunker(first_clause_words=self.first_chunk_words, first_max_words=self.first_max_words)

    async def _synthesized(self, piece: str) -> Any:
        """The audio of ``piece``, made on the synthesis thread (a local LLM waits meanwhile)."""
        with self._llm_paused():
            return await asyncio.get_running_loop().run_in_executor(self._synth, self.tts.synthesize, piece)

    def synthesize(self, piece: str) -> asyncio.Task[Any]:
        """Starts :meth:`_synthesized` ahead of the turn (a speculation's first piece); a task nobody
        awaits any more keeps its error to itself."""
        task = asyncio.create_task(self._synthesized(piece), name="tts-piece")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    def _llm_paused(self) -> contextlib.AbstractContextManager[None]:
        paused = getattr(self.llm, "paused", None)
        return paused() if paused is not None else contextlib.nullcontext()

    async def _speak(
        self, turn: int, pieces: Channel[str], opened: asyncio.Task[None], speculation: Speculation | None = None,
    ) -> None:
        """Each piece → its audio → the sink; a piece a speculation already synthesized while the
        end of the turn was being decided is not synthesized again."""
        audio_started = False
        async for piece in pieces:
            self.bus.publish(ReplyChunk(t=self.bus.clock.now(), turn=turn, text=piece))
            started = time.perf_counter()
            try:
                ready = speculation.synthesized(piece) if speculation is not None else None
                pcm = await (ready if ready is not None else self._synthesized(piece))
            except Exception as exc:  # one piece the voice cannot say is an error, not the end of the turn
                log.warning("turn %d: cannot speak %r: %s", turn, piece[:60], exc)
                self.bus.publish(ErrorOccurred(
                    t=self.bus.clock.now(), stage=Stage.TTS.value, code="backend",
                    message=f"tts: cannot speak {piece[:60]!r}: {type(exc).__name__}: {exc}", retryable=False))
                continue
            self.timer.add_compute(turn, "tts_ms", (time.perf_counter() - started) * 1000)
            if not len(pcm):
                continue
            if self.volume != 1.0:
                pcm = (pcm * self.volume).astype(pcm.dtype)
            if not audio_started:
                await opened
                audio_started = True
                self.bus.publish(ReplyAudioStarted(t=self.bus.clock.now(), turn=turn))
            await self.sink.write(pcm)
