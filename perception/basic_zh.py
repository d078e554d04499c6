"""The basic describer's line in Chinese: what :func:`perception.basic.render` says, in short,
plain Chinese, for a session in ``zh`` (or a Chinese question in ``auto``):

    一个蓝色的物体，还有一个白色的长方形正在往右边移动，背景是棕色；写着“OPEN”

Colours, forms, motion and the COCO detector's names are translated from tables; a name the
tables do not hold (another detector's) is said as it was given. Counts are Chinese numerals
with a measure word ("两个人", "三只猫", "两张脸"). Text read from the frame is never translated.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from .scene import SceneDetails, SeenShape, Wording, arrange, asks_about, mentions_people
from .things import Thing, absent

# Every colour name of perception.shapes.colour_labels.
COLOURS = {
    "black": "黑色", "white": "白色", "gray": "灰色", "brown": "棕色", "pink": "粉色", "red": "红色",
    "orange": "橙色", "yellow": "黄色", "green": "绿色", "cyan": "青色", "blue": "蓝色", "purple": "紫色",
}
FORMS = {"round object": "圆形物体", "oval object": "椭圆形物体", "rectangle": "长方形", "square": "正方形",
         "object": "物体"}
# "往右边移动", not "从左往右移动": with the "左" in it, the local LLM answered "where is it going" with the left.
MOTIONS = {"moving to the right": "往右边移动", "moving to the left": "往左边移动",
           "moving down": "往下移动", "moving up": "往上移动"}
LIGHT = {"dark": "画面很暗", "very dark": "画面非常暗"}

# The COCO names of perception.objects, each with its Chinese name and measure word.
OBJECTS: dict[str, tuple[str, str]] = {
    "person": ("人", "个"), "bicycle": ("自行车", "辆"), "car": ("汽车", "辆"), "motorcycle": ("摩托车", "辆"),
    "airplane": ("飞机", "架"), "bus": ("公交车", "辆"), "train": ("火车", "列"), "truck": ("卡车", "辆"),
    "boat": ("船", "艘"), "traffic light": ("红绿灯", "个"), "fire hydrant": ("消防栓", "个"),
    "stop sign": ("停车标志", "个"), "parking meter": ("停车计时器", "个"), "bench": ("长椅", "张"),
    "bird": ("鸟", "只"), "cat": ("猫", "只"), "dog": ("狗", "只"), "horse": ("马", "匹"), "sheep": ("羊", "只"),
    "cow": ("牛", "头"), "elephant": ("大象", "头"), "bear": ("熊", "头"), "zebra": ("斑马", "匹"),
    "giraffe": ("长颈鹿", "只"), "backpack": ("背包", "个"), "umbrella": ("雨伞", "把"),
    "handbag": ("手提包", "个"), "tie": ("领带", "条"), "suitcase": ("行李箱", "个"), "frisbee": ("飞盘", "个"),
    "skis": ("滑雪板", "副"), "snowboard": ("滑雪板", "块"), "sports ball": ("球", "个"), "kite": ("风筝", "只"),
    "baseball bat": ("棒球棒", "根"), "baseball glove": ("棒球手套", "只"), "skateboard": ("滑板", "块"),
    "surfboard": ("冲浪板", "块"), "tennis racket": ("网球拍", "把"), "bottle": ("瓶子", "个"),
    "wine glass": ("酒杯", "个"), "cup": ("杯子", "个"), "fork": ("叉子", "把"), "knife": ("刀", "把"),
    "spoon": ("勺子", "把"), "bowl": ("碗", "个"), "banana": ("香蕉", "根"), "apple": ("苹果", "个"),
    "sandwich": ("三明治", "个"), "orange": ("橙子", "个"), "broccoli": ("西兰花", "棵"),
    "carrot": ("胡萝卜", "根"), "hot dog": ("热狗", "个"), "pizza": ("披萨", "个"), "donut": ("甜甜圈", "个"),
    "cake": ("蛋糕", "个"), "chair": ("椅子", "把"), "couch": ("沙发", "张"), "potted plant": ("盆栽", "盆"),
    "bed": ("床", "张"), "dining table": ("桌子", "张"), "toilet": ("马桶", "个"), "tv": ("电视", "台"),
    "laptop": ("笔记本电脑", "台"), "mouse": ("鼠标", "个"), "remote": ("遥控器", "个"),
    "keyboard": ("键盘", "个"), "cell phone": ("手机", "部"), "microwave": ("微波炉", "台"),
    "oven": ("烤箱", "台"), "toaster": ("烤面包机", "台"), "sink": ("水槽", "个"),
    "refrigerator": ("冰箱", "台"), "book": ("书", "本"), "clock": ("钟", "个"), "vase": ("花瓶", "个"),
    "scissors": ("剪刀", "把"), "teddy bear": ("泰迪熊", "只"), "hair drier": ("吹风机", "个"),
    "toothbrush": ("牙刷", "把"),
}
_IRREGULAR = {"people": "person", "mice": "mouse", "knives": "knife", "tables": "dining table"}
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9}
_OTHER_DETERMINERS = {"some": "一些", "many": "很多", "no": "没有", "the": ""}
_DIGITS = "零一二三四五六七八九"


# The text read as "写着“…”" ("it says"), not a label such as "文字：…": the local LLM copied a label into
# its answer ("文字：OPEN") and read the sign back more often with this (9 of 12 tries against 7).
CHINESE = Wording("没有人脸或人", "写着“", "”", "没有可读的文字", "；", "没有我能叫出名字的东西")


def render_zh(details: SceneDetails, question: str | None = None) -> str:
    """:func:`perception.basic.render` in Chinese: the things seen, then "写着“...”". A question
    about text puts the text (or "没有可读的文字") first; one about people puts faces and people first."""
    _, wants_people = asks_about(question)
    placed_people = [t for t in details.things if t.name == "person"]
    if placed_people:  # the detector's people: a face it found is one of them
        who = [_thing_zh(t) for t in placed_people]
        phrases, clauses = _placed_zh([t for t in details.things if t.name != "person"])
        if not wants_people:
            clauses = [w for w in who if _placed(w)] + clauses
            phrases = [w for w in who if not _placed(w)] + phrases
    else:
        people = 0 if mentions_people(details.objects) else details.people
        who = [count_zh(n, measure, noun) for n, measure, noun in ((details.faces, "张", "脸"), (people, "个", "人"))
               if n]
        phrases, clauses = _placed_zh(details.things) if details.things else (_object_phrases(details.objects), [])
        phrases += [] if wants_people else who
    still, moving = _shape_phrases(details.shapes)
    scene = "，".join(part for part in (_join(phrases + still), *clauses) if part)
    # What moves gets a clause of its own: a small language model reads "一个绿色的圆形物体正在往右边移动"
    # as the ball's direction more often than the same words as an attribute ("一个往右边移动的…").
    for clause in moving:
        scene = f"{scene}，还有{clause}" if scene else clause
    on_surface = any(t.on for t in details.things)
    if details.plain and not scene:
        scene = f"一片纯{_colour(details.plain)}的画面"
    elif details.background and details.background != "black" and not on_surface and (scene or not
                                                                                          (wants_people and who)):
        bg = _colour(details.background)
        scene = f"{scene}，背景是{bg}" if scene else f"没有我能叫出名字的东西，大部分是{bg}"
    if details.light and not details.plain:
        light = LIGHT.get(details.light, details.light)
        scene = f"{scene}，{light}" if scene else light

    gone = absent(asked_things_zh(question), details.things, details.objects)
    missing = [f"没有{object_zh(label)[0]}" for label in gone]
    return arrange(scene, "、".join(who), details.text, question, CHINESE, missing)


# Chinese names found in a question: those of two characters or more, and these animals (a single
# character such as 钟 "clock" is also part of other words: 分钟 "minute").
_ONE_CHARACTER = frozenset({"猫", "狗", "鸟"})


def asked_things_zh(question: str | None) -> list[str]:
    """The detector's names of the things a Chinese question names ("这里有狗吗？" -> ["dog"])."""
    text = question or ""
    return [label for label, (noun, _) in OBJECTS.items()
            if label != "person" and label != "sports ball" and (len(noun) >= 2 or noun in _ONE_CHARACTER)
            and noun in text]


WHERE = {"left": "左边", "middle": "中间", "right": "右边"}


def _thing_zh(thing: Thing) -> str:
    """"一个蓝色的杯子", "左边有一只猫": a placed thing in Chinese."""
    noun, measure = object_zh(thing.name)
    noun = f"装着{_colour(thing.holds)}东西的{noun}" if thing.holds else noun  # "装着橙色东西的杯子"
    phrase = count_zh(thing.count, measure, f"{_colour(thing.colour)}的{noun}" if thing.colour else noun)
    if not thing.sure:  # "可能有一只猫": a guess is a clause of its own
        return f"{WHERE.get(thing.where, '')}可能有{phrase}"
    return f"{WHERE[thing.where]}有{phrase}" if thing.where else phrase


def _placed(phrase: str) -> bool:
    return phrase.startswith((*WHERE.values(), "可能有"))


def _placed_zh(things: Sequence[Thing]) -> tuple[list[str], list[str]]:
    """The things said as a list ("一个杯子"), and those said as clauses of their own: placed
    ("左边有一只猫") or on a surface ("桌子上有一个杯子")."""
    phrases: list[str] = []
    clauses: list[str] = []
    on: dict[str, list[Thing]] = {}
    for thing in things:
        said = _thing_zh(thing)
        if thing.on:
            on.setdefault(thing.on, []).append(thing)
        elif _placed(said):
            clauses.append(said)
        else:
            phrases.append(said)
    for surface, held in on.items():
        maybe = "" if all(t.sure for t in held) else "可能"
        said = _join([_thing_zh(dataclasses.replace(t, where="", sure=True)) for t in held])
        clauses.append(f"{object_zh(surface)[0]}上{maybe}有{said}")
    return phrases, clauses


def number_zh(n: int) -> str:
    """A count in Chinese numerals, as said before a measure word (2 is 两); past 99 in digits."""
    if n == 2:
        return "两"
    if n < 10:
        return _DIGITS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")
    return str(n)


def count_zh(n: int, measure: str, noun: str) -> str:
    return f"{number_zh(n)}{measure}{noun}"


def object_zh(name: str) -> tuple[str, str]:
    """A detector's name in Chinese with its measure word; a name the table lacks is kept, with 个."""
    return OBJECTS.get(name.lower(), (name, "个"))


def _object_phrases(objects: Sequence[str]) -> list[str]:
    """Bare names counted (["cup", "cup"] -> ["两个杯子"]); phrases counted in English
    ("two people", "a cup", as :meth:`perception.objects.ObjectDetector.names` gives them) translated."""
    phrases = []
    for name, n in Counter(objects).items():
        first, _, rest = name.partition(" ")
        determiner = first.lower()
        if rest and (determiner in _COUNTS or determiner.isdigit()):
            noun, measure = object_zh(_singular(rest))
            count = _COUNTS.get(determiner) or int(determiner)
            phrases.extend([count_zh(count, measure, noun)] * n)
        elif rest and determiner in _OTHER_DETERMINERS:
            phrases.extend([_OTHER_DETERMINERS[determiner] + object_zh(_singular(rest))[0]] * n)
        else:
            noun, measure = object_zh(name)
            phrases.append(count_zh(n, measure, noun))
    return phrases


def _singular(noun: str) -> str:
    """The table's name for an English plural ("people" -> "person", "wine glasses" -> "wine glass");
    a noun it cannot find is returned as it is."""
    noun = noun.strip().lower()
    if noun in OBJECTS:
        return noun
    if noun in _IRREGULAR:
        return _IRREGULAR[noun]
    for ending, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if noun.endswith(ending) and noun[: -len(ending)] + replacement in OBJECTS:
            return noun[: -len(ending)] + replacement
    return noun


def _shape_phrases(shapes: Sequence[SeenShape]) -> tuple[list[str], list[str]]:
    """The still shapes (["一个蓝色的物体", ...]) and the moving ones as clauses
    (["两个白色的长方形正在往右边移动", ...]), each largest first."""
    counts = Counter((seen.shape.colour, seen.shape.form, seen.motion) for seen in shapes)
    still, moving = [], []
    for (colour, form, motion), n in counts.items():
        thing = count_zh(n, "个", f"{_colour(colour)}的{FORMS.get(form, form)}")
        if motion:
            moving.append(f"{thing}正在{MOTIONS.get(motion, motion)}")
        else:
            still.append(thing)
    return still, moving


def _colour(name: str) -> str:
    return COLOURS.get(name, name)


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + "和" + items[-1]
