"""Answers the camera's own findings give without a model, as a voice assistant's intents do.

A question of a few known shapes is matched, in English and in Chinese, and answered from the
basic describer's :class:`~perception.scene.SceneDetails`; anything else (and anything these
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

import difflib
import re
from collections.abc import Sequence

from .answers_zh import answer_zh
from .basic import SPOKEN_NAMES, thing_phrase
from .grounding import Grounded, matching, sign_colours
from .objects import COCO_LABELS, PLURALS
from .scene import SceneDetails
from .things import ANIMALS

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
READ_WORDS = 40  # text read longer than this many words is cut, with "and more"
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
_LIGHT_EN = re.compile(r"^(?:is it|is the room|is this room|is it getting|are we in the) (?:very |too |a bit |really )?"
                       r"(?P<word>dark|bright|light|well lit|lit|dim)(?: in here| here| in the room| enough)?"
                       rf"(?: right now)?{_END}|^(?:are|is) the (?:lights?) (?P<on>on|off){_END}")
_ANYTHING_EN = re.compile(rf"^(?:can|do|could) you see (?:anything|something)(?: at all)?(?: right now)?{_END}"
                          rf"|^what (?:do|can) you see(?: right now)?{_END}")
# A question about someone in view ("What is the person wearing?"): over a plain wall the model
# answered "The person is wearing a gray shirt." 3 times in 3 (benchmarks/answers.py --set tuning).
_ABOUT_SOMEONE_EN = re.compile(r"\b(?:the|that|this) (?:person|man|woman|guy|lady|boy|girl|kid|child)\b"
                               r"(?! (?:in|on|at) (?:the|a) (?:photo|picture|poster|painting|sign|screen))")
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


def grounded_answer(details: SceneDetails | None, question: str) -> Grounded | None:
    """The answer ``details`` give to ``question``, in the question's language, or None (ask the LLM)."""
    if details is None or not question.strip():
        return None
    if re.search(r"[\u4e00-\u9fff]", question):
        return answer_zh(details, question.strip())
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
        colours = sign_colours(details)
        return Grounded(f"The {m['what']} looks {_join_en(colours)}.", "colour") if colours else None
    for pattern in _THERE_EN:
        if (m := pattern.match(question)) is not None:
            text = _there_en(details, "anyone" if m.groupdict().get("anyone") else m["noun"])
            return Grounded(text, "there") if text else None
    for pattern, put in _UNSEEN_EN:
        if (m := pattern.match(question)) is not None:
            return Grounded(_unseen_en(put, m.groupdict()), "unseen")
    if _ANYTHING_EN.match(question) and (text := _nothing_en(details)):
        return Grounded(text, "light")
    if _ABOUT_SOMEONE_EN.search(question) and _nobody(details):
        return Grounded("I don't see anyone here.", "there")
    return None


def _nobody(details: SceneDetails) -> bool:
    """The detector looked and found no person, and no face or shape of one was seen."""
    return details.boxed and not details.faces and not details.people and not matching(details, {"person"},
                                                                                         sure_only=False)


def _nothing_en(details: SceneDetails) -> str | None:
    """"Can you see anything?" over a view that shows nothing (a wall, a lens cap, the dark):
    what is seen, said as such; a view with anything in it is the LLM's to describe."""
    if details.things or details.objects or details.faces or details.people or details.shapes or details.text:
        return None
    if details.plain:
        return f"Only a plain {details.plain} view: nothing I can make out."
    if details.light:
        return f"It is {details.light} here, and I can't make anything out."
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


def closest_label(noun: str) -> frozenset[str]:
    """The detector's label of the one name spelled close to ``noun`` (a word misheard: "catch" for
    "cat"), or none: same first letter, at most two letters more or fewer, and ``difflib``'s ratio
    of 0.75 or more. Only where the assistant then says what it took the word for (a watch's
    confirmation), so that a wrong guess is heard and can be cleared."""
    near = [name for name in _NAMES if name[:1] == noun[:1] and abs(len(name) - len(noun)) <= 2 and " " not in name]
    found = difflib.get_close_matches(noun, near, n=2, cutoff=0.75)
    labels = {_NAMES[name] for name in found}
    return frozenset(labels) if len(labels) == 1 else frozenset()  # two different things: no guess


_NOUN_BEFORE = frozenset({"the", "a", "an", "any", "many", "my", "your", "this", "that", "these", "those", "some"})


def heard_as_seen(details: SceneDetails | None, question: str) -> str:
    """``question`` with a noun misheard as a word one letter away from a thing in view put right
    ("Is the cut on the left?" over a cup: "Is the cup on the left?"; "how many cuts" over cats).
    Only a word after a determiner ("the", "many"...), at least three letters, with the same first
    letter, that names no thing the detector knows, and one letter from exactly one thing in view
    (or its plural). English only; the answer then names the thing, so a wrong guess is heard."""
    if details is None or not details.things or re.search(r"[\u4e00-\u9fff]", question):
        return question
    seen: dict[str, str] = {}
    for thing in details.things:
        name = spoken(thing.name)
        if " " not in name:
            seen[name] = name
            seen[PLURALS.get(name, PLURALS.get(thing.name, name + "s"))] = name

    def right(m: re.Match[str]) -> str:
        word = m["word"]
        lowered = word.lower()
        if len(lowered) < 3 or lowered in _NAMES:
            return m.group(0)
        near = {written for written in seen if written[0] == lowered[0] and len(written) == len(lowered)
                and sum(a != b for a, b in zip(written, lowered, strict=True)) == 1}
        if len({seen[w] for w in near}) != 1:
            return m.group(0)
        return f"{m['before']}{next(iter(near))}"

    return re.sub(r"(?P<before>\b(?:" + "|".join(sorted(_NOUN_BEFORE)) + r")\s+)(?P<word>[A-Za-z]+)\b",
                  right, question, flags=re.IGNORECASE)


def spoken(name: str) -> str:
    """A detector's label as people say it ("dining table" -> "table")."""
    return SPOKEN_NAMES.get(name, name)


def _article_of(word: str) -> str:
    spoken = SPOKEN_NAMES.get(word, word)
    return f"{'an' if spoken[:1] in 'aeiou' else 'a'} {spoken}"


def _count_en(details: SceneDetails, noun: str) -> str | None:
    if noun in {"animals", "animal"}:
        found = matching(details, ANIMALS)
        if not found:
            return None
        total = sum(t.count for t in found)
        listed = _join_en([thing_phrase(t) for t in found])
        return f"I see {_number(total)} {'animal' if total == 1 else 'animals'}: {listed}."
    label = _NAMES.get(noun)
    if label is None:
        return None
    found = matching(details, {label})
    if not found:
        return None
    total = sum(t.count for t in found)
    name = SPOKEN_NAMES.get(label, label)
    if total == 1 and found[0].fills_view:  # one box over the whole view: two cats side by side were one
        return f"I see {_article_of(label)} that fills most of the view, so I can't tell how many there are."
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
    seen = bool(matching(details, labels, sure_only=False))
    if "person" in labels and not seen:
        seen = details.faces > 0 or details.people > 0
    if not seen:
        return None  # the LLM says who or what is not there
    owner = {"his": "his", "her": "her", "their": "their", "its": "its", "he": "his", "she": "her",
             "they": "their", "it": "its"}.get(whose, f"the {who}'s" if who else "their")
    return f"I can't tell {owner} name from what I can see."


# --- shared ---------------------------------------------------------------------------------------


def _number(n: int) -> str:
    return NUMBERS[n] if n < len(NUMBERS) else str(n)


def _join_en(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
