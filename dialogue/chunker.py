"""Splits a streamed reply into pieces that can be spoken one after another.

A piece ends at a sentence end (``.``, ``!``, ``?``, ``…`` followed by a space or
the end of the stream). The first piece may also end earlier, so the first audio does not
wait for a whole first sentence (a model writing 40 four-character tokens a second takes
30-40 ms a word; a local one on two cores, about a dozen tokens a second):

- at a clause end (``,``, ``;``, ``:``, ``—``) once it has ``first_clause_words`` words;
- at the first phrase boundary after ``first_min_words`` words: just before a word that opens
  a new phrase (a preposition such as "with", "in", "from"; a conjunction such as "and", "so",
  "because"; a relative word such as "that", "which", "where"), unless the word before it
  cannot end a phrase ("a", "the", "my", "is", "not", "very", "looking"…: :data:`NO_END`).
  "The camera shows a red board | with a white panel…". The opening word must be complete
  (a space has followed it: "in" may still become "interesting"); after "and"/"or" the next
  word must open a phrase too ("a cup | and a pen", never "a red | and white sign");
- failing both, once ``first_max_words`` words and two more have come with no sentence end,
  after at most ``first_max_words`` words: at the last clause end among them, else after the
  last of them (and at least ``first_min_words`` in) that is not in :data:`NO_END`, else after
  the last of the two more that is not ("I am looking at a red sign | that…"), else after all
  ``first_max_words``. A phrase boundary is taken only if it is known no later than this cut (a piece
  of up to ``first_max_words + 1`` words; one known with the cut loses to a clause end the cut
  has), so the first piece never waits longer than this cut makes it.

A very long sentence is cut at a clause boundary once it passes ``max_chars``, so the first
audio never waits for a paragraph. Chinese punctuation counts too (。！？ end a sentence,
，；：、 a clause), so a Chinese reply's first piece is short as well.

Chinese has no spaces, so for a reply whose text is Chinese (more Han characters than Latin
words) the first piece counts characters instead (a Latin word such as "OPEN" counts as one), with
no word segmentation: it may end just before a word that opens a phrase (:data:`ZH_OPENERS`:
"我看到一块红色的牌子 | 中间有…"; or 和/跟 followed by a pronoun, a demonstrative or a number and a
measure word: "…蓝色的杯子 | 和一张白纸") once it has ``first_min_chars`` characters, unless the
character before cannot end a phrase (:data:`ZH_NO_END`: 的, 一, 个, 这, 很, 在, 把…) or joins the
opener into another word (显然后…, 可以及时, 真正在乎). The opener must be complete and the
character after it seen ("上面的" is no opener); failing that, once ``first_max_chars`` characters and
:data:`LOOKAHEAD_CHARS` more have come with no sentence end, it is cut within the first
``first_max_chars``: at the last clause end (one in the look-ahead too: a few characters more rather
than a cut inside a word, "一个棕 | 色的房间"), else after an aspect particle (了, 着: "…拿着 | 一个杯子"),
else before a word that opens a predicate (看起来, 非常…), else after the last character that may
end a piece with one after it that may start one (not 的, 了, 们, 上…), else after all of them.
"""

from __future__ import annotations

import re

from kernel.text import HAN

LOOKAHEAD_WORDS = 2  # words past ``first_max_words`` that must come with no sentence end before it is cut
# Chinese ends a sentence (。！？) or a clause (，；：、) with no space after it; a sentence end is
# taken once the next character shows no closing quote or bracket follows it.
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|[。！？]+[”’」』）)]*(?=[^”’」』）)])")
_CLAUSE_END = re.compile(r"[,;:—]\s+|[，；：、]")
_WORD = re.compile(r"\S+\s+")  # a complete word: a space has followed it
_EDGE = "\"'“”‘’()[]«»,;:.!?…—-"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that open a new phrase: the first piece may end just before one. Left out on purpose:
# "of", "to", "by", "about", "like", "as", "than", "over", "off", "up", "out" (they bind to the
# word before them: "a sheet | of paper", "next | to", "want | to", "looks | like", "pick | up").
PHRASE_OPENERS = _words(
    "with without within in inside into on onto at from for near behind under underneath beneath above below "
    "beside between across along around against towards toward through during after before since until "
    "and but or so because while when where whereas which who whose that if although though unless"
)
# Words a piece never ends on: they need the words after them.
NO_END = _words(
    # articles, determiners, possessives, quantifiers
    "a an the this that these those my your his her its our their some any no every each either neither "
    "another such what which whose many much several more most less "
    # prepositions and the infinitive "to"
    "of to in on at from for with without within into onto by about like as than over under near through "
    "between behind across along around against towards toward during after before since until upon "
    # auxiliaries, copulas, modals, negation
    "am is are was were be been being has have had do does did can could will would shall should may might must "
    "not never "
    # subject pronouns
    "i we they he she "
    # conjunctions, relative and question words
    "and or but nor so because if whether when where while who whom although though unless whereas "
    # words that modify what comes next
    "very really quite rather just also even almost "
    # verbs that bind the preposition or particle after them ("looking | at", "turn | on the light")
    "look looks looking looked wait waits waiting waited point points pointing pointed listen listening "
    "turn turns turning turned switch switched put puts putting pick picking picked"
)
_CONTRACTION = re.compile(r"(?:'s|'re|'m|'ve|'ll|'d|n't)$")  # "it's", "isn't": a verb that needs what follows
# After "and"/"or" the piece is cut only if the next word opens a phrase as well.
_COORDINATORS = frozenset({"and", "or"})
_PHRASE_STARTS = _words(
    "a an the this that these those my your his her its our their some any no every each another one two three "
    "four five six seven eight nine ten i you he she it we they there then"
)


# Chinese. A "character" is a Han character, a punctuation mark or a Latin word or number (a unit of _UNIT).
LOOKAHEAD_CHARS = 3  # characters past ``first_max_chars`` that must come with no sentence end before it is cut
_LATIN = re.compile(r"[A-Za-z]+")
_UNIT = re.compile(r"[A-Za-z0-9]+(?:[.'’-][A-Za-z0-9]+)*|\S")
_ZH_LOCATIONS = _words("中间 上面 下面 旁边 里面 前面 后面 左边 右边")
# Words that open a new phrase (all of two characters: a cut needs both, and the character after them).
# Left out on purpose: 不过 (also "merely", 不过是, and the complement of 忙不过来, 比不过), 可是 (also the
# emphatic 这可是…), 就是 and 还是 (mostly a copula or "still": "the cup | is just…"), 只是 ("merely"),
# 另外 (mostly "another": 另外一个杯子), 同时 (相同时间), 于是 (等于是), 接着 (紧接着, 接着说); a
# contrast after a clause has a comma before it anyway. Of single characters only 和 and 跟, and only
# before a pronoun, a demonstrative or a number and a measure word (as after "a cup": "| and a pen"; 和
# ends 温和, 暖和, 缓和 and starts 和平: "暖 | 和一些" must not be cut), never 在 (现在, 正在,
# 存在, and after a verb 坐在, 放在), 与 (参与, 给与), 把, 从, 往 (前往, 开往, 服从): the character
# before them joins them into a word too often to know without a dictionary.
ZH_OPENERS = _ZH_LOCATIONS | _words("正在 正从 正往 正朝 还有 以及 所以 因为 但是 而且 并且 或者 如果 虽然 因此 然后")
_ZH_COORDINATORS = "和跟"
_ZH_PHRASE_STARTS = "我你他她它这那每各"  # after 和/跟: "和他", "和这个"; or a number and a measure word
_ZH_NUMERALS = "一二两三四五六七八九十几半0"  # "0": a number in digits
_ZH_MEASURES = "个只支张块条把辆位件颗朵棵盏扇些种双杯瓶本片根台"
# Characters a piece never ends on: they need what follows them.
ZH_NO_END = frozenset(
    "的之地得"  # particles that tie to what follows: "红色的 | 牌子", "慢慢地 | 滑"
    "把被将对给向往从在于以为与和跟及或而并且但因如若虽让叫使令用像比离朝沿按据当"  # prepositions, conjunctions
    "一二两三四五六七八九十几半百千万第每各某这那哪其另"  # numbers, demonstratives, quantifiers
    "个只支张块条辆颗朵棵盏扇种双"  # measure words (not 杯, 瓶, 片: they end nouns, 水杯, 花瓶, 照片; nor 些: 暖和一些)
    "很太最更挺真还也都就才又再正刚已曾不没别未仅只非"  # adverbs: "很 | 大", "正 | 从"
    "是会能要想可应该需必肯敢愿有"  # copula, modals, "有": "有 | 一个"
    "我你他她它您咱"  # subjects: "我 | 和他"
)
# Characters a piece never starts with: they end the word or phrase before them ("牌 | 子", "桌子 | 上").
_ZH_NO_START = frozenset("的地得了着过们子儿吗呢吧啊呀么上下里中内外前后边面间在色")  # 在: "放 | 在"; 色: "棕 | 色"
# Characters that, just before the first character of an opener, make a word with it ("显然 | 后…",
# "可以 | 及时", "真正 | 在乎", "加上 | 面粉"), and just after its last ("上面包", "但是否", "如果汁").
_ZH_JOIN_BEFORE = {
    "中": "其空手心水集正当之途暗家眼高初期命射击看选猜考打适居",
    "上": "马早晚身路以加关锁合爬戴穿贴写放跟赶遇碰爱看配盖挂", "下": "以一地天底乡手部放坐躺蹲留剩写停",
    "旁": "一路两身", "里": "这那哪公手心家城夜村头", "前": "以目提当眼面跟从之事空门",
    "后": "然以之最背身落随今往午前日", "左": "向往靠", "右": "向往靠左", "正": "真反公纠改端修立",
    "还": "归偿退送奉交", "以": "可所难得足予加给借", "所": "之场厕住", "因": "原基病诱死成", "但": "不非",
    "看": "好难耐中", "似": "类相近好", "应": "反适响供对答相", "大": "长伟强巨庞宽放扩远", "而": "然从进反因继转",
    "并": "合吞兼", "或": "偶", "如": "比例譬假何犹宛一",
    "然": "当显突虽既居竟果依仍忽偶必固纵自全断已未默坦安悄茫天公",
    "和": "温柔缓暖平随谦祥饱调总附应唱掺搀违讲共亲中求", "跟": "脚鞋后高紧",
}
_ZH_JOIN_AFTER = {
    "面": "包粉条前对向积具孔临试貌色容料膜谈", "边": "缘界框境疆", "间": "接断", "在": "乎意于", "从": "容而事",
    "往": "往来事返日年常", "朝": "代廷气鲜", "有": "点些", "及": "时格早第", "是": "否非",
    "果": "汁园实冻酱皮核树盘", "了": "解结却然不得", "着": "急火想迷凉陆落手重实眼装",
}
# Words that open a predicate: a cut before one splits a subject from its verb ("那只猫…晒太阳 | 看起来很舒服"),
# so only a cut that must be made takes one, after a clause end and an aspect particle (了, 着).
_ZH_SOFT_OPENERS = _words("看起来 看上去 似乎 一直 非常 比较 已经 应该 可能 大概 也许 慢慢")
_ZH_FRAMES = re.compile(r"[在从往向朝靠]")  # "在桌子 | 上面": a location word closes a frame opened before it
_ZH_BOUND = _words("为了 除了 对着 朝着 向着 沿着 顺着 随着 跟着 照着 冲着 凭着 本着 为着 接着")
_ZH_SENTENCE_END = frozenset("。！？!?….")
_ZH_CLAUSE_END = "，；：、,;:—"


def _is_chinese(text: str) -> bool:
    """Whether ``text`` is Chinese: more Han characters than Latin words (none in English)."""
    han = len(HAN.findall(text))
    return han > 0 and han > len(_LATIN.findall(text))


def _zh_chars(units: list[re.Match[str]]) -> str:
    """One character for each unit: itself, "A" for a Latin word, "0" for a number."""
    return "".join("0" if (u := m.group())[0].isdigit() else "A" if u[0].isascii() and u[0].isalpha() else u[0]
                   for m in units)


def _zh_word(char: str) -> bool:
    return char in "A0" or bool(HAN.match(char))


def _zh_boundary(s: str, k: int) -> bool | None:
    """Whether the first piece may end just before ``s[k]`` (``s``: see :func:`_zh_chars`): before an
    opener whose character before it may end a piece; None while that is not known yet."""
    prev, rest = s[k - 1], s[k:]
    if prev in ZH_NO_END or prev in _ZH_JOIN_BEFORE.get(rest[0], ""):
        return False
    if rest[0] in _ZH_COORDINATORS:
        if len(rest) < 2 or (rest[1] in _ZH_NUMERALS and len(rest) < 3):
            return None
        return rest[1] in _ZH_PHRASE_STARTS or (rest[1] in _ZH_NUMERALS and rest[2] in _ZH_MEASURES)
    if len(rest) < 3:  # the opener and the character after it
        return None if any(opener.startswith(rest) for opener in ZH_OPENERS) else False
    if rest[:2] not in ZH_OPENERS:
        return False
    after = rest[2]
    if not _zh_word(after) or after in "的地得" or after in _ZH_JOIN_AFTER.get(rest[1], ""):
        return False  # "上面的…", "…旁边。", "上面包"
    return not (rest[:2] in _ZH_LOCATIONS and _ZH_FRAMES.search(s[:k]))


def _zh_can_cut(s: str, j: int, level: int) -> bool:
    """Whether a piece may end after ``s[:j]``, before ``s[j]``: at ``level`` 0 only after 了 or 着, at 1
    only before one of :data:`_ZH_SOFT_OPENERS`, at 2 anywhere the two characters allow."""
    last, nxt = s[j - 1], s[j]
    if level == 0 and (last not in "了着" or nxt in _ZH_JOIN_AFTER[last]):
        return False
    if level == 1 and (last in _ZH_JOIN_BEFORE.get(nxt, "") or not any(s.startswith(w, j) for w in _ZH_SOFT_OPENERS)):
        return False
    return last not in ZH_NO_END and nxt not in _ZH_NO_START and s[j - 2 : j] not in _ZH_BOUND


def _bare(word: str) -> str:
    return word.strip().strip(_EDGE).lower().replace("’", "'")


def _can_end(word: str) -> bool:
    """Whether a piece may end on ``word``."""
    bare = _bare(word)
    return bool(bare) and bare not in NO_END and not _CONTRACTION.search(bare)


class SentenceChunker:
    def __init__(
        self,
        *,
        min_chars: int = 2,
        max_chars: int = 220,
        first_clause_words: int = 4,
        first_max_words: int = 0,
        first_min_words: int = 3,
        first_min_chars: int = 6,
        first_max_chars: int = 14,
    ) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.first_clause_words = first_clause_words
        self.first_max_words = first_max_words
        # A phrase boundary may end the first piece after this many words (0: never, and the cut after
        # ``first_max_words`` words is made after all of them: the rule before phrase boundaries).
        self.first_min_words = first_min_words
        # The same for a Chinese reply, in characters (0: never; a Chinese reply's first piece then ends at
        # punctuation, the rule before). Off with the phrase rule (``first_min_words`` 0) too.
        self.first_min_chars = first_min_chars
        self.first_max_chars = first_max_chars
        self._buffer = ""
        self._emitted = False

    def feed(self, text: str) -> list[str]:
        """Add streamed text; returns the pieces now complete."""
        self._buffer += text
        out: list[str] = []
        chinese = not self._emitted and self.first_max_words > 0 and self._chinese_on() and _is_chinese(self._buffer)
        if chinese:  # before the clause rule: a phrase boundary may come before a clause end
            out += self._first_chinese()
        if not out and not self._emitted and self.first_clause_words > 0:
            for clause in _CLAUSE_END.finditer(self._buffer):
                head = self._buffer[: clause.end()]
                if _SENTENCE_END.search(head):
                    break  # a sentence ends first: the sentence rule takes it
                if len(head.split()) >= self.first_clause_words:
                    out.append(head.strip())
                    self._buffer = self._buffer[clause.end() :]
                    break
        if not out and not self._emitted and self.first_max_words > 0 and not chinese:
            out += self._first_phrase() or self._first_words()
        while True:
            match = _SENTENCE_END.search(self._buffer)
            if match is None or match.end() < self.min_chars:
                break
            piece, self._buffer = self._buffer[: match.end()].strip(), self._buffer[match.end() :]
            if piece:
                long, rest = split_long(piece, self.max_chars)
                out += [*long, rest.strip()] if rest.strip() else long
        out += self._cut_long()
        self._emitted = self._emitted or bool(out)
        return out

    def _cut_long(self) -> list[str]:
        pieces, self._buffer = split_long(self._buffer, self.max_chars)
        return pieces

    def _take(self, end: int) -> list[str]:
        piece, self._buffer = self._buffer[:end].strip(), self._buffer[end:]
        return [piece] if piece else []

    def _first_phrase(self) -> list[str]:
        """The first piece ended just before the first word that opens a phrase, once it has
        ``first_min_words`` words, if that is known by the time :meth:`_first_words` would cut."""
        if self.first_min_words <= 0:
            return []
        words = list(_WORD.finditer(self._buffer))
        sentence = _SENTENCE_END.search(self._buffer)
        longest = self.first_max_words + LOOKAHEAD_WORDS - 1
        for k in range(self.first_min_words, min(len(words) - 1, longest) + 1):
            opener = words[k]
            if sentence is not None and sentence.start() < opener.end():
                return []  # a sentence ends first: the sentence rule takes it
            word = opener.group().strip()
            if not word.isalpha() or word.lower() not in PHRASE_OPENERS or not _can_end(words[k - 1].group()):
                continue
            if k > self.first_max_words and _CLAUSE_END.search(self._buffer[: words[self.first_max_words - 1].end()]):
                return []  # known with the cut after the first words, which has a clause end to cut at: it wins
            if word.lower() in _COORDINATORS:
                if k + 1 >= len(words):
                    return []  # "a red and …": wait for the word after it
                if _bare(words[k + 1].group()) not in _PHRASE_STARTS and not words[k + 1].group()[0].isdigit():
                    continue
            return self._take(words[k - 1].end())
        return []

    def _first_words(self) -> list[str]:
        """The first piece cut after at most ``first_max_words`` complete words (a word is complete once
        a space follows it): at the last clause end among them, else after the last of them that may end
        a piece, unless a sentence ends first."""
        words = list(_WORD.finditer(self._buffer))
        if len(words) < self.first_max_words + LOOKAHEAD_WORDS:
            return []  # a sentence that ends within a word or two is left whole
        if _SENTENCE_END.search(self._buffer[: words[self.first_max_words + LOOKAHEAD_WORDS - 1].end()]):
            return []  # a sentence ends soon enough: the sentence rule takes it
        head_end = words[self.first_max_words - 1].end()
        clauses = list(_CLAUSE_END.finditer(self._buffer[:head_end]))
        if clauses:
            return self._take(clauses[-1].end())
        if self.first_min_words > 0:  # 0: the rule before phrase boundaries, cut after all of them
            shortest = min(self.first_min_words, self.first_max_words)
            known = self.first_max_words + LOOKAHEAD_WORDS
            # The last of the first words that may end a piece, else the last of the words known by now.
            for k in [*range(self.first_max_words, shortest - 1, -1), *range(known, self.first_max_words, -1)]:
                if _can_end(words[k - 1].group()):
                    return self._take(words[k - 1].end())
        return self._take(head_end)

    def _chinese_on(self) -> bool:
        return self.first_min_words > 0 and 0 < self.first_min_chars <= self.first_max_chars

    def _zh_stop(self, units: list[re.Match[str]]) -> int:
        """The index of the first unit that ends a sentence, or a clause the clause rule takes (else past the end)."""
        stops = [u.start() for u in units if u.group() in _ZH_SENTENCE_END][:1]
        if self.first_clause_words > 0:
            clauses = _CLAUSE_END.finditer(self._buffer)
            stops += [m.start() for m in clauses if len(self._buffer[: m.end()].split()) >= self.first_clause_words][:1]
        return sum(u.start() < min(stops, default=len(self._buffer)) for u in units)

    def _first_chinese(self) -> list[str]:
        """The first piece of a Chinese reply: ended just before the first opener after ``first_min_chars``
        characters, if that is known by the time ``first_max_chars`` and :data:`LOOKAHEAD_CHARS` more have
        come; else cut within the first ``first_max_chars`` (see the module's docstring)."""
        units = list(_UNIT.finditer(self._buffer))
        s = _zh_chars(units)
        known = self.first_max_chars + LOOKAHEAD_CHARS  # enough to decide on an opener after the first max
        stop = self._zh_stop(units)
        for k in range(self.first_min_chars, min(len(s), self.first_max_chars + 1)):
            if stop < k:
                return []  # a sentence or a clause ends first: the sentence or clause rule takes it
            verdict = _zh_boundary(s, k)
            if verdict is None:
                return []  # wait for the rest of the opener, or the character after it
            if verdict:
                return self._take(units[k - 1].end())
        if len(s) < known or stop < known:
            return []  # a sentence that ends within a few characters is left whole
        # a clause end in the look-ahead too: three characters more, rather than a cut inside a word
        clauses = [j + 1 for j, char in enumerate(s[:known]) if char in _ZH_CLAUSE_END]
        if clauses:
            return self._take(units[clauses[-1] - 1].end())
        # The last of the first characters after which a piece may end, else the last of those known by now.
        most, least = self.first_max_chars, self.first_min_chars
        order = [*range(most, least - 1, -1), *range(known - 1, most, -1)]
        for level in range(3):
            for j in order:
                if _zh_can_cut(s[:known], j, level):
                    return self._take(units[j - 1].end())
        return self._take(units[self.first_max_chars - 1].end())

    def flush(self) -> list[str]:
        """End of the stream: whatever is left, in pieces of at most ``max_chars``."""
        out = self._cut_long()
        piece, self._buffer = self._buffer.strip(), ""
        return [*out, piece] if piece else out


def split_long(text: str, max_chars: int) -> tuple[list[str], str]:
    """Cuts pieces of at most ``max_chars`` off the front of ``text`` while it is longer than that,
    each at its last clause end, else its last space, else (one long word) at ``max_chars``;
    returns them and the rest. Synthesis memory grows with a piece's length (Piper took
    540-700 MB for one 500-character sentence), so no piece may be longer, whatever the text."""
    out = []
    while len(text) > max_chars:
        head = text[: max_chars + 1]
        clauses = list(_CLAUSE_END.finditer(head))
        end = clauses[-1].end() if clauses else head.rfind(" ") + 1
        if end <= 0:
            end = max_chars
        piece, text = text[:end].strip(), text[end:]
        if piece:
            out.append(piece)
    return out, text
