"""Answers the camera's own findings give without a model, as a voice assistant's intents do.

A question of a few known shapes is matched, in English and in Chinese, and answered from the
basic describer's :class:`~perception.basic.SceneDetails`; anything else (and anything these
answers are not sure of) goes to the LLM. Each shape is one the local 1.5B model got wrong
again and again on ``benchmarks/answers.py`` with the right facts in its prompt:

- **How many**: "How many animals are there?" over "a person on the left and a cat on the
  right" was "There are two animals: a person and a cat." 3 times in 3. Counted here from the
  detector's things: only sure ones, and only when at least one is seen (a thing not found is
  left to the LLM, whose description says "no dog" first; a ball may be a round shape the
  detector did not name).
- **Read it**: "Can you read what it says?" over a page was "Yes, I can read what it says." 3
  times in 3. When text was read, it is said; when none was, the LLM answers (its description
  starts with "no readable text").
- **A name**: "What is the person's name?" was "The person's name is John." With nothing read
  in view, a name cannot be seen: it says so. (With text in view, a name tag may hold it: the LLM.)
- **Is there one?**: "Is there a cat here?" over "a cup in the middle with something orange in it
  and possibly a spoon on the right" was that description read back, 4 times in 4 (with a laptop,
  too). A thing of the detector's classes is there when it found one surely (a guess: the LLM
  hedges), and not there when it found none, looking (a ball may be a round shape it does not
  name: the LLM). The answer says what it does see.
- **The sign's colour**: "牌子是什么颜色的？" over "一个红色的长方形和一个白色的长方形，背景是灰色；写着…"
  was "牌子是灰色的。" (the wall) 3 times in 3. With text read and flat shapes (rectangles) in
  view, the sign is said to look the colours of the largest of them; anything else: the LLM.
- **Dark or bright**: "Is it dark here?" over "a plain white view" was "Yes, it is dark here." 3
  times in 3. The describer measures the light: it is said from that.
- **What no camera sees**: "Is the coffee hot?" was "The coffee is not hot." How hot, heavy,
  sweet, loud or dear a thing is, how it tastes or smells: it says it cannot tell by looking.

Nothing here guesses: :func:`grounded_answer` returns None whenever the details do not settle it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .basic import SPOKEN_NAMES, SceneDetails, thing_phrase
from .basic_zh import COLOURS, OBJECTS, count_zh, object_zh
from .objects import COCO_LABELS, PLURALS
from .things import ANIMALS, Thing

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
READ_WORDS = 40  # text read longer than this many words is cut, with "and more"
READ_CHARS_ZH = 80

_LABELS = frozenset(label for label in COCO_LABELS.values() if label)
# What people call the detector's things, singular and plural, where it is not the label itself.
_NAMES: dict[str, str] = {
    **{label: label for label in _LABELS},
    **{PLURALS.get(label, label + "s"): label for label in _LABELS},
    **{spoken: label for label, spoken in SPOKEN_NAMES.items()},
    **{spoken + "s": label for label, spoken in SPOKEN_NAMES.items()},
    "people": "person", "persons": "person", "balls": "sports ball", "tables": "dining table",
    "mug": "cup", "mugs": "cup", "glasses": "wine glass", "kittens": "cat", "kitten": "cat",
    "puppy": "dog", "puppies": "dog", "motorbike": "motorcycle", "motorbikes": "motorcycle",
    "bike": "bicycle", "bikes": "bicycle", "sofa": "couch", "sofas": "couch", "plants": "potted plant",
    "phones": "cell phone", "televisions": "tv", "tvs": "tv",
}

_PLURAL_NOUNS = frozenset({*PLURALS.values(), "people", "persons"})
_END = r"\s*[?.!]*\s*$"
_WHERE_WORDS = (r"(?:here|there|now|in (?:the|this|my) \w+|on (?:the|this|my) \w+"
                r"|in front of (?:me|you|the camera))")
_COUNT_EN = re.compile(
    r"^(?:and |so |okay |ok |then )?how many (?P<noun>[a-z]+(?: [a-z]+)??)"
    rf"(?: (?:are|is) (?:there|here|in view|visible)| (?:do|can) you see| you see| are| (?:are )?{_WHERE_WORDS})?"
    rf"(?: {_WHERE_WORDS})?(?: right now)?{_END}")
_SUBJECT = (r"(?:the |that |this )?"
            r"(?P<what>sign|label|screen|page|board|paper|note|card|poster|banner|text|writing|words?)")
_READ_EN = [
    re.compile(rf"^what (?:does|do) (?:{_SUBJECT}|it|that|this)(?: on the \w+)? (?:say|read){_END}"),
    re.compile(rf"^(?:can|could|would) you (?:please )?read (?:out )?(?:me )?"
               rf"(?:{_SUBJECT}|it|that|this|what it says|what's written|what is written)"
               rf"(?: (?:out|aloud|for me|to me))*(?: please)?{_END}"),
    re.compile(rf"^(?:please )?read (?:out )?(?:me )?(?:{_SUBJECT}|it|that|this|what it says)"
               rf"(?: (?:out|aloud|for me|to me))*(?: please)?{_END}"),
    re.compile(rf"^what(?:'s| is) (?:written|it say)(?: on (?:{_SUBJECT}|it|there))?(?: there| here)?{_END}"),
    re.compile(rf"^what(?:'s| is) on {_SUBJECT}{_END}"),
]
_WHOSE = r"(?P<whose>the (?P<who>person|man|woman|boy|girl|kid|child|guy|lady|cat|dog)'s|his|her|their|its)"
_NAME_EN = [
    re.compile(rf"^(?:do you know )?what(?:'s| is) {_WHOSE} name{_END}"),
    re.compile(rf"^what (?:is|are) (?P<whose>(?:the (?P<who>person|man|woman|cat|dog))|he|she|they|it) called{_END}"),
]

_ARTICLE = r"(?:a|an|any|some)"
_PLACE = (r"(?: here| there| anywhere| around| in (?:the|this|my) (?:room|picture|image|photo|view|frame|kitchen|shot)"
          r"| on (?:the|this|my) (?:table|desk)| in front of (?:me|you|the camera))?")
_ANYONE = r"(?P<anyone>anyone|anybody|someone|somebody)"
_THERE_EN = [
    re.compile(rf"^(?:is|are) there {_ARTICLE} (?P<noun>[a-z]+(?: [a-z]+)??){_PLACE}{_END}"),
    re.compile(rf"^(?:do|can) you see {_ARTICLE} (?P<noun>[a-z]+(?: [a-z]+)??){_PLACE}{_END}"),
    re.compile(rf"^(?:is|are) (?:there )?{_ANYONE}{_PLACE}{_END}"),
    re.compile(rf"^(?:do|can) you see {_ANYONE}{_PLACE}{_END}"),
]
_SIGNS = r"sign|board|label|poster|banner|notice|plate"
_SIGN_COLOUR_EN = re.compile(
    rf"^what colou?rs? (?:is|are) (?:the |that |this )?(?P<what>{_SIGNS})(?: here| there)?{_END}")
_SIGN_COLOUR_ZH = re.compile(r"(?P<what>牌子|招牌|标志|标牌|标签|告示)(?:是)?(?:什么|啥)颜色")
_LIGHT_EN = re.compile(r"^(?:is it|is the room|is this room|is it getting|are we in the) (?:very |too |a bit |really )?"
                       r"(?P<word>dark|bright|light|well lit|lit|dim)(?: in here| here| in the room| enough)?"
                       rf"(?: right now)?{_END}|^(?:are|is) the (?:lights?) (?P<on>on|off){_END}")
_ABOUT_LIGHT_ZH = re.compile(r"这里|房间|画面|现在|光|灯|^(?:很|挺|是不是)?[暗黑亮]")
_LIGHT_ZH = re.compile(r"(?P<word>暗|黑|亮)(?:不(?P=word))?(?:吗|么|呢)?[？?。]*$")
_SENSES = (r"hot|cold|warm|heavy|sweet|sour|salty|bitter|spicy|tasty|delicious|soft|loud|noisy|expensive|cheap"
           r"|fragrant|old")
_THE = r"(?:the |this |that |my |your |these |those )"
_WHAT = rf"(?P<what>it|they|{_THE}?[a-z]+(?: (?!still |very |too )[a-z]+)?)"
_UNSEEN_EN = [  # each with how the answer puts it
    (re.compile(rf"^(?:is|are) {_WHAT} (?:still |very |too )?(?P<sense>{_SENSES})(?: enough)?(?: in here)?{_END}"),
     "whether"),
    (re.compile(rf"^how (?P<sense>{_SENSES}) (?:is|are) {_WHAT}{_END}"), "how"),
    (re.compile(rf"^(?:what|how) (?:does|do) {_WHAT} (?P<verb>taste|smell|sound|feel|weigh|cost)(?: like)?{_END}"),
     "verb"),
    (re.compile(rf"^(?:does|do) {_WHAT} (?P<verb>taste|smell|sound|feel) (?:good|nice|bad|great|sweet|soft){_END}"),
     "verb"),
    (re.compile(rf"^how much (?:does|do) {_WHAT} (?P<verb>weigh|cost){_END}"), "verb"),
]
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


@dataclass(frozen=True, slots=True)
class Grounded:
    """An answer from the details, and which shape of question it answers."""

    text: str
    intent: str  # "count", "read" or "name"


def grounded_answer(details: SceneDetails | None, question: str) -> Grounded | None:
    """The answer ``details`` give to ``question``, in the question's language, or None (ask the LLM)."""
    if details is None or not question.strip():
        return None
    if re.search(r"[\u4e00-\u9fff]", question):
        return _answer_zh(details, question.strip())
    lowered = " ".join(re.findall(r"[a-z']+", question.lower().replace("’", "'")))
    return _answer_en(details, lowered)


# --- English --------------------------------------------------------------------------------------


def _answer_en(details: SceneDetails, question: str) -> Grounded | None:
    if (m := _COUNT_EN.match(question)) is not None:
        text = _count_en(details, m["noun"])
        return Grounded(text, "count") if text else None
    for pattern in _READ_EN:
        if (m := pattern.match(question)) is not None:
            text = _read_en(details, m.groupdict().get("what"))
            return Grounded(text, "read") if text else None
    for pattern in _NAME_EN:
        if (m := pattern.match(question)) is not None:
            text = _name_en(details, m["whose"], m["who"])
            return Grounded(text, "name") if text else None
    if (m := _LIGHT_EN.match(question)) is not None:
        return Grounded(_light_en(details, "dark" if m["word"] in {"dark", "dim"} or m["on"] == "off" else "bright"),
                        "light")
    if (m := _SIGN_COLOUR_EN.match(question)) is not None:
        colours = _sign_colours(details)
        return Grounded(f"The {m['what']} looks {_join_en(colours)}.", "colour") if colours else None
    for pattern in _THERE_EN:
        if (m := pattern.match(question)) is not None:
            text = _there_en(details, "anyone" if m.groupdict().get("anyone") else m["noun"])
            return Grounded(text, "there") if text else None
    for pattern, put in _UNSEEN_EN:
        if (m := pattern.match(question)) is not None:
            return Grounded(_unseen_en(put, m.groupdict()), "unseen")
    return None


def _unseen_en(put: str, found: dict[str, str | None]) -> str:
    """"I can't tell whether the coffee is hot just by looking." and the like."""
    what = found["what"] or "it"
    plural = what == "they" or what.startswith(("these ", "those "))
    be = "are" if plural else "is"
    if put == "verb":
        verb = found["verb"] or ""
        return f"I can't tell how much {what} {verb if plural else verb + 's'} just by looking." if verb in {
            "weigh", "cost"} else f"I can't tell how {what} {verb if plural else verb + 's'} just by looking."
    if put == "how":
        return f"I can't tell how {found['sense']} {what} {be} just by looking."
    return f"I can't tell whether {what} {be} {found['sense']} just by looking."


def _light_en(details: SceneDetails, asked: str) -> str:
    """Asked whether it is dark (or the lights off), or bright: from the describer's measure of light."""
    if details.plain == "black":
        return "Yes, everything looks black: it is very dark, or the camera is covered." if asked == "dark" else \
            "No, everything looks black: it is very dark, or the camera is covered."
    if details.light:
        return f"Yes, it is {details.light} here." if asked == "dark" else f"No, it is {details.light} here."
    return "No, it doesn't look dark here." if asked == "dark" else "Yes, it looks well lit."


def _there_en(details: SceneDetails, noun: str) -> str | None:
    labels = _labels(noun)
    if labels is None or not details.boxed:
        return None
    found = [t for t in details.things if t.name in labels or t.on in labels]
    if found:
        if not all(t.sure for t in found):
            return None  # "possibly a cat": the LLM hedges
        named = [thing_phrase(t) if t.name in labels else _article_of(t.on) for t in found]
        return f"Yes, I see {_join_en(named)}."
    if "person" in labels and (details.faces or details.people):
        return None  # a face or a shape of a person the detector did not box: the LLM weighs them
    plural = noun in _PLURAL_NOUNS or (noun.endswith("s") and not noun.endswith("ss") and noun not in _LABELS)
    missing = "anyone" if noun in {"anyone", "anybody", "someone", "somebody"} else (
        f"any {noun}" if plural else _article_of(noun))
    seen = f" I see {_join_en([thing_phrase(t) for t in details.things])}." if details.things else ""
    dark = f" It is {details.light} here, though." if details.light else ""
    return f"No, I don't see {missing}.{seen}{dark}"


def _labels(noun: str) -> frozenset[str] | None:
    """The detector's labels a noun of a question stands for, or None when it has none (a ball: a
    round shape it does not name may be one)."""
    if noun in {"anyone", "anybody", "someone", "somebody", "people", "person", "persons"}:
        return frozenset({"person"})
    if noun in {"animal", "animals"}:
        return ANIMALS
    label = _NAMES.get(noun)
    return None if label is None or label == "sports ball" else frozenset({label})


def labels_for(noun: str) -> frozenset[str]:
    """The detector's label a thing's name stands for ("cats", "mug", "table", "ball"), or none."""
    label = _NAMES.get(noun)
    return frozenset({label}) if label else frozenset()


def spoken(name: str) -> str:
    """A detector's label as people say it ("dining table" -> "table")."""
    return SPOKEN_NAMES.get(name, name)


def _article_of(word: str) -> str:
    spoken = SPOKEN_NAMES.get(word, word)
    return f"{'an' if spoken[:1] in 'aeiou' else 'a'} {spoken}"


def _count_en(details: SceneDetails, noun: str) -> str | None:
    if noun in {"animals", "animal"}:
        found = _matching(details, ANIMALS)
        if not found:
            return None
        total = sum(t.count for t in found)
        listed = _join_en([thing_phrase(t) for t in found])
        return f"I see {_number(total)} {'animal' if total == 1 else 'animals'}: {listed}."
    label = _NAMES.get(noun)
    if label is None:
        return None
    found = _matching(details, {label})
    if not found:
        return None
    total = sum(t.count for t in found)
    name = SPOKEN_NAMES.get(label, label)
    said = name if total == 1 else PLURALS.get(name, PLURALS.get(label, name + "s"))
    where = found[0].where if len(found) == 1 else ""
    return f"I see {_number(total)} {said}{' on the ' + where if where and where != 'middle' else ''}."


def _read_en(details: SceneDetails, what: str | None) -> str | None:
    if not details.text:
        return None
    words = " ".join(line.strip() for line in details.text if line.strip()).split()
    if not words:
        return None
    said = " ".join(words[:READ_WORDS]) + (" and more" if len(words) > READ_WORDS else "")
    subject = f"The {what}" if what in {"sign", "label", "screen", "page", "board", "paper", "note", "card",
                                        "poster", "banner"} else "It"
    return f"{subject} says: {said}."


def _name_en(details: SceneDetails, whose: str, who: str | None) -> str | None:
    if details.text:
        return None  # a name tag or a caption may say it
    labels = {"cat"} if who == "cat" else {"dog"} if who == "dog" else {"person"}
    if whose in {"its", "it"}:
        labels = set(ANIMALS)
    seen = bool(_matching(details, labels, sure_only=False))
    if "person" in labels and not seen:
        seen = details.faces > 0 or details.people > 0
    if not seen:
        return None  # the LLM says who or what is not there
    owner = {"his": "his", "her": "her", "their": "their", "its": "its", "he": "his", "she": "her",
             "they": "their", "it": "its"}.get(whose, f"the {who}'s" if who else "their")
    return f"I can't tell {owner} name from what I can see."


# --- Chinese --------------------------------------------------------------------------------------


def _answer_zh(details: SceneDetails, question: str) -> Grounded | None:
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
        colours = _sign_colours(details)
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


def _count_zh(details: SceneDetails, noun: str) -> str | None:
    label = _ZH_NOUNS.get(noun)
    if label is None:
        return None
    if label == "animals":
        found = _matching(details, ANIMALS)
        if not found:
            return None
        total = sum(t.count for t in found)
        listed = "和".join(count_zh(t.count, *reversed(object_zh(t.name))) for t in found)
        return f"我看到{count_zh(total, '只', '动物')}：{listed}。"
    found = _matching(details, {label})
    if not found:
        return None
    noun_zh, measure = object_zh(label)
    total = sum(t.count for t in found)
    where = {"left": "左边", "right": "右边"}.get(found[0].where, "") if len(found) == 1 else ""
    counted = count_zh(total, measure, noun_zh)
    return f"我看到{where}有{counted}。" if where else f"我看到{counted}。"


def _there_zh(details: SceneDetails, noun: str) -> str | None:
    label = _ZH_NOUNS.get(noun)
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
        if not _matching(details, {label}, sure_only=False):
            return None
        noun, measure = object_zh(label)
        return f"光看画面，我看不出这{measure}{noun}叫什么名字。"
    if not (_matching(details, {"person"}, sure_only=False) or details.faces or details.people):
        return None
    who = "他" if "他" in question else "她" if "她" in question else "这个人"
    return f"光看画面，我看不出{who}叫什么名字。"


# --- shared ---------------------------------------------------------------------------------------


def _sign_colours(details: SceneDetails) -> list[str]:
    """The colours of the two largest flat shapes (rectangles, squares), largest first, when text was
    read: what a sign is made of. Empty when there is no text or no such shape."""
    if not details.text:
        return []
    colours: list[str] = []
    for seen in sorted(details.shapes, key=lambda s: s.shape.area, reverse=True):
        if seen.shape.form in {"rectangle", "square"} and seen.shape.colour not in colours:
            colours.append(seen.shape.colour)
    return colours[:2]


def _matching(details: SceneDetails, labels: set[str] | frozenset[str], *, sure_only: bool = True) -> list[Thing]:
    """The placed things of these labels; none when any of them is a doubtful guess (``sure_only``):
    a count of "possibly a cat" is the LLM's to hedge."""
    found = [t for t in details.things if t.name in labels]
    if sure_only and any(not t.sure for t in found):
        return []
    return found


def _number(n: int) -> str:
    return NUMBERS[n] if n < len(NUMBERS) else str(n)


def _join_en(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
