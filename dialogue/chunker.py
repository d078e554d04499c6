"""Splits a streamed reply into pieces that can be spoken one after another.

A piece ends at a sentence end (``.``, ``!``, ``?``, ``…`` followed by a space or
the end of the stream). The first piece may also end at a clause end (``,``, ``;``,
``:``, ``—``) once it has ``first_clause_words`` words, so the first audio does not
wait for a whole first sentence; and when no clause or sentence has ended within its first
``first_max_words`` words (and two more have come), it is cut after them, at the last clause end among them if there
is one: a local model writes about a dozen tokens a second on two cores, and a first sentence
of twelve words would otherwise hold the first audio back by a second. A very long sentence
is cut at a clause boundary once it passes ``max_chars``, so the first audio never waits
for a paragraph.
"""

from __future__ import annotations

import re

LOOKAHEAD_WORDS = 2  # words past ``first_max_words`` that must come with no sentence end before it is cut
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+")
_CLAUSE_END = re.compile(r"[,;:—]\s+")


class SentenceChunker:
    def __init__(
        self, *, min_chars: int = 2, max_chars: int = 220, first_clause_words: int = 4, first_max_words: int = 0
    ) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.first_clause_words = first_clause_words
        self.first_max_words = first_max_words
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
            out += self._first_words()
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

    def _first_words(self) -> list[str]:
        """The first piece cut after ``first_max_words`` complete words (a word is complete once
        a space follows it), at the last clause end among them if any, unless a sentence ends first."""
        words = list(re.finditer(r"\S+\s+", self._buffer))
        if len(words) < self.first_max_words + LOOKAHEAD_WORDS:
            return []  # a sentence that ends within a word or two is left whole
        if _SENTENCE_END.search(self._buffer[: words[self.first_max_words + LOOKAHEAD_WORDS - 1].end()]):
            return []  # a sentence ends soon enough: the sentence rule takes it
        head_end = words[self.first_max_words - 1].end()
        head = self._buffer[:head_end]
        clauses = list(_CLAUSE_END.finditer(head))
        end = clauses[-1].end() if clauses else head_end
        piece, self._buffer = self._buffer[:end].strip(), self._buffer[end:]
        return [piece] if piece else []

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
