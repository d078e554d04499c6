"""The first spoken piece of a reply: cut early, at a natural phrase boundary, and nothing else changes."""

from __future__ import annotations

import random

import pytest

from dialogue.chunker import NO_END, PHRASE_OPENERS, ZH_NO_END, ZH_OPENERS, SentenceChunker
from dialogue.settings import DialogueSettings
from omnilive.testing import subword_tokens

SETTINGS = DialogueSettings()
REPLIES = {  # shaped like real models' replies → the first piece with the shipped settings
    "The camera shows a red board with a white panel in the middle that says OPEN in large black letters, "
    "so the shop is probably open right now.": "The camera shows a red board",
    "I can see a wooden desk with a blue mug standing next to a sheet of white paper and a yellow pencil "
    "that is slowly sliding across it.": "I can see a wooden desk",
    "Well, it looks like a green ball is rolling from the left side of the frame towards the right in a "
    "fairly dark room.": "Well,",
    "There are three things on the table: a blue mug, a sheet of paper, and a yellow pencil lying on top "
    "of the paper.": "There are three things",
    "Yes, I can read the sign for you. It says 'OPEN'.": "Yes,",
    "A cup, a blue object, and a white rectangle moving left to right.": "A cup,",
}




def chunker(**kwargs: int) -> SentenceChunker:
    shipped = {"first_clause_words": SETTINGS.first_chunk_words, "first_max_words": SETTINGS.first_chunk_max_words}
    return SentenceChunker(**{**shipped, **kwargs})


def stream(c: SentenceChunker, tokens: list[str]) -> list[tuple[int, str]]:
    """Each piece with the index of the token whose arrival completed it (-1: the flush)."""
    out = [(i, piece) for i, token in enumerate(tokens) for piece in c.feed(token)]
    return out + [(-1, piece) for piece in c.flush()]


def words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize(("reply", "first"), REPLIES.items())
def test_first_piece_of_each_reply(reply: str, first: str) -> None:
    tokens = subword_tokens(reply)
    pieces = stream(chunker(), tokens)
    assert pieces[0][1] == first
    assert words(" ".join(p for _, p in pieces)) == words(reply)  # nothing lost, nothing added
    # Only the first piece is cut early: the rest end at sentence ends (or the end of the stream).
    assert all(p.endswith((".", "'.")) for _, p in pieces[1:])
    # It is ready once the word after it is complete: the first token of the word after that.
    done, piece = pieces[0]
    consumed = "".join(tokens[: done + 1])
    if not piece.endswith(","):
        assert consumed.split()[: len(words(piece)) + 1] == words(reply)[: len(words(piece)) + 1]
        assert len(consumed.split()) == len(words(piece)) + 2 and tokens[done].startswith(" ")


def test_the_phrase_rule_is_sooner_or_more_natural_than_the_cut_after_five_words() -> None:
    old: dict[str, tuple[int, str]] = {}
    for reply in REPLIES:
        old[reply] = stream(chunker(first_min_words=0), subword_tokens(reply))[0]
    assert [piece for _, piece in old.values()][:4] == [
        "The camera shows a red", "I can see a wooden", "Well,", "There are three things on the table:"]
    for reply in REPLIES:
        new = stream(chunker(), subword_tokens(reply))[0]
        assert new[0] <= old[reply][0]  # never later
    table = next(r for r in REPLIES if r.startswith("There"))
    assert stream(chunker(), subword_tokens(table))[0][0] == old[table][0] - 3  # "on the" come 3 tokens earlier


@pytest.mark.parametrize(("text", "first"), [
    ("The sign is red and white in the picture. ", "The sign is red and white"),  # never "red | and white"
    ("I see a cup and a pen on the desk. ", "I see a cup"),  # "and" opens a phrase: "and a pen"
    ("I want to go to the shop with my friend. ", "I want to go"),  # the cut after five words steps back off "to"
    ("I think it's in the box on the left. ", "I think it's in the box"),  # not after "it's"
    ("The ball is 3.5 metres from the wall. ", "The ball is 3.5 metres"),  # a decimal point is no sentence end
    ("I am looking at a red sign that says OPEN. ", "I am looking at a red sign"),  # not "looking at a"
    ("The green ball is moving left to right in a dark scene. ", "The green ball is moving"),  # no opener: the cap
    ("It is red. And it is round. ", "It is red."),  # a sentence that ends first is whole
    ("It looks like a small red ball. ", "It looks like a small red ball."),  # ends within two words of the cap
])
def test_first_piece_boundaries(text: str, first: str) -> None:
    pieces = stream(chunker(), subword_tokens(text))
    assert pieces[0][1] == first
    assert words(" ".join(p for _, p in pieces)) == words(text)


def test_an_opening_word_must_be_complete() -> None:
    c = chunker()
    assert c.feed("The ball is rolling in") == []
    assert c.feed("to") == [] and c.feed(" the") == ["The ball is rolling"]  # "into" opens a phrase too
    c = chunker()
    assert [*c.feed("It is an in"), *c.feed("teresting idea"), *c.feed(" and")] == []  # "in" became "interesting"
    c = chunker()
    assert c.feed("I see a cup and") == [] and c.feed(" a") == []  # the word after "and" must be complete
    assert c.feed(" pen") == ["I see a cup"]
    c = chunker()
    assert c.feed("The ball rolled in, ") == ["The ball rolled in,"]  # "in," ends a clause: the clause rule
    c = chunker(first_clause_words=5)
    assert c.feed("The ball rolled in, slowly ") == []  # and is no opener


def test_a_phrase_cut_never_waits_longer_than_the_cut_after_the_first_words() -> None:
    # A boundary after six words is known when the cut after five would come: it wins...
    assert chunker().feed("The camera shows a red board with a ") == ["The camera shows a red board"]
    # ...unless the cut has a clause end to cut at; one after seven words comes too late.
    assert chunker(first_clause_words=4).feed("Yes, I can read the sign for ") == ["Yes,"]
    assert chunker().feed("The big fluffy orange cat sleeps peacefully on ") == ["The big fluffy orange cat"]
    assert chunker(first_max_words=0).feed("The camera shows a red board with a white ") == []  # 0: whole sentences
    assert chunker(first_min_words=0).feed("There are three things on the ") == []  # 0: the rule before


@pytest.mark.parametrize("reply", [*REPLIES, "The sign is red and white in the picture.", "I want to go to the shop."])
def test_a_first_piece_cut_inside_a_sentence_never_ends_on_a_word_that_needs_more(reply: str) -> None:
    for size in (1, 3, 4, 7):
        tokens = [reply[i : i + size] for i in range(0, len(reply), size)]
        piece = stream(chunker(), tokens)[0][1]
        assert words(piece)[-1].lower() not in NO_END
    assert "with" in PHRASE_OPENERS and "of" not in PHRASE_OPENERS and "to" not in PHRASE_OPENERS


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 1000])
def test_any_token_size_gives_the_same_words(size: int) -> None:
    text = " ".join(REPLIES) + " The last words have no full stop"
    tokens = [text[i : i + size] for i in range(0, len(text), size)]
    variants = (chunker(), chunker(first_clause_words=4), chunker(first_max_words=3, first_min_words=2))
    for c in (*variants, SentenceChunker()):
        pieces = [p for _, p in stream(c, tokens)]
        assert all(pieces) and words(" ".join(pieces)) == words(text)
        assert pieces[-1] == "The last words have no full stop"  # the flush


def test_later_behaviour_is_unchanged() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve thirteen, fourteen fifteen. "
    long = [p for _, p in stream(chunker(max_chars=40), subword_tokens(text))]
    assert long == [p for _, p in stream(chunker(max_chars=40, first_min_words=0), subword_tokens(text))]  # as before
    assert long == ["one two three four five", "six seven eight nine ten eleven twelve", "thirteen, fourteen fifteen."]
    c = chunker()
    assert c.feed("Hello there. How are you? I am ") == ["Hello there.", "How are you?"]
    assert c.feed("fine with it ") == []  # only the first piece is cut at a phrase
    assert c.flush() == ["I am fine with it"]
    assert chunker().feed("3.5 degrees ") == [] and chunker().feed("It is 3.5 degrees. Then ") == ["It is 3.5 degrees."]
    c = chunker()
    assert c.feed("Wow! ") == ["Wow!"] and c.feed("The camera shows a red board with a ") == []



def chinese_pieces(text: str, size: int = 2, **kwargs: int) -> tuple[list[str], list[str]]:
    """The pieces of ``text`` streamed ``size`` characters at a time: those out before the flush, and all."""
    chunker = SentenceChunker(first_clause_words=1, first_max_words=5, **kwargs)
    early: list[str] = []
    for i in range(0, len(text), size):
        early += chunker.feed(text[i : i + size])
    return early, early + chunker.flush()


def test_a_chinese_reply_is_cut_at_chinese_clause_and_sentence_ends() -> None:
    text = "我看到一块红色的牌子，上面写着营业中。桌子上还有一个蓝色的杯子！要我再看看吗？"
    early, pieces = chinese_pieces(text)
    assert pieces == ["我看到一块红色的牌子，", "上面写着营业中。", "桌子上还有一个蓝色的杯子！", "要我再看看吗？"]
    assert early[0] == "我看到一块红色的牌子，"  # the first piece is out at its comma, before the sentence ends
    assert "".join(pieces) == text


def test_a_chinese_sentence_end_keeps_its_closing_quote_and_lists_are_cut_at_the_enumeration_comma() -> None:
    _, pieces = chinese_pieces("他说：“今天营业。”然后走了。", size=1)
    assert pieces == ["他说：", "“今天营业。”", "然后走了。"]
    _, pieces = chinese_pieces("桌上有杯子、铅笔和纸。", size=1)
    assert pieces[0] == "桌上有杯子、" and "".join(pieces) == "桌上有杯子、铅笔和纸。"


def test_a_long_chinese_sentence_with_no_punctuation_is_still_cut_at_max_chars() -> None:
    text = "红" * 100 + "。"
    _, pieces = chinese_pieces(text, max_chars=40)
    assert all(len(p) <= 40 for p in pieces) and "".join(pieces) == text


# A Chinese reply's first piece: cut at a phrase boundary too, counted in characters.
ZH_REPLIES = {  # reply → (first piece, index of the token that completes it; the same before the phrase rule)
    "我看到一块红色的牌子中间有一块白色的板子上面用很大的黑字写着营业中，所以这家店现在应该是开着的。":
        ("我看到一块红色的牌子", 8, "我看到一块红色的牌子中间有一块白色的板子上面用很大的黑字写着营业中，", 22),
    "桌子上放着一个蓝色的杯子和一张白纸还有一支黄色的铅笔正在纸上慢慢地滑过去。房间看起来很安静，光线也很好。":
        ("桌子上放着一个蓝色的杯子", 9, "桌子上放着一个蓝色的杯子和一张白纸还有一支黄色的铅笔正在纸上慢慢地滑过去。",
         24),
    "嗯，看起来有一个绿色的球正从画面的左边往右边滚过去，房间里比较暗。": ("嗯，", 0, "嗯，", 0),
    "桌子上有三样东西：一个蓝色的杯子、一张纸和一支放在纸上的黄色铅笔。":
        ("桌子上有三样东西：", 5, "桌子上有三样东西：", 5),
}
ZH_MORE = {  # more shapes → the first piece
    "今天的天气比较暖和一些所以大家都出去玩了。": "今天的天气比较暖和一些",  # never "暖 | 和一些"
    "我看到一张桌子上面的杯子旁边还有一本书。": "我看到一张桌子上面的杯子",  # "上面的" is no opener
    "一只小猫正坐在桌子下面看着窗外的小鸟。": "一只小猫正坐在桌子下面看着",  # "在…下面" is one frame: after 着
    "我觉得画面里显然后面还有一个人在走动。": "我觉得画面里显然后面",  # never "显 | 然后面"
    "我觉得你们可以及时把杯子拿走。": "我觉得你们可以及时把杯子拿走。",  # never "可 | 以及时": whole
    "我看到一个红色的苹果和香蕉放在桌子上面。": "我看到一个红色的苹果和香蕉",  # 和香蕉: no new phrase; not "放 | 在"
    "我看到一个杯子和3个苹果放在桌子上。": "我看到一个杯子",  # 和 before a number and a measure word
    "画面的左边有一个人正在看书而且他好像很开心。": "画面的左边有一个人",
    "画面里有一个人拿着一个杯子慢慢地走过去然后坐在了椅子上。": "画面里有一个人拿着",  # no opener: after 着
    "那只猫一直趴在窗台上晒太阳看起来非常舒服的样子。": "那只猫一直趴在窗台上晒太阳",  # before 看起来
    "红红红红红红红红红红红红红红红红红红红红。": "红红红红红红红红红红红红红红",  # nothing better: after 14
    # The local LLM's own reply: its comma comes 3 characters past 14; it used to be cut "一个棕 | 色的房间".
    "这个房间看起来像是一个棕色的房间，里面有一个杯子和一个蓝色的物体。": "这个房间看起来像是一个棕色的房间，",
    "这个房间看起来像是一个棕色的大房间里面有一个杯子。": "这个房间看起来",  # never "棕 | 色"
}


def first_at(c: SentenceChunker, text: str) -> tuple[int, str]:
    return stream(c, subword_tokens(text))[0]


@pytest.mark.parametrize(("reply", "expected"), ZH_REPLIES.items())
def test_first_piece_of_each_chinese_reply_and_how_much_sooner(reply: str, expected: tuple[str, int, str, int]) -> None:
    first, done, old_first, old_done = expected
    pieces = stream(chunker(), subword_tokens(reply))
    assert pieces[0] == (done, first)
    assert "".join(p for _, p in pieces) == reply  # nothing lost, nothing added
    assert all(p.endswith("。") for _, p in pieces[1:])  # later pieces end at sentence ends, as before
    assert first_at(chunker(first_min_chars=0), reply) == (old_done, old_first)  # the rule before: punctuation only
    assert first_at(chunker(first_min_words=0), reply) == (old_done, old_first)  # off with the English phrase rule


@pytest.mark.parametrize(("text", "first"), ZH_MORE.items())
def test_chinese_first_piece_boundaries(text: str, first: str) -> None:
    pieces = [p for _, p in stream(chunker(), subword_tokens(text))]
    assert pieces[0] == first and "".join(pieces) == text


@pytest.mark.parametrize("reply", [*ZH_REPLIES, *ZH_MORE])
def test_a_chinese_first_piece_never_ends_on_a_character_that_needs_more(reply: str) -> None:
    for size in (1, 2, 3, 5):
        tokens = [reply[i : i + size] for i in range(0, len(reply), size)]
        piece = stream(chunker(), tokens)[0][1]
        assert piece[-1] not in ZH_NO_END
    assert {"的", "一", "个", "这", "很", "在", "把"} <= ZH_NO_END and not {"了", "着", "子"} & ZH_NO_END
    assert {"中间", "还有", "所以"} <= ZH_OPENERS and not {"在", "和", "不过", "就是"} & ZH_OPENERS


@pytest.mark.parametrize("text", [*ZH_REPLIES, *ZH_MORE, "是的，我可以帮你看看。", "我看到一个杯子。"])
def test_any_token_size_gives_the_same_chinese_pieces(text: str) -> None:
    rng = random.Random(text)
    expected = [p for _, p in stream(chunker(), list(text))]
    for _ in range(20):
        tokens, i = [], 0
        while i < len(text):
            n = rng.randint(1, 6)
            tokens, i = [*tokens, text[i : i + n]], i + n
        assert [p for _, p in stream(chunker(), tokens)] == expected
    assert [p for _, p in stream(chunker(), [text])] == expected  # all at once
    assert "".join(expected) == text


@pytest.mark.parametrize(("text", "pieces"), [
    ("是的，我可以帮你看看。", ["是的，", "我可以帮你看看。"]),  # a comma early: the clause rule, as before
    ("这是一个杯子，旁边有一支笔。", ["这是一个杯子，", "旁边有一支笔。"]),
    ("我看到一个杯子。", ["我看到一个杯子。"]),  # a short sentence is whole
    ("好的。桌子上放着一个蓝色的杯子和一张白纸。", ["好的。", "桌子上放着一个蓝色的杯子和一张白纸。"]),  # first only
])
def test_a_short_chinese_sentence_with_early_punctuation_is_unchanged(text: str, pieces: list[str]) -> None:
    assert [p for _, p in stream(chunker(), subword_tokens(text))] == pieces
    assert [p for _, p in stream(chunker(first_min_chars=0), subword_tokens(text))] == pieces


@pytest.mark.parametrize(("text", "first"), [
    ("我看到一块写着OPEN的红色牌子旁边还有一个蓝色的杯子。", "我看到一块写着OPEN的红色牌子"),  # OPEN: one character
    ("我看到一块写着 OPEN 的红色牌子旁边还有一个蓝色的杯子。", "我看到一块写着 OPEN 的红色牌子"),
    ("门口的牌子上写着 OPEN 和 CLOSED 两个词还有一个红色的箭头。", "门口的牌子上写着 OPEN 和 CLOSED 两个词"),
    ("The sign says 营业中 which means open in Chinese. ", "The sign says 营业中"),  # English: the English rule
])
def test_mixed_chinese_and_english(text: str, first: str) -> None:
    for tokens in (subword_tokens(text), list(text)):
        pieces = [p for _, p in stream(chunker(), tokens)]
        assert pieces[0] == first and "".join(pieces).replace(" ", "") == text.replace(" ", "")
