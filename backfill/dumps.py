"""Reading dumps of Closer events: files, directories, standard input.

A dump is a JSON array of events, an object with an ``events`` array, or
NDJSON (one event per line), optionally gzip-compressed. The format is told
from the content (the first non-blank byte, and for ``{`` whether the first
line is a whole JSON value), never from the file name, so ``-`` (standard
input) works for all of them.

Everything streams: arrays through ijson, NDJSON line by line, so memory does
not grow with the dump. Each record comes out with its position (line for
NDJSON, index for arrays) so a bad one can be reported precisely: a syntax
error also names the line and column where it is (in an array, from the
chunk yajl was parsing; for a .gz file, in the decompressed text). The reader
never repairs JSON: a record that does not parse is reported, and in an array
(where nothing after a syntax error can be trusted) the rest of the file is
abandoned; what came before it is kept.

``BytesRead`` counts the bytes taken from each file as it is read (the
compressed bytes of a .gz), for a progress bar with a total and an ETA.
"""

import ast
import gzip
import io
import json
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson

STDIN = "-"
DUMP_SUFFIXES = (".json", ".ndjson", ".jsonl")
GZIP_MAGIC = b"\x1f\x8b"
_PEEK_BYTES = 64 * 1024
# Longest first line read to tell NDJSON from a pretty-printed object.
_FIRST_LINE_LIMIT = 64 * 1024 * 1024
# `{"events": [` at the start: the wrapped format, even when minified onto
# one line (which must not be read as one enormous NDJSON line).
_WRAPPED_START = re.compile(rb'\A\s*\{\s*"events"\s*:')


@dataclass(frozen=True)
class Position:
    """Where a record sits in its source: ``line`` (NDJSON, 1-based) or
    ``index`` (arrays, 0-based); for a syntax error, also the ``column``
    (1-based) and, in an array, the ``line`` of the error."""

    source: str
    kind: str  # "line" or "index"
    number: int
    column: int | None = None
    line: int | None = None  # of an error inside an array element

    def as_dict(self) -> dict[str, Any]:
        where: dict[str, Any] = {"file": self.source, self.kind: self.number}
        if self.line is not None:
            where["line"] = self.line
        if self.column is not None:
            where["column"] = self.column
        return where

    def __str__(self) -> str:
        at = f"{self.source} {self.kind} {self.number}"
        if self.line is not None:
            return f"{at} (line {self.line}, column {self.column})"
        return at if self.column is None else f"{at}, column {self.column}"


@dataclass(frozen=True)
class Record:
    """One decoded JSON value from a dump (not necessarily a valid event)."""

    position: Position
    payload: Any
    # The record's bytes as read, when the format gives them (NDJSON lines).
    raw: bytes | None = None


@dataclass(frozen=True)
class Unreadable:
    """Something in a dump that is not a JSON value; reported, never repaired."""

    position: Position
    reason: str


class DumpNotFound(ValueError):
    pass


class BytesRead:
    """Bytes read from the dump files so far, across all of them (written by
    the reading thread, read by the one drawing the progress bar)."""

    def __init__(self) -> None:
        self.count = 0


class _Counted(io.RawIOBase):
    """``stream``, adding every byte read from it to ``counter``."""

    def __init__(self, stream: IO[bytes], counter: BytesRead) -> None:
        self._stream = stream
        self._counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        self._counter.count += size or 0
        return size or 0


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files in the order given; a directory becomes its dump files, sorted.

    Raises DumpNotFound for a path that does not exist, before anything is read.
    """
    sources: list[str] = []
    for path in paths:
        if path == STDIN:
            sources.append(STDIN)
            continue
        candidate = Path(path)
        if candidate.is_dir():
            sources.extend(str(p) for p in sorted(candidate.rglob("*")) if is_dump_file(p))
        elif candidate.is_file():
            sources.append(path)
        else:
            raise DumpNotFound(f"{path}: no such file or directory")
    return sources


def is_dump_file(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return path.is_file() and name.endswith(DUMP_SUFFIXES)


def source_name(source: str) -> str:
    return "<stdin>" if source == STDIN else source


def read_source(source: str, counter: BytesRead | None = None) -> Iterator[Record | Unreadable]:
    """Every record of one file (or ``-``), in order; ``counter`` counts the
    bytes read."""
    name = source_name(source)
    counter = counter or BytesRead()
    if source == STDIN:
        yield from read_stream(_Counted(sys.stdin.buffer, counter), name)
        return
    with open(source, "rb") as raw:
        yield from read_stream(_Counted(raw, counter), name)


def read_stream(stream: IO[bytes] | io.RawIOBase, name: str) -> Iterator[Record | Unreadable]:
    buffered: io.BufferedReader[Any] = (
        stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)
    )
    if buffered.peek(2)[:2] != GZIP_MAGIC:
        yield from _read_plain(buffered, name)
        return
    position = Position(name, "line", 1)
    try:
        with gzip.GzipFile(fileobj=buffered, mode="rb") as unzipped:
            for item in _read_plain(io.BufferedReader(unzipped, _PEEK_BYTES), name):
                position = item.position
                yield item
    except (EOFError, OSError, zlib.error) as error:
        yield Unreadable(
            position, f"compressed data is truncated or corrupt after this record: {error}"
        )


def _read_plain(stream: "io.BufferedReader[Any]", name: str) -> Iterator[Record | Unreadable]:
    head, blank_lines, column = _skip_blank(stream)
    if head == b"":
        return  # an empty dump is a valid, empty dump (the command warns)
    start = _Start(line=1 + blank_lines, column=column)
    if head == b"[":
        yield from _read_array(stream, name, "item", start=start)
    elif head == b"{":
        yield from _read_object_or_lines(stream, name, start=start)
    else:
        yield Unreadable(
            Position(name, "line", 1 + blank_lines),
            f"not a JSON array, object or NDJSON (starts with {head!r})",
        )


@dataclass(frozen=True)
class _Start:
    """Line and column (1-based) of the first byte a reader is handed."""

    line: int = 1
    column: int = 1


def _skip_blank(stream: "io.BufferedReader[Any]") -> tuple[bytes, int, int]:
    """Consume leading whitespace (and a BOM); return the first byte, unconsumed,
    how many line breaks were skipped and the column it is in (so line and
    column numbers stay true)."""
    newlines, column = 0, 1
    while True:
        chunk = stream.peek(_PEEK_BYTES)
        if not chunk:
            return b"", newlines, column
        stripped = chunk.lstrip(b" \t\r\n")
        if stripped.startswith(b"\xef\xbb\xbf"):
            stream.read(len(chunk) - len(stripped) + 3)
            continue
        skipped = stream.read(len(chunk) - len(stripped))
        newlines += skipped.count(b"\n")
        last_break = skipped.rfind(b"\n")
        column = len(skipped) - last_break if last_break >= 0 else column + len(skipped)
        if stripped:
            return stripped[:1], newlines, column


def _read_object_or_lines(
    stream: "io.BufferedReader[Any]", name: str, *, start: _Start
) -> Iterator[Record | Unreadable]:
    """``{`` starts either NDJSON or a ``{"events": [...]}`` object."""
    if _WRAPPED_START.match(stream.peek(_PEEK_BYTES)):
        yield from _read_array(stream, name, "events.item", start=start)
        return
    # Read the first line (bounded, so a minified giant object cannot fill
    # memory), decide, then put it back in front of the rest of the stream.
    opening = stream.readline(_FIRST_LINE_LIMIT)
    # A first line that is not JSON at all is a bad first record of NDJSON
    # when an event follows on the next line (reported, and the rest read),
    # else the start of a pretty-printed object.
    following = stream.peek(_PEEK_BYTES).lstrip(b" \t\r\n").split(b"\n", 1)[0]
    replayed = io.BufferedReader(_Prefixed(opening, stream), _PEEK_BYTES)
    first = _json_or_none(opening)
    if _is_event(first) or (first is None and _is_event(_json_or_none(following))):
        yield from _read_lines(replayed, name, first_line=start.line)
    else:
        # A pretty-printed object: it must carry an events array at its top
        # level (other keys, e.g. export metadata, may come first).
        yield from _read_array(replayed, name, "events.item", start=start, require_found=True)


def _json_or_none(line: bytes) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _is_event(value: Any) -> bool:
    """An object that is an event, not one wrapping an events array."""
    return isinstance(value, dict) and not (
        isinstance(value.get("events"), list) and "eventType" not in value
    )


class _Prefixed(io.RawIOBase):
    """``prefix`` followed by the rest of ``stream``, as one readable stream."""

    def __init__(self, prefix: bytes, stream: "io.BufferedReader[Any]") -> None:
        self._prefix = memoryview(prefix)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        data = self._stream.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _read_lines(
    stream: "io.BufferedReader[Any]", name: str, *, first_line: int
) -> Iterator[Record | Unreadable]:
    """NDJSON: each line stands alone, so a bad line is reported and skipped."""
    for number, line in enumerate(stream, start=first_line):
        if not line.strip():
            continue
        # Without its line break: json would place an error at the end of a
        # cut-off line in "line 2, column 1" of this one-line document.
        record = line.rstrip(b"\r\n")
        try:
            payload = json.loads(record)
        except UnicodeDecodeError as error:
            yield Unreadable(
                Position(name, "line", number, column=_column(record, error.start)),
                f"not UTF-8: {error.reason}",
            )
        except json.JSONDecodeError as error:
            yield Unreadable(
                Position(name, "line", number, column=error.colno),
                f"invalid JSON: {error.msg}",
            )
        except RecursionError:
            yield Unreadable(Position(name, "line", number), "invalid JSON: nested too deeply")
        else:
            yield Record(Position(name, "line", number), payload, raw=record)


def _read_array(
    stream: "io.BufferedReader[Any]",
    name: str,
    prefix: str,
    *,
    start: _Start,
    require_found: bool = False,
) -> Iterator[Record | Unreadable]:
    """Stream the elements of an array with ijson; stop the file at a syntax error."""
    index = 0
    chunks = _ChunkTracker(stream, start)
    try:
        for payload in ijson.items(chunks, prefix, use_float=True):
            yield Record(Position(name, "index", index), payload)
            index += 1
    except (ijson.JSONError, UnicodeDecodeError) as error:
        message = _yajl_message(error)
        line, column = chunks.where(message)
        yield Unreadable(
            Position(name, "index", index, column=column, line=line),
            "invalid JSON at or after this element, rest of the file skipped: "
            + _one_line(message.splitlines()[0] if message else str(error)),
        )
        return
    if require_found and index == 0:
        yield Unreadable(
            Position(name, "line", 1),
            "an object that is neither NDJSON nor has a top-level events array",
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _column(line: bytes, offset: int) -> int:
    """1-based column, in characters, of byte ``offset`` of ``line``."""
    return len(line[:offset].decode("utf-8", errors="replace")) + 1


def _yajl_message(error: Exception) -> str:
    """The text of an ijson (yajl) error; some arrive as the repr of bytes."""
    text = str(error)
    if text.startswith(("b'", 'b"')):
        try:
            return str(ast.literal_eval(text).decode("latin-1"))
        except (ValueError, SyntaxError):
            return text
    return text


# yajl's verbose error: the message, then up to 30 bytes either side of the
# error (line breaks shown as spaces) indented so that the error sits in
# column 40, then a caret line pointing at it (yajl_render_error_string).
_YAJL_CARET_COLUMN = 40


class _ChunkTracker:
    """What ijson reads, chunk by chunk, with where the last chunk begins
    (line and column), so that yajl's error, which only knows its offset in
    the chunk it was parsing, can be placed in the file."""

    def __init__(self, stream: "io.BufferedReader[Any]", start: _Start) -> None:
        self._stream = stream
        self.chunk = b""
        self.line = start.line  # of the chunk's first byte
        self.column = start.column

    def read(self, size: int = -1) -> bytes:
        self._advance_past(self.chunk)
        self.chunk = self._stream.read(size)
        return self.chunk

    def _advance_past(self, data: bytes) -> None:
        breaks = data.count(b"\n")
        if breaks:
            self.line += breaks
            self.column = len(data) - data.rfind(b"\n")
        else:
            self.column += len(data)

    def where(self, message: str) -> tuple[int | None, int | None]:
        """Line and column of the error yajl described, or (None, None)."""
        offset = self._offset_in_chunk(message)
        if offset is None:
            return None, None
        before = self.chunk[:offset]
        last_break = before.rfind(b"\n")
        if last_break < 0:
            column = self.column + len(before.decode("utf-8", errors="replace"))
        else:
            column = _column(before[last_break + 1 :], len(before) - last_break - 1)
        return self.line + before.count(b"\n"), column

    def _offset_in_chunk(self, message: str) -> int | None:
        lines = message.split("\n")
        if "premature EOF" in message:
            return len(self.chunk)  # the input ended inside a value
        if len(lines) < 3 or not lines[2].rstrip().endswith("^"):
            return None
        shown = lines[1].encode("latin-1", errors="replace")
        flat = self.chunk.replace(b"\n", b" ").replace(b"\r", b" ")
        # The first offset at which the chunk, rendered as yajl renders it,
        # gives the line shown.
        for offset in range(len(flat) + 1):
            first = max(offset - 30, 0)
            indent = _YAJL_CARET_COLUMN - (offset - first)
            if b" " * indent + flat[first : offset + 30] == shown.rstrip(b"\n"):
                return offset
        return None
