"""The reply asked for before the end of the turn is confirmed (``dialogue.speculative``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from dialogue.prompt import ReplyRequest
from perception.look import question_key

if TYPE_CHECKING:
    from .turns import TurnRunner


class Speculation:
    """A reply asked for on an early transcript (the decode at a pause), before the end of the turn
    is confirmed. Its tokens wait in a queue; nothing is spoken until the turn is confirmed
    with the same words (:meth:`TurnManager.run` then hands it to the turn), else it is
    cancelled: a wasted request, counted, since on a paid API it costs money."""

    def __init__(self, runner: TurnRunner, utterance: int, question: str) -> None:
        self.utterance = utterance
        self.question = question
        self.key = question_key(question)
        self.first_token_ms: float | None = None  # from the request to the first token
        self._runner = runner
        self._queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        self._request: asyncio.Future[tuple[ReplyRequest, float | None]] = asyncio.get_running_loop().create_future()
        # The reply's first piece and its audio, synthesized as soon as the piece is known: when the
        # turn is confirmed with these words, the first audio is ready instead of started.
        self._first: tuple[str, asyncio.Task[Any]] | None = None
        self.task = asyncio.create_task(self._ask(), name=f"speculation-{utterance}")

    async def _ask(self) -> None:
        try:
            prepared = await self._runner.prepare(self.question, getattr(self.question, "language", None))
            self._request.set_result(prepared)
            if self._runner.answers_itself(prepared[0]):
                self._queue.put_nowait(None)  # the scene answers it: the turn will not ask the LLM
                return
            started = time.perf_counter()
            chunker = self._runner.chunker()  # the turn's own, so its first piece is this one
            async for token in self._runner.llm.stream(prepared[0]):
                if self.first_token_ms is None:
                    self.first_token_ms = (time.perf_counter() - started) * 1000
                self._queue.put_nowait(token)
                if self._first is None:
                    self._synthesize_first(chunker.feed(token))
            if self._first is None:
                self._synthesize_first(chunker.flush())
        except asyncio.CancelledError:
            if not self._request.done():
                self._request.cancel()
            raise
        except Exception as exc:  # handed to the turn that adopts it, which reports it
            if not self._request.done():
                self._request.set_exception(exc)
            self._queue.put_nowait(exc)
        self._queue.put_nowait(None)

    def _synthesize_first(self, pieces: list[str]) -> None:
        if pieces:
            self._first = (pieces[0], self._runner.synthesize(pieces[0]))

    def synthesized(self, piece: str) -> asyncio.Task[Any] | None:
        """The audio of the reply's first piece when it is ``piece``, once (started or done); else None."""
        first, self._first = self._first, None
        if first is not None and first[0] == piece:
            return first[1]
        if first is not None:
            first[1].cancel()
        return None

    async def prepared(self) -> tuple[ReplyRequest, float | None]:
        return await self._request

    async def tokens(self) -> AsyncIterator[str]:
        try:
            while (item := await self._queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop_asking()  # the first piece's audio stays: the turn's speaker may not have reached it

    def cancel(self) -> None:
        """Drops it all, the first piece's synthesis too, so a local LLM is not kept paused for it."""
        self._stop_asking()
        if self._first is not None:
            self._first[1].cancel()
            self._first = None

    def _stop_asking(self) -> None:
        self.task.cancel()
        self._request.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody may await it now
