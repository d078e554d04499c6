"""Standing watches: "tell me when you see a cat", checked against every described frame.

- A request is read by :func:`parse_request`, in English or Chinese, into a :class:`WatchRequest`:
  set a watch, list them, or clear one or all. It is a grammar, not the LLM: on the phrasing set
  (``tests/test_watches.py``) the grammar is right where it answers, and what it does not take goes
  on to the LLM as a question, so a misunderstanding is never a silent watch.
- A :class:`Watch` says what to look for: a thing of the detector's classes appearing (a cat,
  someone), words read (the sign says CLOSED), a thing going (my cup is gone), or any change of
  the view; whether it fires once or every time; until when.
- :class:`Watcher` checks the details of each described frame, and of each frame that only
  confirmed the last description (the view held still: the cat that walked in and sat down is
  still there). A watch fires once its condition has held on :data:`CONFIRM_FRAMES` frames in a
  row (one bad frame raises no alarm), and an every-time watch again only after the condition has
  been false for :data:`REARM_S` seconds of media time. A thing to watch go is watched only once it
  has been seen.

What the assistant says of them is :mod:`perception.watch_words`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .answers import closest_label, labels_for, spoken
from .answers_zh import sounds_like_zh
from .basic_zh import OBJECTS as OBJECTS_ZH
from .scene import SceneDetails
from .things import ANIMALS

CONFIRM_FRAMES = 2  # frames in a row that must show it
REARM_S = 10.0  # an every-time watch fires again once its condition has been false this long
MAX_WATCHES = 8  # the oldest is dropped past this: memory stays flat however many are set

_PEOPLE = frozenset({"person"})


@dataclass(frozen=True, slots=True)
class Watch:
    kind: str  # "appears", "text", "gone" or "change"
    labels: frozenset[str] = frozenset()  # the detector's labels (appears, gone)
    text: str = ""  # words to read (text), as the user said them
    name: str = ""  # the thing in the request's words: "cat", "someone", "cup"
    language: str = "en"
    every: bool = False
    until: float | None = None  # media time after which it lapses (None: until cleared)
    id: int = 0


@dataclass(frozen=True, slots=True)
class WatchRequest:
    action: str  # "set", "list" or "clear"
    watch: Watch | None = None  # set: the watch
    name: str = ""  # clear: the thing named ("" clears all); set with no watch: what cannot be recognised
    language: str = "en"


# --- reading a request (English) --------------------------------------------------------------------

# "give me the shot": flite's "give me a shout" as Whisper heard it (benchmarks/watch.py --set unseen).
_TELL = (r"(?:tell me|let me know|say something|say so|alert me|warn me|notify me|speak up|shout"
         r"|give me (?:a|the) (?:shout|shot|call|heads up|heads-up)|call out|ping me|inform me)")
_POLITE = r"(?:(?:please |can you |could you |would you |will you |hey |ok |okay )+)?"
_WHEN = r"(?P<when>when|if|as soon as|once|the moment|whenever|each time|every time|in case)"
_SET_EN = [
    re.compile(rf"^{_POLITE}{_TELL} {_WHEN} (?P<cond>.+?)(?: please)?$"),
    re.compile(rf"^{_WHEN} (?P<cond>.+?),? (?:please )?(?:{_TELL}|say hi|say hello)(?: please)?$"),
    re.compile(rf"^{_POLITE}(?:watch|look out|keep an eye out|keep watch|be on the lookout|watch out|keep a lookout"
               r"|keep looking|wait) for (?P<thing>.+?)(?: for me)?(?: please)?$"),
    re.compile(rf"^{_POLITE}keep an eye on (?P<gone>.+?)(?: for me)?(?: please)?$"),
]
_APPEARS = re.compile(r"^(?:you )?(?:see|spot|notice|catch sight of) (?P<thing>.+)$|^(?P<thing2>.+?) "
                      r"(?:appears?|shows? up|comes? in|comes? back|comes? into view|is here|are here|is there|"
                      r"arrives?|walks? in|enters?|gets here|turns up|is back|pops up|gets in|pulls up|drives up|"
                      r"goes by|passes by|drives by|comes by|walks by|goes past|walks past|passes)(?: again)?$")
_SIGN = r"(?:the )?(?:sign|board|screen|label|display|notice)"
_TEXT = re.compile(rf"^{_SIGN} (?:changes to|says|reads|shows|switches to|turns to|goes to|is changed to) (?P<text>.+)$"
                   r"|^you (?:see|read) (?:the word|the words|the text) (?P<text2>.+)$")
_GONE = re.compile(r"^(?P<thing>.+?) (?:is gone|goes|disappears|leaves|is taken|gets taken|is moved|is no longer there"
                   r"|isn't there any ?more|is not there any ?more|goes away|vanishes|is missing|gets moved"
                   r"|goes missing|gets lost|is stolen|gets stolen)$")
_CHANGE = re.compile(r"^(?:something|anything) (?:changes|moves|happens)$|^(?:the view|the picture|it) changes$")
_LIST_EN = re.compile(r"^(?:so )?what (?:are you|do you) (?:watching|looking|keeping an eye|waiting|watch|look)"
                      r"(?: out)? for(?: now| right now)?$|^(?:what|which) watches(?: do you have| are set)?$")
_CLEAR_EN = re.compile(rf"^{_POLITE}(?:stop|quit|cancel|clear|forget|drop) (?:watching|looking out|looking|"
                       r"the watch(?:es)?|all (?:the )?watches|all of (?:them|it)|the alerts?|waiting)"
                       r"(?: (?:for|on) (?P<thing>.+?))?(?: please)?$"
                       r"|^(?:never mind|forget about|forget) (?P<thing2>.+)$")
_EVERY = re.compile(r"\b(?:every time|each time|whenever)\b")
_FOR = re.compile(r",? for (?:the next )?(?P<n>\d+|a|an|one|two|three|five|ten|fifteen|twenty|thirty) "
                  r"(?P<unit>second|minute|hour)s?$")
_N = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "five": 5, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30}
_UNIT_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_ANYONE = frozenset({"someone", "somebody", "anyone", "anybody", "a person", "people", "a visitor", "visitors",
                     "a customer", "customers", "a guest", "guests", "somebody else", "someone else", "a human"})


def parse_request(text: str, now: float = 0.0) -> WatchRequest | None:
    """The watch request ``text`` makes (heard at media time ``now``), or None: not a request."""
    if re.search(r"[\u4e00-\u9fff]", text):
        return _parse_zh(text.strip(), now)
    words = " ".join(re.findall(r"[a-z0-9']+", text.lower().replace("’", "'")))
    if _LIST_EN.match(words):
        return WatchRequest("list")
    if (m := _CLEAR_EN.match(words)) is not None:
        thing = m["thing"] or m["thing2"] or ""
        return WatchRequest("clear", name=_bare(thing) if thing not in {"it", "that", "them", "everything"} else "")
    until = None
    if (m := _FOR.search(words)) is not None:
        until = now + _UNIT_S[m["unit"]] * (int(m["n"]) if m["n"].isdigit() else _N[m["n"]])
        words = words[: m.start()]
    every = bool(_EVERY.search(words))
    for pattern in _SET_EN:
        if (m := pattern.match(words)) is None:
            continue
        found = m.groupdict()
        if found.get("thing"):
            return _set(_appears(found["thing"]), every, until)
        if found.get("gone"):
            return _set(_gone(found["gone"]), every, until)
        return _set(_condition(found["cond"], text), every, until)
    return None


def _condition(cond: str, original: str) -> Watch | str:
    if (m := _TEXT.match(cond)) is not None:
        said = m["text"] or m["text2"] or ""
        # The words as they were said (capitals kept): "CLOSED" is read off the sign as it is written.
        kept = re.search(re.escape(said), original, re.IGNORECASE)
        return Watch("text", text=(kept.group(0) if kept else said).strip(" .!?\"'"), name="the sign")
    if _CHANGE.match(cond):
        return Watch("change", name="the view")
    if (m := _GONE.match(cond)) is not None:
        return _gone(m["thing"])
    if (m := _APPEARS.match(cond)) is not None:
        return _appears(m["thing"] or m["thing2"])
    return _appears(cond) if len(cond.split()) <= 3 else cond


def _bare(thing: str) -> str:
    return re.sub(r"^(?:a|an|the|my|your|some|any|our|that|this)\s+", "", thing.strip())


def _appears(thing: str) -> Watch | str:
    thing = thing.strip()
    if thing in _ANYONE or _bare(thing) in {"person", "people", "human", "visitor", "customer", "guest"}:
        return Watch("appears", _PEOPLE, name="someone")
    noun = _bare(thing)
    if noun in {"animal", "animals", "an animal"}:
        return Watch("appears", ANIMALS, name="an animal")
    labels = labels_for(noun)
    if not labels and len(noun.split()) == 1 and (labels := closest_label(noun)):
        noun = spoken(next(iter(labels)))  # heard "the catch": a cat, said back in the confirmation
    if labels and noun.endswith("s") and not noun.endswith("ss"):
        noun = spoken(next(iter(labels)))  # "cats": a cat
    return Watch("appears", labels, name=noun) if labels else noun


def _gone(thing: str) -> Watch | str:
    noun = _bare(thing)
    labels = _PEOPLE if thing.strip() in _ANYONE or noun in {"person", "people"} else labels_for(noun)
    return Watch("gone", labels, name=noun) if labels else noun


def _set(found: Watch | str, every: bool, until: float | None, language: str = "en") -> WatchRequest:
    if isinstance(found, str):
        return WatchRequest("set", name=found, language=language)
    return WatchRequest("set", dataclasses.replace(found, every=every, until=until, language=language),
                        language=language)


# --- reading a request (Chinese) --------------------------------------------------------------------

_TELL_ZH = r"(?:告诉我|提醒我|叫我|通知我|说一声|跟我说|喊我|提醒一下|告诉一声)"
_SET_ZH = re.compile(rf"(?:如果|要是|等|当|一旦)?(?P<cond>.+?)(?:的话|的时候|时|了)?[，,]?(?:就|都|请|马上|麻烦)?"
                     rf"{_TELL_ZH}")
_WATCH_ZH = re.compile(r"(?:帮我|请|麻烦)?(?:盯着|看着|留意|注意|盯一下|看一下)(?:一下)?(?:有没有)?"
                       r"(?P<thing>.+?)[。！]?$")
_LIST_ZH = re.compile(r"你(?:现在)?在(?:盯|看|留意|注意|等)(?:着)?什么")
_CLEAR_ZH = re.compile(r"(?:不用|别|停止|不要|取消)(?:再)?(?:盯|看|留意|注意|提醒|等)?(?:着)?"
                       r"(?P<thing>[\u4e00-\u9fff]*?)(?:了)?[。！]?$")
_APPEARS_ZH = re.compile(r"^(?:看到|看见|发现|出现|有)(?P<thing>[\u4e00-\u9fff]{1,6}?)(?:出现|来了|进来|回来|来|到)?$"
                         r"|^(?P<thing2>[\u4e00-\u9fff]{1,6}?)(?:来|出现|进来|回来|到)(?:了)?$")
_TEXT_ZH = re.compile(r"^(?:牌子|招牌|屏幕|标志)(?:上)?(?:变成|换成|写着|显示|出现)(?:了)?"
                      r"[“\"]?(?P<text>[^”\"]+?)[”\"]?$")
_GONE_ZH = re.compile(r"^(?:我的)?(?P<thing>[\u4e00-\u9fff]{1,6}?)(?:不见|没了|被拿走|消失|离开|走)(?:了)?$")
_ZH_PEOPLE = ("人", "有人", "客人", "顾客", "别人")


def _parse_zh(text: str, now: float) -> WatchRequest | None:
    if _LIST_ZH.search(text):
        return WatchRequest("list", language="zh")
    if (m := _CLEAR_ZH.match(text)) is not None and not _SET_ZH.search(text):
        return WatchRequest("clear", name=_label_zh(m["thing"] or "")[1], language="zh")
    every = "每次" in text
    cleaned = text.replace("每次", "").replace("每当", "")
    if (m := _SET_ZH.search(cleaned)) is not None:
        return _set(_condition_zh(m["cond"]), every, None, "zh")
    if (m := _WATCH_ZH.match(cleaned)) is not None:
        return _set(_thing_zh(m["thing"]), every, None, "zh")
    return None


def _condition_zh(cond: str) -> Watch | str:
    cond = cond.strip("，, 。")
    if (m := _TEXT_ZH.match(cond)) is not None:
        return Watch("text", text=m["text"], name="牌子")
    if (m := _GONE_ZH.match(cond)) is not None:
        labels, name = _label_zh(m["thing"])
        return Watch("gone", labels, name=name) if labels else m["thing"]
    if (m := _APPEARS_ZH.match(cond)) is not None:
        return _thing_zh(m["thing"] or m["thing2"])
    return _thing_zh(cond)


def _thing_zh(thing: str) -> Watch | str:
    labels, name = _label_zh(thing)
    return Watch("appears", labels, name=name) if labels else thing


def _label_zh(thing: str) -> tuple[frozenset[str], str]:
    thing = thing.removeprefix("我的").removeprefix("一只").removeprefix("一个").removeprefix("有")
    if thing in _ZH_PEOPLE:
        return _PEOPLE, "人"
    if thing == "动物":
        return ANIMALS, "动物"
    for label, (noun, _) in OBJECTS_ZH.items():
        if noun == thing or thing in {f"小{noun}"}:
            return frozenset({label}), noun
    return sounds_like_zh(thing.removeprefix("小"))


# --- watching ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    watch: Watch
    run: int = 0  # frames in a row on which the condition held
    fired: bool = False
    false_since: float | None = None
    seen: bool = False  # a "gone" watch: the thing has been in view since the watch was set
    first_t: float | None = None  # when the condition first held in this run (media time)
    view: str = ""  # a "change" watch: the description when it was set


class Watcher:
    """The standing watches, each checked against every frame's details; :meth:`observe` returns
    the watches that fire on this frame, each with the media time its condition began to hold."""

    def __init__(self, max_watches: int = MAX_WATCHES) -> None:
        self.max_watches = max_watches
        self._states: list[_State] = []
        self._next_id = 1

    @property
    def watches(self) -> list[Watch]:
        return [s.watch for s in self._states]

    def add(self, watch: Watch, view: str = "") -> tuple[Watch, Watch | None]:
        """Sets ``watch`` (given an id); returns it and the watch dropped to make room, if any."""
        watch = dataclasses.replace(watch, id=self._next_id)
        self._next_id += 1
        dropped = self._states.pop(0).watch if len(self._states) >= self.max_watches else None
        self._states.append(_State(watch, view=view))
        return watch, dropped

    def clear(self, name: str = "") -> list[Watch]:
        """Clears the watches for ``name`` (a thing as said: "cat", "猫"), or all when it is ""."""
        gone = [s.watch for s in self._states if not name or _names(s.watch, name)]
        self._states = [s for s in self._states if s.watch not in gone]
        return gone

    def observe(self, details: SceneDetails | None, text: str, t: float) -> tuple[list[tuple[Watch, float]],
                                                                                  list[Watch]]:
        """One frame at media time ``t`` (its details and description): the watches that fire, and
        those that lapsed (past their ``until``) or fired once and are done."""
        fired: list[tuple[Watch, float]] = []
        done: list[Watch] = []
        for state in list(self._states):
            watch = state.watch
            if watch.until is not None and t > watch.until:
                done.append(watch)
                continue
            holds = _holds(state, details, text)
            if holds is None:
                continue  # cannot tell on this frame (no details): neither for nor against
            if holds:
                state.run += 1
                state.first_t = t if state.run == 1 else state.first_t
                state.false_since = None
                if state.run >= CONFIRM_FRAMES and not state.fired:
                    state.fired = True
                    fired.append((watch, state.first_t if state.first_t is not None else t))
                    if not watch.every:
                        done.append(watch)
            else:
                state.run = 0
                state.false_since = t if state.false_since is None else state.false_since
                if state.fired and watch.every and t - state.false_since >= REARM_S:
                    state.fired = False
        self._states = [s for s in self._states if s.watch not in done]
        return fired, done


def _holds(state: _State, details: SceneDetails | None, text: str) -> bool | None:
    watch = state.watch
    if watch.kind == "change":
        if not state.view:
            state.view = text
            return False
        return text != state.view
    if details is None:
        return None
    if watch.kind == "text":
        wanted = watch.text.casefold()
        return any(wanted in line.casefold() for line in details.text)
    present = [t for t in details.things if t.name in watch.labels]
    if watch.kind == "appears":
        sure = [t for t in present if t.sure]
        return bool(sure) or (watch.labels == _PEOPLE and details.faces > 0 and not present and details.boxed)
    # "gone": only once it has been seen; not while a guess of it is still in view
    if present:
        state.seen = True
        return False
    return state.seen and details.boxed


def _names(watch: Watch, name: str) -> bool:
    name = _bare(name)
    if name in {watch.name, _bare(watch.name)}:
        return True
    labels = labels_for(name) or _label_zh(name)[0]
    return bool(labels) and bool(labels & watch.labels)
