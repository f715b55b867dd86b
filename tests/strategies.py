"""Hypothesis strategies of hostile JSON and Closer events, shared by the
receive fuzz test and the property tests of the parsing and dedupe rules."""

import json
from typing import Any

from hypothesis import strategies as st

from tests.builders import closed_event, created_event

edge_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None)),  # lone surrogates included
    st.sampled_from(
        [
            "",
            "\x00",
            "\ud800",
            "\udfff",
            "\ufeff",
            "\uffff",
            "\U0010ffff",
            "a\u0301",
            "\u202e",
            "💬" * 50,
            "x" * 5000,
            "null",
        ]
    ),
)
huge_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=False),  # infinities are written as 1e999 below
    st.sampled_from([2**63, -(2**63) - 1, 10**18, 253_402_300_800_000, 1e308, -0.0]),
)
json_values = st.recursive(
    st.none() | st.booleans() | huge_numbers | edge_text,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(edge_text, children, max_size=5),
    max_leaves=30,
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A real created or closed event with fields replaced by wrong types,
    deleted, or with unknown fields added."""
    event = draw(
        st.sampled_from(
            [closed_event("c1", 1_700_000_000_000), created_event("c1", 1_600_000_000_000)]
        )
    )
    for _ in range(draw(st.integers(1, 6))):
        if not (candidates := paths(event)):
            break  # everything deleted already
        where = draw(st.sampled_from(candidates))
        parent = event
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "extra"]))
        if action == "replace":
            parent[where[-1]] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(edge_text)] = draw(json_values)
    return event


def encode(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=draw_ascii(value)).replace("Infinity", "1e999")
    return text.encode("utf-8", "surrogatepass")


def draw_ascii(value: Any) -> bool:
    return len(repr(value)) % 2 == 0  # both escaped and raw UTF-8 forms, deterministically


deep_nesting = st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
bodies = st.one_of(
    st.binary(max_size=2000),
    json_values.map(encode),
    mutated_events().map(encode),
    deep_nesting,
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 6000).map(lambda n: b'{"timestamp": ' + b"9" * n + b"}"),
    st.sampled_from([b"", b"NaN", b'{"a": NaN}', b'{"a": Infinity}', b"\xef\xbb\xbf{}"]),
)
