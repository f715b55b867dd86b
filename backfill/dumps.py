"""Reading dumps of Closer events: files, directories, standard input.

A dump is a JSON array of events, an object with an ``events`` array, or
NDJSON (one event per line), optionally gzip-compressed. The format is told
from the content (the first non-blank byte, and for ``{`` whether the first
line is a whole JSON value), never from the file name, so ``-`` (standard
input) works for all of them.

Everything streams: arrays through ijson, NDJSON line by line, so memory does
not grow with the dump. Each record comes out with its position (line for
NDJSON, index for arrays) so a bad one can be reported precisely. The reader
never repairs JSON: a record that does not parse is reported, and in an array
(where nothing after a syntax error can be trusted) the rest of the file is
abandoned; what came before it is kept.
"""

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
    ``index`` (arrays, 0-based)."""

    source: str
    kind: str  # "line" or "index"
    number: int

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.source, self.kind: self.number}

    def __str__(self) -> str:
        return f"{self.source} {self.kind} {self.number}"


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


def read_source(source: str) -> Iterator[Record | Unreadable]:
    """Every record of one file (or ``-``), in order."""
    name = source_name(source)
    if source == STDIN:
        yield from read_stream(sys.stdin.buffer, name)
        return
    with open(source, "rb") as raw:
        yield from read_stream(raw, name)


def read_stream(stream: IO[bytes], name: str) -> Iterator[Record | Unreadable]:
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
    head, blank_lines = _skip_blank(stream)
    if head == b"":
        return  # an empty dump is a valid, empty dump
    if head == b"[":
        yield from _read_array(stream, name, "item")
    elif head == b"{":
        yield from _read_object_or_lines(stream, name, first_line=1 + blank_lines)
    else:
        yield Unreadable(
            Position(name, "line", 1 + blank_lines),
            f"not a JSON array, object or NDJSON (starts with {head!r})",
        )


def _skip_blank(stream: "io.BufferedReader[Any]") -> tuple[bytes, int]:
    """Consume leading whitespace (and a BOM); return the first byte, unconsumed,
    and how many line breaks were skipped (so NDJSON line numbers stay true)."""
    newlines = 0
    while True:
        chunk = stream.peek(_PEEK_BYTES)
        if not chunk:
            return b"", newlines
        stripped = chunk.lstrip(b" \t\r\n")
        if stripped.startswith(b"\xef\xbb\xbf"):
            stream.read(len(chunk) - len(stripped) + 3)
            continue
        skipped = stream.read(len(chunk) - len(stripped))
        newlines += skipped.count(b"\n")
        if stripped:
            return stripped[:1], newlines


def _read_object_or_lines(
    stream: "io.BufferedReader[Any]", name: str, *, first_line: int
) -> Iterator[Record | Unreadable]:
    """``{`` starts either NDJSON or a ``{"events": [...]}`` object."""
    if _WRAPPED_START.match(stream.peek(_PEEK_BYTES)):
        yield from _read_array(stream, name, "events.item")
        return
    # Read the first line (bounded, so a minified giant object cannot fill
    # memory), decide, then put it back in front of the rest of the stream.
    opening = stream.readline(_FIRST_LINE_LIMIT)
    replayed = io.BufferedReader(_Prefixed(opening, stream), _PEEK_BYTES)
    try:
        first = json.loads(opening)
    except ValueError:
        first = None
    if isinstance(first, dict) and not (
        isinstance(first.get("events"), list) and "eventType" not in first
    ):
        yield from _read_lines(replayed, name, first_line=first_line)
    else:
        # A pretty-printed object: it must carry an events array at its top
        # level (other keys, e.g. export metadata, may come first).
        yield from _read_array(replayed, name, "events.item", require_found=True)


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
        try:
            payload = json.loads(line)
        except UnicodeDecodeError as error:
            yield Unreadable(Position(name, "line", number), f"not UTF-8: {error.reason}")
        except json.JSONDecodeError as error:
            yield Unreadable(
                Position(name, "line", number),
                f"invalid JSON: {error.msg} at column {error.colno}",
            )
        except RecursionError:
            yield Unreadable(Position(name, "line", number), "invalid JSON: nested too deeply")
        else:
            yield Record(Position(name, "line", number), payload, raw=line.rstrip(b"\r\n"))


def _read_array(
    stream: "io.BufferedReader[Any]", name: str, prefix: str, *, require_found: bool = False
) -> Iterator[Record | Unreadable]:
    """Stream the elements of an array with ijson; stop the file at a syntax error."""
    index = 0
    try:
        for payload in ijson.items(stream, prefix, use_float=True):
            yield Record(Position(name, "index", index), payload)
            index += 1
    except (ijson.JSONError, UnicodeDecodeError) as error:
        yield Unreadable(
            Position(name, "index", index),
            f"invalid JSON at or after this element, rest of the file skipped: {_one_line(error)}",
        )
        return
    if require_found and index == 0:
        yield Unreadable(
            Position(name, "line", 1),
            "an object that is neither NDJSON nor has a top-level events array",
        )


def _one_line(error: Exception) -> str:
    """yajl's messages span lines (with a caret under the context): squeeze them."""
    return " ".join(str(error).split())[:300]
