"""Counting the rows of a streamed export as its bytes pass, without parsing it."""

from typing import Protocol


class RowCounter(Protocol):
    @property
    def count(self) -> int: ...

    def feed(self, chunk: bytes) -> None: ...


class NdjsonLines:
    """One row per line: JSON escapes the newlines inside its strings."""

    def __init__(self) -> None:
        self.count = 0

    def feed(self, chunk: bytes) -> None:
        self.count += chunk.count(b"\n")


class CsvRecords:
    """Records of RFC 4180 CSV with LF line ends, after its header row.

    A newline inside a quoted field is not a record's end. Quotes inside a
    field are doubled, so every quote toggles "inside a field" and a doubled
    one toggles it twice: newlines count only between an even number of
    quotes, carried across chunks.
    """

    def __init__(self) -> None:
        self._lines = 0
        self._quoted = False

    @property
    def count(self) -> int:
        return max(self._lines - 1, 0)

    def feed(self, chunk: bytes) -> None:
        for index, part in enumerate(chunk.split(b'"')):
            if index:
                self._quoted = not self._quoted
            if not self._quoted:
                self._lines += part.count(b"\n")
