"""The transcript search syntax, read in Python: words, "phrases", -without, or.

PostgreSQL reads a query with ``websearch_to_tsquery``; SQLite (the embedded
default of a first run) has no such function, so ``parse`` reads the same
syntax into an OR of AND-groups of terms, which ``conversations.selectors``
turns into ``icontains`` conditions there. The same parse finds the words to
highlight in a snippet or a transcript on either database
(``highlight``), so what is marked is what was searched.

As ``websearch_to_tsquery`` reads it: words side by side must all match;
``"exact phrase"`` matches those words in that order; a ``-`` before a word
or phrase excludes it; ``or`` between two items matches either, binding
looser than the implicit "and" (``a b or c`` is ``(a and b) or c``); a
leading or trailing ``or`` is a word. Lone punctuation is ignored.
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

WORD = re.compile(r"\w+")
# Letters unicodedata does not decompose, as PostgreSQL's unaccent rules write them.
_UNACCENT = str.maketrans(
    {"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ß": "ss", "æ": "ae", "œ": "oe"}
)


@dataclass(frozen=True)
class Term:
    """A word or a quoted phrase, as typed (``text``), and its words."""

    text: str
    negated: bool = False
    phrase: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(WORD.findall(self.text))


# An OR of AND-groups: ((a, b), (c,)) is "(a and b) or c".
Expression = tuple[tuple[Term, ...], ...]


def parse(query: str) -> Expression:
    """The query's OR of AND-groups; an empty tuple when it names no word."""
    groups: list[tuple[Term, ...]] = []
    group: list[Term] = []
    for term in _terms(query):
        if term is None:  # "or"
            if group:
                groups.append(tuple(group))
                group = []
            continue
        group.append(term)
    if group:
        groups.append(tuple(group))
    return tuple(groups)


def _terms(query: str) -> list[Term | None]:
    """The query's terms in order, with None for each "or" between them."""
    items = _items(query)
    found: list[Term | None] = []
    for index, term in enumerate(items):
        # "or" joins a term before it to one after it; anywhere else it is a word.
        joins = found and found[-1] is not None and index + 1 < len(items)
        if joins and not term.negated and not term.phrase and term.text.lower() == "or":
            found.append(None)
        else:
            found.append(term)
    return found


def _items(query: str) -> list[Term]:
    """Words and phrases with their negation, before "or" is told apart."""
    items: list[Term] = []
    negated = False
    position, length = 0, len(query)
    while position < length:
        char = query[position]
        if char.isspace():
            position += 1
            continue
        if char == "-":  # negates the next word or phrase ("--x" is x again)
            negated = not negated
            position += 1
            continue
        if char == '"':
            end = query.find('"', position + 1)
            end = length if end == -1 else end
            text, phrase = " ".join(query[position + 1 : end].split()), True
            position = end + 1
        else:
            end = position
            while end < length and not query[end].isspace() and query[end] != '"':
                end += 1
            text, phrase = query[position:end], False
            position = end
        if WORD.search(text):
            items.append(Term(text=text, negated=negated, phrase=phrase))
        negated = False
    return items


def positive_terms(expression: Expression) -> list[Term]:
    """The terms a match shows (not the excluded ones), each once, in order."""
    seen: dict[Term, None] = {}
    for group in expression:
        for term in group:
            if not term.negated:
                seen.setdefault(term)
    return list(seen)


def fold(text: str) -> str:
    """Lower case without diacritics: how ``closer_unaccent(lower(..))`` compares."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNACCENT))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


# A highlighted text: its pieces in order, each marked or not.
Highlighted = list[tuple[str, bool]]


def highlight(text: str, terms: list[Term], *, whole_words: bool) -> Highlighted:
    """``text`` cut into pieces, the occurrences of ``terms`` marked.

    Compared without case or diacritics. ``whole_words``: as PostgreSQL's
    full-text search matches (a phrase's words with anything but letters
    between them); otherwise as ``icontains`` matches, anywhere.
    """
    spans = _spans(text, terms, whole_words=whole_words)
    pieces: Highlighted = []
    position = 0
    for start, end in spans:
        if start > position:
            pieces.append((text[position:start], False))
        pieces.append((text[start:end], True))
        position = end
    if position < len(text) or not pieces:
        pieces.append((text[position:], False))
    return pieces


def _spans(text: str, terms: list[Term], *, whole_words: bool) -> list[tuple[int, int]]:
    folded, origin = _folded_with_origin(text)
    found: list[tuple[int, int]] = []
    for term in terms:
        if whole_words:
            words = [re.escape(fold(word)) for word in term.words]
            if not words:
                continue
            pattern = r"(?<!\w)" + r"\W+".join(words) + r"(?!\w)"
        else:
            pattern = re.escape(fold(term.text))
        for match in re.finditer(pattern, folded):
            if match.end() > match.start():
                found.append((origin[match.start()], origin[match.end() - 1] + 1))
    # Merged where they overlap, so each character is marked at most once.
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _folded_with_origin(text: str) -> tuple[str, list[int]]:
    """``fold(text)``, and for each of its characters the index in ``text``
    of the character it came from (folding may change the length)."""
    if text.isascii():  # lower() keeps ASCII's length: the common case, fast
        return text.lower(), list(range(len(text)))
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for folded_char in _fold_char(char):
            folded.append(folded_char)
            origin.append(index)
    return "".join(folded), origin


@cache
def _fold_char(char: str) -> str:
    return fold(char)


def excerpt(pieces: Highlighted, *, before: int = 60, length: int = 200) -> Highlighted:
    """At most ``length`` characters of a highlighted text, starting up to
    ``before`` characters ahead of its first mark, with "…" where cut."""
    text = "".join(piece for piece, _ in pieces)
    first_mark = 0
    position = 0
    for piece, marked in pieces:
        if marked:
            first_mark = position
            break
        position += len(piece)
    start = max(0, first_mark - before)
    if start:  # begin at a word
        space = text.find(" ", start, first_mark)
        start = space + 1 if space != -1 else start
    end = min(len(text), start + length)
    cut: Highlighted = [("…", False)] if start else []
    position = 0
    for piece, marked in pieces:
        piece_start, piece_end = position, position + len(piece)
        position = piece_end
        keep = piece[max(start, piece_start) - piece_start : min(end, piece_end) - piece_start]
        if keep:
            cut.append((keep, marked))
    if end < len(text):
        cut.append(("…", False))
    return cut
