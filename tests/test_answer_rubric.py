"""The answer benchmark's judging (benchmarks/answer_rubric.py) and its question set
(benchmarks/answer_set.py): a right answer passes, each kind of wrong one fails for its reason."""

from __future__ import annotations

import re

import pytest

from benchmarks.answer_rubric import BLIND, NO, UNSURE, Rubric, Tally, judge, unsupported
from benchmarks.answer_set import SETS, VOICES, count_asks

CUP = ["a cup on a table"]


def test_the_rubric_needs_every_must_and_no_must_not() -> None:
    where = Rubric(must=(r"\bright\b",), must_not=(r"\btowards?\b", r"\bleft\b"))
    assert judge(where, "The green ball is rolling to the right.", ["a green round object moving to the right"],
                 "Where is the green ball going?").correct
    wrong = judge(where, "The green ball is going towards the camera.", ["a green round object moving to the right"],
                  "Where is the green ball going?")
    assert not wrong.correct and wrong.misses == (r"\bright\b",) and wrong.breaks == (r"\btowards?\b",)
    assert wrong.hallucinated  # a claim the scene contradicts


def test_a_thing_the_description_does_not_hold_is_unsupported() -> None:
    # The answer users met: the photo's description had a table in it, the answer named only that.
    assert unsupported("There is a dining table in front of me.", ["a cup, a dining table"], "What is on it?") == []
    assert unsupported("There is a blue mug on the desk.", CUP, "What is on the table?") == ["blue"]
    assert unsupported("I see a cat and a dog.", ["a cat on a brown background"], "What animal?") == ["dog"]
    # Denied, or named by the question: no claim.
    assert unsupported("No, there is no dog here, only a cat.", ["a cat"], "Is there a dog here?") == []
    assert unsupported("I don't see any dog.", ["a cat"], "What is there?") == []
    assert unsupported("The cups are white.", ["two white cups"], "What colour?") == []  # plural of a supported word
    assert set(unsupported("两个人在桌子旁边。", ["一个人"], "有几个人？", "zh")) == {"两", "桌"}
    assert unsupported("没有狗，只有一只猫。", ["一只猫"], "有狗吗？", "zh") == []
    # read off the sign, not made up
    assert unsupported("上面写着“关门”。", ["一个红色的长方形；写着“关门”"], "牌子上写的是什么？", "zh") == []


def test_a_verdict_counts_blindness_and_refusals() -> None:
    blind = judge(Rubric(must=(r"\bcup\b",)), "I cannot see right now.", CUP, "What is on the table?")
    assert blind.blind and blind.refused and not blind.correct
    unsure = judge(Rubric(must=(UNSURE,)), "I can't tell what is in the cup; I see a cup on a table.", CUP,
                   "What is in the cup?")
    assert unsure.correct and unsure.refused and not unsure.blind
    for answered in ("No, I don't see a dog. I see a cup.", "没有，我没看到狗。"):
        said = judge(Rubric(), answered, CUP, "Is there a dog?", language="zh" if "没" in answered else "en")
        assert not said.refused, answered
    guess = judge(Rubric(must=(UNSURE,), must_not=(r"\bcoffee\b",)), "It is coffee.", CUP, "What is in the cup?")
    assert not guess.correct and guess.hallucinated
    for no in ("No, there is no dog.", "I cannot see anyone there.", "Nobody is there.", "I don't see a dog."):
        assert re.search(NO, no, re.IGNORECASE), no
    assert not re.search(NO, "Yes, there is a person.", re.IGNORECASE)
    assert not BLIND.search("I can't see a dog, only a cat.")


def test_the_tally_gives_rates_and_first_token_quantiles() -> None:
    tally = Tally()
    rubric = Rubric(must=(r"\bcup\b",))
    answers = (("A cup.", 400.0), ("A cup on a table.", 500.0), ("A dog.", 900.0), ("I cannot see right now.", 600.0))
    for answer, ms in answers:
        tally.add(judge(rubric, answer, CUP, "What is there?", first_token_ms=ms))
    assert tally.rate("correct") == 0.5 and tally.rate("hallucinated") == 0.25 and tally.rate("blind") == 0.25
    assert tally.first_token_ms(0.5) == 600.0 and tally.first_token_ms(0.9) == 900.0
    assert "accuracy 50.0%" in tally.line()


@pytest.mark.parametrize("name", sorted(SETS))
def test_each_set_asks_enough_of_every_kind_in_both_languages(name: str) -> None:
    scenes = SETS[name]
    kinds = count_asks(scenes)
    asks = [a for s in scenes for a in s.asks]
    if name == "tuning":
        assert len(asks) >= 60, len(asks)
        assert {"objects", "count", "people", "text", "colour", "position", "motion", "absent", "unsure"} <= set(kinds)
    assert {a.language for a in asks} == {"en", "zh"}
    assert all(a.language == s.language for s in scenes for a in s.asks)
    assert all(a.rubric.must for a in asks)  # every question says what a right answer holds
    for patterns in (a.rubric.must + a.rubric.must_not for a in asks):
        for p in patterns:
            re.compile(p)
    assert all(len(VOICES[name][language]) >= 3 for language in ("en", "zh"))


def test_the_unseen_set_shares_no_scene_or_voice_with_the_tuning_set() -> None:
    tuning, unseen = SETS["tuning"], SETS["unseen"]
    assert not {s.name for s in tuning} & {s.name for s in unseen}
    asked = {a.question for s in tuning for a in s.asks}
    assert sum(a.question in asked for s in unseen for a in s.asks) <= 3  # a few common questions, in other scenes
    tuned = {(v.engine, v.variant, v.rate) for vs in VOICES["tuning"].values() for v in vs}
    assert sum((v.engine, v.variant, v.rate) in tuned for v in VOICES["unseen"]["en"]) == 0
