"""What the assistant says of its standing watches (:mod:`perception.watches`): one short sentence
in the request's language, naming the thing."""

from __future__ import annotations

from collections.abc import Sequence

from .answers import spoken
from .watches import Watch


def confirmation(watch: Watch) -> str:
    if watch.language == "zh":
        return {"appears": f"看到{watch.name}的时候我会告诉你。" if watch.name != "人" else "有人来的时候我会告诉你。",
                "text": f"牌子上出现“{watch.text}”的时候我会告诉你。", "gone": f"{watch.name}不见了我会告诉你。",
                "change": "画面有变化的时候我会告诉你。"}[watch.kind]
    when = "every time" if watch.every else "when"
    return {"appears": f"I'll tell you {when} someone shows up." if watch.name == "someone"
            else f"I'll tell you {when} I see {_a(watch.name)}.",
            "text": f"I'll tell you {when} the sign says {watch.text}.",
            "gone": f"I'll tell you if the {watch.name} is gone.",
            "change": f"I'll tell you {when} something changes."}[watch.kind]


def alert(watch: Watch) -> str:
    if watch.language == "zh":
        return {"appears": "有人来了。" if watch.name == "人" else f"{watch.name}来了。",
                "text": f"牌子上现在写着“{watch.text}”。", "gone": f"{watch.name}不见了。",
                "change": "画面有变化了。"}[watch.kind]
    return {"appears": "Someone is here now." if watch.name == "someone" else f"The {watch.name} is here now."
            if watch.name != "an animal" else "An animal is here now.",
            "text": f"The sign says {watch.text} now.",
            "gone": f"The {watch.name} is gone.",
            "change": "Something changed."}[watch.kind]


def listing(watches: Sequence[Watch], language: str = "en") -> str:
    if language == "zh":
        if not watches:
            return "我现在没有在留意什么。"
        return "我在留意：" + "、".join(_what_zh(w) for w in watches) + "。"
    if not watches:
        return "I'm not watching for anything."
    return "I'm watching for " + _join([_what(w) for w in watches]) + "."


def cleared(watches: Sequence[Watch], name: str, language: str = "en") -> str:
    if language == "zh":
        if not watches:
            return f"我本来就没有在留意{name}。" if name else "我本来就没有在留意什么。"
        return f"好的，不再留意{name}了。" if name else "好的，都不留意了。"
    if not watches:
        return f"I wasn't watching for {_a(name)}." if name else "I wasn't watching for anything."
    return f"I've stopped watching for the {name}." if name else "I've stopped watching."


def cannot_watch(name: str, language: str = "en") -> str:
    if language == "zh":
        return f"我认不出{name}，没法帮你留意。"
    return f"I can't recognise {name}, so I can't watch for it."


def _what(watch: Watch) -> str:
    return {"appears": "someone to show up" if watch.name == "someone" else _a(watch.name),
            "text": f"the sign to say {watch.text}", "gone": f"the {watch.name} to go",
            "change": "a change"}[watch.kind]


def _what_zh(watch: Watch) -> str:
    return {"appears": "有人来" if watch.name == "人" else watch.name, "text": f"牌子上出现“{watch.text}”",
            "gone": f"{watch.name}不见", "change": "画面变化"}[watch.kind]


def _a(name: str) -> str:
    name = spoken(name)
    return name if name.startswith(("a ", "an ")) else f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

