"""A local LLM in process: llama.cpp through llama-cpp-python, streamed, cancellable.

- One ``Llama`` object is loaded once and reused, so llama.cpp keeps the evaluated prompt
  in its KV cache; the next prompt re-evaluates only what follows the longest common prefix.
  :mod:`dialogue.prompt` puts the stable part (persona, rules) first, byte-identical
  every turn, so that part is never evaluated twice.
- Generation runs in a worker thread; tokens reach the event loop through a queue. The
  model's own chat template (from the GGUF) formats the messages.
- Cancelling the consumer (barge-in, a new question) stops generation at the next token,
  and an evaluation of the prompt already under way is aborted through llama.cpp's abort
  callback, so the CPU is free for the next turn at once.
- Calls are serialised: one ``Llama`` context serves one generation at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.errors import ConfigError, ModelError

from .prompt import ReplyRequest
from .shipped import SHIPPED, check_gguf, verified

if TYPE_CHECKING:
    from .settings import DialogueSettings

log = logging.getLogger(__name__)


def resolve_model(name_or_path: str) -> Path:
    """A shipped model's name (checked against its sha256) or a path to a GGUF file."""
    if name_or_path in SHIPPED:
        return verified(SHIPPED[name_or_path])
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"dialogue.local.model: '{name_or_path}': no such file (shipped names: {', '.join(SHIPPED)})"
        )
    check_gguf(path)
    return path


_END = object()


class LocalLlm:
    name = "local"

    @classmethod
    def from_settings(cls, settings: DialogueSettings) -> LocalLlm:
        loc = settings.local
        return cls(loc.model, threads=loc.threads, context=loc.context, batch=loc.batch,
                   max_tokens=loc.max_tokens, temperature=loc.temperature, seed=loc.seed)

    def __init__(
        self,
        model: str,
        *,
        threads: int = 2,
        context: int = 2048,
        batch: int = 256,
        max_tokens: int = 160,
        temperature: float = 0.3,
        seed: int | None = 0,
    ) -> None:
        path = resolve_model(model)
        try:
            import llama_cpp
        except ImportError as exc:
            raise ConfigError(
                "dialogue.backend: 'local' needs llama-cpp-python (`make demo` builds it; "
                "or pip install llama-cpp-python)"
            ) from exc
        self.path = path
        self.max_tokens = max_tokens
        self.temperature = temperature
        # llama-cpp-python otherwise draws each call's seed from the previous call's, so an answer would
        # depend on how many requests (speculative ones included) came before it.
        self.seed = seed
        started = time.perf_counter()
        try:
            self._llm: Any = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=batch,
                seed=seed if seed is not None else llama_cpp.LLAMA_DEFAULT_SEED,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"dialogue.local.model: cannot load '{path}' (truncated or corrupt?): {exc}") from exc
        self.load_s = time.perf_counter() - started
        self._abort_flag = ctypes.create_string_buffer(2)  # first byte set: abort the evaluation
        self._flag_lock = threading.Lock()
        self._active: threading.Event | None = None  # the stop event of the generation running now
        self._install_abort(llama_cpp)
        # One worker thread: generations never overlap, and a cancelled one finishes (aborted)
        # before the next starts.
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-llm")
        self.busy = threading.Event()  # set while a generation runs in the worker
        self._formatter: Any = None  # the GGUF's chat template, for prefill
        self._last: asyncio.Future[None] | None = None
        self.prompt_tokens = 0  # of the last request
        self.cached_tokens = 0  # of those, how many were reused from the previous request
        self.chunks = 0  # pieces of text the last generation produced
        self._resume = threading.Event()  # cleared while speech is being synthesised: see ``paused``
        self._resume.set()
        self._pauses = 0
        self.waited_s = 0.0  # time the last generation spent waiting in ``paused``
        self.holding = threading.Event()  # set while the worker waits in ``paused``
        log.info("local LLM %s loaded in %.2f s", path.name, self.load_s)

    def _install_abort(self, llama_cpp: Any) -> None:
        """Lets a cancelled turn stop llama.cpp in the middle of evaluating a prompt.

        llama.cpp asks its abort callback between graph nodes, hundreds of times a token, from
        its own threads. A Python callback would take the GIL each time, and with the event loop
        busy that made a first token 2-3 times slower; so the callback is C's ``strlen`` on a
        two-byte flag: it returns 1 (abort) once the flag's first byte is set, 0 otherwise,
        with no Python and no GIL involved.
        """
        setter = getattr(llama_cpp, "llama_set_abort_callback", None)
        callback_type = getattr(llama_cpp, "ggml_abort_callback", None)
        ctx = getattr(getattr(self._llm, "_ctx", None), "ctx", None)
        if setter is None or callback_type is None or ctx is None:
            log.debug("llama-cpp-python has no abort callback; a cancelled prompt evaluation runs to its end")
            return
        self._abort_cb = ctypes.cast(ctypes.CDLL(None).strlen, callback_type)  # kept alive on self
        setter(ctx, self._abort_cb, ctypes.cast(self._abort_flag, ctypes.c_void_p))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Generation waits at its next token until the block ends.

        The reply's speech is synthesised (Piper) while the LLM writes the rest of the reply.
        On two cores the two slow each other down about threefold: Piper took 220 ms for
        five words next to a decoding LLM, 70 ms alone. Speech first: whoever is waiting for
        the audio gets it sooner, and generation loses only the synthesis time, which the
        audio already playing covers."""
        with self._flag_lock:
            self._pauses += 1
            self._resume.clear()
        try:
            yield
        finally:
            with self._flag_lock:
                self._pauses -= 1
                if not self._pauses:
                    self._resume.set()

    def _raise_flag(self, stop: threading.Event) -> None:
        """Aborts llama.cpp's current evaluation if it belongs to the generation ``stop`` stops."""
        stop.set()
        with self._flag_lock:
            if self._active is stop:
                self._abort_flag[0] = b"\x01"

    def _generate(self, messages: list[dict[str, str]], emit: Any, stop: threading.Event) -> None:
        with self._flag_lock:
            if stop.is_set():
                return  # cancelled before it started
            self._active = stop
            self._abort_flag[0] = b"\x00"
        self.busy.set()
        try:
            self._run(messages, emit, stop)
        finally:
            with self._flag_lock:
                self._active = None
                self._abort_flag[0] = b"\x00"
            self.busy.clear()

    def _run(self, messages: list[dict[str, str]], emit: Any, stop: threading.Event) -> None:
        log.debug("local LLM prompt: %s", messages)
        before = list(self._llm._input_ids) if hasattr(self._llm, "_input_ids") else []
        stream = self._llm.create_chat_completion(
            messages=messages,
            stream=True,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            seed=self.seed,
        )
        first = True
        self.chunks = 0
        self.waited_s = 0.0
        try:
            for chunk in stream:
                if first:
                    first = False
                    self._account(before)
                if stop.is_set():
                    break
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    self.chunks += 1
                    emit(text)
                if not self._resume.is_set():
                    self._wait_resume(stop)
        finally:
            stream.close()

    def _wait_resume(self, stop: threading.Event) -> None:
        started = time.perf_counter()
        self.holding.set()
        try:  # woken by the end of the pause; a cancel (``stop``) is seen within the timeout
            while not self._resume.wait(0.05) and not stop.is_set():
                pass
        finally:
            self.holding.clear()
        self.waited_s += time.perf_counter() - started

    def _account(self, before: list[int]) -> None:
        after = list(self._llm._input_ids) if hasattr(self._llm, "_input_ids") else []
        common = 0
        for a, b in zip(before, after, strict=False):
            if a != b:
                break
            common += 1
        self.prompt_tokens = len(after)
        self.cached_tokens = common
        log.debug("local LLM: %d prompt tokens, %d of them from the cache", len(after), common)

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed under a generation being aborted
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                self._generate(request.messages, emit, stop)
            except Exception as exc:
                emit(exc)
            finally:
                emit(_END)

        future = loop.run_in_executor(self._executor, work)
        self._last = future
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    if stop.is_set():
                        break
                    raise ModelError(f"dialogue: the local model failed: {item}") from item
                assert isinstance(item, str)
                yield item
        finally:
            self._raise_flag(stop)
            # Not awaited: the worker stops at its next token or abort check, and the single
            # worker thread makes the next generation wait for it.
            future.add_done_callback(_log_failure)

    async def prefill(self, messages: list[dict[str, str]]) -> None:
        """Evaluates the prompt of ``messages`` up to where the last message's content begins (the
        question's slot, whatever it holds), so the request that follows finds all of it in the
        cache. Called while the user is still speaking; it waits behind a running generation."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            added = await loop.run_in_executor(self._executor, self._prefill, messages)
        except Exception as exc:
            log.warning("local LLM: warming the prompt failed: %s", exc)
            return
        if added:
            log.debug("local LLM: warmed %d prompt tokens in %.0f ms", added, (time.perf_counter() - started) * 1000)

    def _prefix_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The tokens every request with these messages (and any last message) begins with: the
        common prefix of two renderings that differ only in the last message's content."""
        head = messages[:-1]
        role = messages[-1]["role"]
        a, b = (self._tokens([*head, {"role": role, "content": mark}]) for mark in ("A", "Z"))
        n = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            n += 1
        return a[:n]

    def _tokens(self, messages: list[dict[str, str]]) -> list[int]:
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llm = self._llm
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ModelError(f"dialogue.local.model: {self.path} has no chat template")

            def text(token: int) -> str:
                return str(llm._model.token_get_text(token)) if token != -1 else ""

            self._formatter = Jinja2ChatFormatter(template=template, eos_token=text(llm.token_eos()),
                                                  bos_token=text(llm.token_bos()))
        prompt = self._formatter(messages=messages).prompt
        return list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def _prefill(self, messages: list[dict[str, str]]) -> int:
        tokens = self._prefix_tokens(messages)
        llm = self._llm
        cached = 0
        for a, b in zip(llm._input_ids, tokens, strict=False):
            if a != b:
                break
            cached += 1
        if cached >= len(tokens):
            return 0
        llm.n_tokens = cached  # eval() drops the cache beyond this point
        llm.eval(tokens[cached:])
        return len(tokens) - cached

    async def wait_idle(self) -> None:
        """Until the last generation's worker has ended (a cancelled one stops at its next check)."""
        if self._last is not None:
            await asyncio.wait({self._last})

    def close(self) -> None:
        if self._active is not None:
            self._raise_flag(self._active)
        self._executor.shutdown(wait=True)
        with contextlib.suppress(Exception):
            self._llm.close()


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("local LLM worker ended with %r", future.exception())
