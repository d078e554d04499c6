"""The answers from the scene for a question in Chinese (:mod:`perception.answers` says which, and why)."""

from __future__ import annotations

import difflib
import functools
import re

from pypinyin import lazy_pinyin

from .basic_zh import COLOURS, OBJECTS, count_zh, object_zh
from .grounding import Grounded, matching, sign_colours
from .scene import SceneDetails
from .things import ANIMALS

READ_CHARS_ZH = 80

_SIGN_COLOUR_ZH = re.compile(r"(?P<what>牌子|招牌|标志|标牌|标签|告示)(?:是)?(?:什么|啥)颜色")
_ABOUT_LIGHT_ZH = re.compile(r"这里|房间|画面|现在|光|灯|^(?:很|挺|是不是)?[暗黑亮]")
_LIGHT_ZH = re.compile(r"(?P<word>暗|黑|亮)(?:不(?P=word))?(?:吗|么|呢)?[？?。]*$")
_SENSES_ZH = "烫|热|冷|凉|重|甜|酸|咸|苦|辣|好吃|好喝|香|臭|贵|便宜|软|硬|吵"
_UNSEEN_ZH = re.compile(rf"(?P<sense>{_SENSES_ZH})(?:的)?(?:吗|么|嘛)[？?。]*$|(?P<both>{_SENSES_ZH})不(?P=both)|"
                        r"(?P<how>什么味道|多重|多少钱|多烫|多热)")
_COUNT_ZH = re.compile(r"(?:有)?(?:几|多少)(?P<measure>个|只|位|条|辆|张|台|把|头|匹|部|本)?"
                       r"(?P<noun>[\u4e00-\u9fff]{1,5}?)(?:呢|啊|呀)?[？?。！!]*$")
_READ_ZH = re.compile(r"(写着什么|写的(?:是)?什么|写了什么|是什么字|读一下|念一下|读读|念念|读出来|念出来|读给我)")
_NAME_ZH = re.compile(r"(叫什么(?:名字)?|名字(?:是|叫)什么)")
_THERE_ZH = [
    re.compile(r"^(?:这里|那里|这儿|画面里|画面中|房间里|桌子上|图里|照片里)?(?:有没有|有)(?P<noun>[\u4e00-\u9fff]{1,5}?)"
               r"(?:吗|么|呢)?[？?。]*$"),
    re.compile(r"^你?(?:看到|看见)(?:了)?(?P<noun>[\u4e00-\u9fff]{1,5}?)(?:了)?(?:吗|么)[？?。]*$"),
]
_ZH_NOUNS = {noun: label for label, (noun, _) in OBJECTS.items()}
_ZH_NOUNS.update({"人": "person", "位": "person", "动物": "animals", "小猫": "cat", "小狗": "dog"})


def answer_zh(details: SceneDetails, question: str) -> Grounded | None:
    if (m := _COUNT_ZH.search(question)) is not None:
        text = _count_zh(details, m["noun"])
        return Grounded(text, "count") if text else None
    if _READ_ZH.search(question) is not None:
        text = _read_zh(details, question)
        return Grounded(text, "read") if text else None
    if _NAME_ZH.search(question) is not None:
        text = _name_zh(details, question)
        return Grounded(text, "name") if text else None
    if (m := _LIGHT_ZH.search(question)) is not None and _ABOUT_LIGHT_ZH.search(question):
        dark = bool(details.light) or details.plain == "black"
        if m["word"] in {"暗", "黑"}:
            return Grounded("是的，画面很暗。" if dark else "不暗，光线看起来正常。", "light")
        return Grounded("不亮，画面很暗。" if dark else "看起来挺亮的。", "light")
    if (m := _SIGN_COLOUR_ZH.search(question)) is not None:
        colours = sign_colours(details)
        if not colours:
            return None
        return Grounded(f"{m['what']}看起来是{'和'.join(COLOURS.get(c, c) for c in colours)}的。", "colour")
    for pattern in _THERE_ZH:
        if (m := pattern.match(question)) is not None:
            text = _there_zh(details, m["noun"])
            return Grounded(text, "there") if text else None
    if (m := _UNSEEN_ZH.search(question)) is not None:
        return Grounded(_unseen_zh(m), "unseen")
    return None


def _unseen_zh(m: re.Match[str]) -> str:
    """"光看画面，我看不出烫不烫。" and the like."""
    if m["how"]:
        return f"光看画面，我看不出{m['how'].replace('什么', '是什么')}。"
    sense = m["sense"] or m["both"]
    either = f"{sense[0]}不{sense}" if len(sense) == 2 else f"{sense}不{sense}"  # 好不好吃, 烫不烫
    return f"光看画面，我看不出{either}。"


def _heard(noun: str) -> str | None:
    """The label a question's noun stands for: its name, or a known name it sounds like (有几只摸:
    猫, the answer then names the cat)."""
    label = _ZH_NOUNS.get(noun)
    if label is None and (sounded := sounds_like_zh(noun)[0]):
        label = next(iter(sounded))
    return label


def _count_zh(details: SceneDetails, noun: str) -> str | None:
    label = _heard(noun)
    if label is None:
        return None
    if label == "animals":
        found = matching(details, ANIMALS)
        if not found:
            return None
        total = sum(t.count for t in found)
        listed = "和".join(count_zh(t.count, *reversed(object_zh(t.name))) for t in found)
        return f"我看到{count_zh(total, '只', '动物')}：{listed}。"
    found = matching(details, {label})
    if not found:
        return None
    noun_zh, measure = object_zh(label)
    total = sum(t.count for t in found)
    if total == 1 and found[0].fills_view:
        return f"我看到{noun_zh}占满了大半个画面，看不出有几{measure}。"
    where = {"left": "左边", "right": "右边"}.get(found[0].where, "") if len(found) == 1 else ""
    counted = count_zh(total, measure, noun_zh)
    return f"我看到{where}有{counted}。" if where else f"我看到{counted}。"


def _there_zh(details: SceneDetails, noun: str) -> str | None:
    label = _heard(noun)
    labels = ANIMALS if label == "animals" else frozenset({label}) if label and label != "sports ball" else None
    if labels is None or not details.boxed:
        return None
    found = [t for t in details.things if t.name in labels]
    if found:
        if not all(t.sure for t in found):
            return None
        said = []
        for t in found:
            noun_zh, measure = object_zh(t.name)
            where = {"left": "左边", "right": "右边", "middle": "中间"}.get(t.where, "")
            counted = count_zh(t.count, measure, noun_zh)
            said.append(f"{where}有{counted}" if where else counted)
        return f"有，{'，'.join(said)}。" if all(x.startswith(("左边", "右边", "中间")) for x in said) else \
            f"有，我看到{'和'.join(said)}。"
    if "person" in labels and (details.faces or details.people):
        return None
    if noun not in _ZH_NOUNS:
        return None  # only sounds like a known thing: "no" would be about a word the user never said
    return f"没有，我没看到{noun}。"


def _read_zh(details: SceneDetails, question: str) -> str | None:
    said = " ".join(line.strip() for line in details.text if line.strip())
    if not said:
        return None
    said = said[:READ_CHARS_ZH] + ("……" if len(said) > READ_CHARS_ZH else "")
    where = "牌子上" if "牌" in question else "标签上" if "标签" in question else "上面"
    return f"{where}写着“{said}”。"


def _name_zh(details: SceneDetails, question: str) -> str | None:
    if details.text:
        return None
    if "猫" in question or "狗" in question:
        label = "cat" if "猫" in question else "dog"
        if not matching(details, {label}, sure_only=False):
            return None
        noun, measure = object_zh(label)
        return f"光看画面，我看不出这{measure}{noun}叫什么名字。"
    if not (matching(details, {"person"}, sure_only=False) or details.faces or details.people):
        return None
    who = "他" if "他" in question else "她" if "她" in question else "这个人"
    return f"光看画面，我看不出{who}叫什么名字。"


def sounds_like_zh(heard: str) -> tuple[frozenset[str], str]:
    """The detector's label whose Chinese name sounds like ``heard`` (a word misheard: 帽 or 摩 for
    猫), and that name; or no label and ``heard``. The same syllables with the tones left out, or
    else the one name as many syllables long whose toneless pinyin is close (``difflib`` ratio of
    0.8 or more, same first letter: mo for mao, not yong for yang). Two such things: no guess. As with
    :func:`perception.answers.closest_label`, only where the assistant then says the name back
    (a watch's confirmation; an answer that names what it counted)."""
    if not re.fullmatch(r"[\u4e00-\u9fff]{1,6}", heard):
        return frozenset(), heard  # not a short run of Chinese characters: nothing to sound out
    said = lazy_pinyin(heard)
    same = _by_sound().get(tuple(said), set())
    if len(same) == 1:
        label = next(iter(same))
        return frozenset({label}), OBJECTS[label][0]
    if same:
        return frozenset(), heard
    joined = "".join(said)
    near = {label for sound, labels in _by_sound().items() for label in labels
            if len(sound) == len(said) and sound[0][:1] == said[0][:1]
            and difflib.SequenceMatcher(None, "".join(sound), joined).ratio() >= 0.8}
    if len(near) == 1:
        label = next(iter(near))
        return frozenset({label}), OBJECTS[label][0]
    return frozenset(), heard


@functools.cache
def _by_sound() -> dict[tuple[str, ...], set[str]]:
    """Each Chinese name's toneless syllables -> the labels with that name."""
    sounds: dict[tuple[str, ...], set[str]] = {}
    for label, (noun, _) in OBJECTS.items():
        sounds.setdefault(tuple(lazy_pinyin(noun)), set()).add(label)
    return sounds
