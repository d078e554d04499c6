"""Standing watches in a session: set by voice, checked on every frame, spoken when the assistant may.

- A request ("Tell me when you see a cat.", "What are you watching for?", "Stop watching.") is
  answered in its turn, by :class:`Watching` and not the LLM (the turn asks :meth:`Watching.understands`
  first): a watch is set, listed or cleared, and the reply says so in one short sentence.
- Every frame described or confirmed (:attr:`perception.memory.SceneMemory.observers`) is checked
  by a :class:`perception.watches.Watcher`.
- A watch that fires is said (``The cat is here now.``) at the next moment the assistant may speak:
  not while the user speaks, not over its own reply, not while muted; as a turn of its own, so a
  barge-in cancels it like any reply. ``watch_set``, ``watch_fired`` and ``watch_cleared`` events
  go to the bus (events.jsonl, the report, the browser page, the kiosk's MQTT).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from kernel.channels import Activity
from kernel.eventlog import EventBus
from kernel.events import Event, WatchCleared, WatchFired, WatchSet
from perception.memory import SceneDescription, SceneMemory

from .state import StateTracker

if TYPE_CHECKING:
    from perception.watches import Watch, WatchRequest

# perception.watches reads the basic describer's tables (and so its stack): imported where it is
# used, so that loading the config (assistant.config) loads no describer backend.

log = logging.getLogger(__name__)


class Watching:
    def __init__(
        self,
        bus: EventBus,
        memory: SceneMemory,
        activity: Activity,
        *,
        say: Callable[[str], Coroutine[Any, Any, int]],
        busy: Callable[[], bool],
    ) -> None:
        self.bus = bus
        self.memory = memory
        self.activity = activity
        from perception.watches import Watcher

        self.watcher = Watcher()
        self._say = say
        self._busy = busy  # a turn is under way, or the assistant is muted
        self._state = StateTracker()
        self._pending: list[str] = []  # alerts waiting for a moment to be said
        self._speaking: set[asyncio.Task[int]] = set()
        bus.subscribe(self._state)
        bus.subscribe(self._on_event)
        memory.observers.append(self.observe)

    # --- requests, in a turn -------------------------------------------------------------------

    def understands(self, question: str) -> bool:
        """Whether ``question`` is a watch request (set, list or clear), which :meth:`answer` answers."""
        from perception.watches import parse_request

        return parse_request(question) is not None

    def answer(self, question: str) -> str:
        """Carries out the request in ``question`` and says what was done, in its language."""
        from perception.watch_words import cleared, listing
        from perception.watches import parse_request

        now = self.bus.clock.now()
        request = parse_request(question, now)
        if request is None:
            raise ValueError(f"not a watch request: {question!r}")
        if request.action == "list":
            return listing(self.watcher.watches, request.language)
        if request.action == "clear":
            return cleared(self.clear(request.name), request.name, request.language)
        return self._set(request, now)[1]

    def set_for(self, text: str) -> tuple[dict[str, object], str]:
        """Sets the watch that ``text`` asks for, as the kiosk's ``watch`` command does: the watch, and
        the sentence that confirms it. ``text`` is worded as a user would ask ("Tell me when someone
        comes in.", "猫来了告诉我"), or is only the thing ("a cat", "猫"). Raises ``ValueError`` with a
        line to show when it asks for no watch, or for one that cannot be kept."""
        from perception.watches import parse_request

        now = self.bus.clock.now()
        text = text.strip()
        request = parse_request(text, now)
        if request is None:  # only the thing: ask for it as a user would
            chinese = any("\u4e00" <= ch <= "\u9fff" for ch in text)
            request = parse_request(f"看到{text}的时候告诉我" if chinese else f"tell me when you see {text}", now)
        if request is None or request.action != "set":
            raise ValueError(f"not a request to watch for something: {text[:60]!r} "
                             "(word it as a user would, as in 'Tell me when you see a cat.')")
        watch, said = self._set(request, now)
        if watch is None:
            raise ValueError(said)
        return self._entry(watch), said

    def listed(self) -> list[dict[str, object]]:
        """The standing watches, for the kiosk's ``watches`` command and the browser page."""
        return [self._entry(w) for w in self.watcher.watches]

    @staticmethod
    def _entry(w: Watch) -> dict[str, object]:
        return {"id": w.id, "kind": w.kind, "name": w.name, "text": w.text, "every": w.every, "until": w.until,
                "language": w.language}

    def clear(self, name: str = "") -> list[Watch]:
        """Clears the watches for ``name`` (all when ""), as a request to stop watching would."""
        gone = self.watcher.clear(name)
        for watch in gone:
            self._cleared(watch, "cleared")
        return gone

    def _set(self, request: WatchRequest, now: float) -> tuple[Watch | None, str]:
        """The watch set and its confirmation; no watch, and the sentence why, when it cannot be kept."""
        from perception.watch_words import cannot_watch, confirmation

        if request.watch is None:
            return None, cannot_watch(request.name, request.language)
        latest = self.memory.latest()
        watch, dropped = self.watcher.add(request.watch, view=latest.text if latest is not None else "")
        if dropped is not None:
            self._cleared(dropped, "dropped")
        self.bus.publish(WatchSet(t=now, watch=watch.id, kind=watch.kind, name=watch.name, text=watch.text,
                                  every=watch.every, until=watch.until, language=watch.language))
        log.info("watch %d set: %s %s", watch.id, watch.kind, watch.name or watch.text)
        return watch, confirmation(watch)

    # --- watching, every frame -----------------------------------------------------------------

    def observe(self, description: SceneDescription) -> None:
        if not self.watcher.watches:
            return
        from perception.watch_words import alert

        fired, done = self.watcher.observe(description.details, description.text, description.last_seen)
        fired_ids = {watch.id for watch, _ in fired}
        for watch, since in fired:
            said = alert(watch)
            self.bus.publish(WatchFired(t=self.bus.clock.now(), watch=watch.id, name=watch.name or watch.text,
                                        since_t=since, said=said))
            log.info("watch %d fired (since %.2f s): %s", watch.id, since, said)
            self._pending.append(said)
            self.activity.begin()  # a replay at --speed 0 waits for the alert to be said
        for watch in done:
            self._cleared(watch, "fired" if watch.id in fired_ids else "lapsed")
        self._speak_if_free()

    def _cleared(self, watch: Watch, reason: str) -> None:
        self.bus.publish(WatchCleared(t=self.bus.clock.now(), watch=watch.id, name=watch.name or watch.text,
                                      reason=reason))

    # --- speaking up -----------------------------------------------------------------------------

    def _on_event(self, _event: Event) -> None:
        if self._pending:
            self._speak_if_free()

    def may_speak(self) -> bool:
        """Nobody is speaking, no reply is being made or heard, and the assistant is not muted."""
        state = self._state
        return not (state.user_speaking or state.reply_playing or self._busy() or self._speaking)

    def _speak_if_free(self) -> None:
        if not self._pending or not self.may_speak():
            return
        alerts, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._say(" ".join(alerts)), name="watch-alert")
        self._speaking.add(task)
        task.add_done_callback(lambda t: self._spoken(t, len(alerts)))

    def _spoken(self, task: asyncio.Task[int], alerts: int) -> None:
        self._speaking.discard(task)
        for _ in range(alerts):
            self.activity.end()
        if not task.cancelled() and task.exception() is not None:
            log.warning("an alert could not be said: %s", task.exception())
