"""How `benchmarks/answers.py` judges a spoken answer: a rubric per question, and the claims an
answer makes that the camera's description does not support.

A :class:`Rubric` says what the answer must say (every pattern in ``must`` matches) and what it
must not say (no pattern in ``must_not`` matches: those are claims the scene contradicts). On top
of the rubric, :func:`unsupported` lists the things, colours and counts an answer names that neither
the descriptions in its prompt nor the question mention: a hallucination even where the rubric is
met. An answer is right when the rubric holds and it names nothing unsupported.

Patterns are regular expressions, matched without case. Chinese patterns are matched as they are
(no word boundaries there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Words for "there is none", "I can't tell" and "I cannot see", for the rubrics and the counts.
NO = (r"\b(no|not|nobody|none|nothing|isn't|aren't|don't|doesn't)\b|\bno one\b|"
      r"can(?:no|')t see (?:a|an|any|anyone|anybody|someone|your|the)\b")
NO_ZH = r"没有|没看到|看不到|不是|并没有|无人"
UNSURE = (r"can(?:no|')t (?:tell|say|know|determine|be sure|see (?:what|whether|if|the|its|their))|can not tell|"
          r"not sure|unsure|don't know|do not know|no way (?:to|of) (?:tell|know)|unable to (?:tell|say|determine|see)|"
          r"hard to (?:tell|say)|(?:doesn't|does not|don't|do not) (?:say|show|tell|mention)|not clear|unclear|"
          r"no (?:information|details?|way)|isn't (?:clear|visible)|not visible|only (?:see|know)|"
          r"not (?:specified|given|mentioned|known|provided|stated|described|shown)|(?:no|not) mention|"
          r"(?:don't|do not) see (?:the|a|an|any|their|its|his|her)\b")
UNSURE_ZH = r"不知道|看不出|无法|不能确定|不确定|不清楚|说不准|判断不了|看不清|没有(?:提到|说明|显示)|只能看到|不能判断"
# A reply that opens with yes or no has answered, whatever follows ("No, I don't see a cat." is no refusal).
ANSWERED = re.compile(r"\s*(?:(?:yes|no)\b|没有，|有，)", re.IGNORECASE)
# What an assistant says when it believes it has no picture. With a fresh description in the prompt,
# saying so is a failure whatever the rubric (the "no 'I cannot see'").
BLIND = re.compile(
    r"can(?:no|')t see (?:right now|anything|at the moment|at all)|unable to see (?:right now|anything)|"
    r"(?:don't|do not) have (?:access to )?(?:a |any |the )?(?:camera|picture|image|visual)|no picture|"
    r"as an ai|i(?:'m| am) (?:just )?a (?:text|language model)|can't view|cannot view|"
    r"现在看不到|看不见任何|无法看到|我看不到画面|没有画面",
    re.IGNORECASE,
)

# The vocabulary of claims: the detector's COCO names (with the words people use for them), the
# describer's colours and forms, and counts. An answer naming one the description lacks claims it.
THINGS: dict[str, tuple[str, ...]] = {
    # claim word -> words in a description that support it
    "person": ("person", "people", "face", "man", "woman"), "people": ("person", "people", "face"),
    "man": ("person", "people", "face", "man"), "woman": ("person", "people", "face", "woman"),
    "astronaut": (), "child": ("person",), "boy": ("person",), "girl": ("person",),
    "cat": ("cat",), "kitten": ("cat",), "dog": ("dog",), "puppy": ("dog",), "bird": ("bird",), "horse": ("horse",),
    "cup": ("cup", "mug"), "mug": ("cup", "mug"), "coffee": ("coffee",), "tea": (), "bowl": ("bowl",),
    "plate": (), "saucer": (), "spoon": ("spoon",), "bottle": ("bottle",), "glass": ("glass",),
    "table": ("table",), "desk": ("table", "desk"), "chair": ("chair",), "sofa": ("couch",), "couch": ("couch",),
    "bed": ("bed",), "laptop": ("laptop",), "phone": ("phone",), "book": ("book",), "clock": ("clock",),
    "ball": ("ball",), "car": ("car",), "bicycle": ("bicycle",), "bike": ("bicycle", "motorcycle"),
    "motorcycle": ("motorcycle",), "motorbike": ("motorcycle",), "truck": ("truck",), "bus": ("bus",),
    "rocket": (), "tree": (), "plant": ("plant",), "flower": (), "window": (), "door": (), "sky": (),
    "water": (), "pencil": (), "paper": (), "sign": ("sign", "text"), "flag": (), "hat": (), "shirt": (),
    "tv": ("tv",), "keyboard": ("keyboard",), "umbrella": ("umbrella",),
    "red": ("red",), "green": ("green",), "blue": ("blue",), "yellow": ("yellow",), "orange": ("orange",),
    "purple": ("purple",), "pink": ("pink",), "brown": ("brown",), "white": ("white",), "black": ("black",),
    "gray": ("gray", "grey"), "grey": ("gray", "grey"),
    "two": ("two",), "three": ("three",), "four": ("four",), "five": ("five",),
}
THINGS_ZH: dict[str, tuple[str, ...]] = {
    "人": ("人", "脸"), "猫": ("猫",), "狗": ("狗",), "鸟": ("鸟",), "杯": ("杯",), "碗": ("碗",), "咖啡": ("咖啡",),
    "桌": ("桌",), "椅": ("椅",), "沙发": ("沙发",), "床": ("床",), "电脑": ("电脑",), "手机": ("手机",),
    "书": ("书",), "球": ("球",), "汽车": ("汽车",), "摩托": ("摩托",), "自行车": ("自行车",), "火箭": (),
    "树": (), "花": (), "窗": (), "门": (), "天空": (), "水": (),
    "红": ("红",), "绿": ("绿",), "蓝": ("蓝",), "黄": ("黄",), "橙": ("橙",), "紫": ("紫",), "粉": ("粉",),
    "棕": ("棕",), "白": ("白",), "黑": ("黑",), "灰": ("灰",),
    "两": ("两",), "三": ("三",), "四": ("四",),
}
# Words that mean a thing is being denied, not claimed, when they come shortly before it.
_DENIAL = re.compile(r"\b(no|not|any|nor|without|isn't|aren't|don't|doesn't|never|or)\b[^.;!?]{0,30}$", re.IGNORECASE)
_DENIAL_ZH = re.compile(r"(没有|不是|没|无|不)[^。；！？，]{0,6}$")


@dataclass(frozen=True, slots=True)
class Rubric:
    """What one answer must and must not say."""

    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()

    def misses(self, answer: str) -> list[str]:
        """The ``must`` patterns the answer does not meet."""
        return [p for p in self.must if not re.search(p, answer, re.IGNORECASE)]

    def breaks(self, answer: str) -> list[str]:
        """The ``must_not`` patterns the answer meets."""
        return [p for p in self.must_not if re.search(p, answer, re.IGNORECASE)]


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one answer did."""

    answer: str
    misses: tuple[str, ...] = ()  # rubric patterns not met
    breaks: tuple[str, ...] = ()  # claims the rubric forbids
    unsupported: tuple[str, ...] = ()  # claims neither the description nor the question supports
    blind: bool = False  # it said it cannot see, with a fresh description in its prompt
    refused: bool = False  # it said it cannot tell or cannot see
    first_token_ms: float | None = None

    @property
    def correct(self) -> bool:
        return not (self.misses or self.breaks or self.unsupported or self.blind)

    @property
    def hallucinated(self) -> bool:
        return bool(self.breaks or self.unsupported)


def unsupported(answer: str, descriptions: Iterable[str], question: str, language: str = "en") -> list[str]:
    """The claim words of ``answer`` (things, colours, counts) that no description and not the question
    mention, leaving out those it denies ("there is no dog", "没有狗")."""
    known = " ".join([*descriptions, question]).lower()
    found = []
    if language == "zh":
        for word, support in THINGS_ZH.items():
            for m in re.finditer(re.escape(word), answer):
                if word in question or word in known or any(s in known for s in support):
                    continue
                if _DENIAL_ZH.search(answer[: m.start()]):
                    continue
                found.append(word)
                break
        return found
    known_words = set(re.findall(r"[a-z]+", known))
    known_words |= {w[:-2] if w.endswith("es") and w[:-2] in THINGS else w[:-1] for w in known_words if w.endswith("s")}
    for m in re.finditer(r"[a-z]+", answer.lower()):
        word = m.group(0)
        word = word[:-1] if word.endswith("s") and word[:-1] in THINGS and word not in THINGS else word
        support = THINGS.get(word)
        if support is None or word in known_words or any(s in known_words for s in support):
            continue
        if _DENIAL.search(answer[: m.start()]):
            continue
        if word not in found:
            found.append(word)
    return found


def judge(rubric: Rubric, answer: str, descriptions: Sequence[str], question: str, *, language: str = "en",
          first_token_ms: float | None = None) -> Verdict:
    """One answer against its rubric and the descriptions that were in its prompt."""
    refused_pattern = UNSURE_ZH if language == "zh" else UNSURE
    blind = bool(BLIND.search(answer))
    return Verdict(
        answer=answer,
        misses=tuple(rubric.misses(answer)),
        breaks=tuple(rubric.breaks(answer)),
        unsupported=tuple(unsupported(answer, descriptions, question, language)),
        blind=blind,
        refused=blind or (bool(re.search(refused_pattern, answer, re.IGNORECASE)) and not ANSWERED.match(answer)),
        first_token_ms=first_token_ms,
    )


@dataclass(slots=True)
class Tally:
    """Verdicts counted: accuracy, hallucination, refusal and blind rates, first-token times."""

    verdicts: list[Verdict] = field(default_factory=list)

    def add(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)

    def rate(self, attribute: str) -> float:
        if not self.verdicts:
            return 0.0
        return sum(bool(getattr(v, attribute)) for v in self.verdicts) / len(self.verdicts)

    def first_token_ms(self, quantile: float = 0.5) -> float | None:
        times = sorted(v.first_token_ms for v in self.verdicts if v.first_token_ms is not None)
        if not times:
            return None
        return times[min(len(times) - 1, int(quantile * len(times)))]

    def line(self) -> str:
        p50, p90 = self.first_token_ms(0.5), self.first_token_ms(0.9)
        ft = f"first token p50 {p50:.0f} ms, p90 {p90:.0f} ms" if p50 is not None and p90 is not None else "no times"
        return (f"{len(self.verdicts)} answers: accuracy {self.rate('correct'):.1%}, hallucinations "
                f"{self.rate('hallucinated'):.1%}, refusals {self.rate('refused'):.1%}, "
                f"'cannot see' {self.rate('blind'):.1%}; {ft}")
