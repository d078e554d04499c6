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
"""

from __future__ import annotations

import re

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
    ) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.first_clause_words = first_clause_words
        self.first_max_words = first_max_words
        # A phrase boundary may end the first piece after this many words (0: never, and the cut after
        # ``first_max_words`` words is made after all of them: the rule before phrase boundaries).
        self.first_min_words = first_min_words
        self._buffer = ""
        self._emitted = False

    def feed(self, text: str) -> list[str]:
        """Add streamed text; returns the pieces now complete."""
        self._buffer += text
        out: list[str] = []
        if not self._emitted and self.first_clause_words > 0:
            for clause in _CLAUSE_END.finditer(self._buffer):
                head = self._buffer[: clause.end()]
                if _SENTENCE_END.search(head):
                    break  # a sentence ends first: the sentence rule takes it
                if len(head.split()) >= self.first_clause_words:
                    out.append(head.strip())
                    self._buffer = self._buffer[clause.end() :]
                    break
        if not out and not self._emitted and self.first_max_words > 0:
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
