"""The identity property: any order, any duplicates, any batching -> one archive.

For any set of events of one customer, delivered in any order and with any
duplicates, the archive ends in the same state as in-order delivery,
including customers with missing created events, missing closed events and
empty histories (DESIGN.md, "Conversation identity").
"""

import itertools
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.identity import CLOSED, CREATED, EventPoint, walk
from conversations.services import IncomingEvent, apply_events
from tests.archive_state import customer_state
from tests.histories import event_keys, payload

pytestmark = pytest.mark.django_db


def deliver(customer_id: str, keys, batch_sizes) -> None:
    """Apply the events for ``keys`` in that order, split into batches."""
    events = [IncomingEvent(payload(customer_id, kind, ts)) for kind, ts in keys]
    sizes = itertools.cycle(batch_sizes or [1])
    start = 0
    while start < len(events):
        size = next(sizes)
        apply_events(events[start : start + size])
        start += size


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    keys=event_keys,
    data=st.data(),
    batch_sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=4),
)
def test_any_order_any_duplicates_any_batching_gives_the_in_order_archive(keys, data, batch_sizes):
    if not keys:
        return
    distinct = sorted(set(keys), key=lambda k: (k[1], k[0] != CREATED))
    in_order, scrambled = f"ordered-{uuid4()}", f"scrambled-{uuid4()}"
    deliver(in_order, distinct, [1])

    redelivered = keys + data.draw(st.lists(st.sampled_from(keys), max_size=6), label="duplicates")
    shuffled = data.draw(st.permutations(redelivered), label="delivery order")
    deliver(scrambled, shuffled, batch_sizes)

    assert customer_state(scrambled) == customer_state(in_order)
    # ...and both equal the pure walk over the distinct events.
    expected = [
        (s.created and s.created.occurred_ms, s.closed and s.closed.occurred_ms)
        for s in walk(EventPoint(kind, ts, (kind, ts)) for kind, ts in distinct)
    ]
    stored = [
        (c["created_event_ms"], c["closed_event_ms"])
        for c in customer_state(scrambled)["conversations"]
    ]
    assert sorted(stored, key=str) == sorted(expected, key=str)


long_histories = st.lists(
    st.tuples(
        st.sampled_from([CREATED, CLOSED]),
        st.integers(min_value=1, max_value=40).map(lambda n: 1_700_000_000_000 + n * 60_000),
    ),
    min_size=8,
    max_size=30,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(keys=long_histories, data=st.data())
def test_long_histories_delivered_one_by_one_in_any_order_give_the_in_order_archive(keys, data):
    """Single-event batches far from the history's ends: the reconcile window's edges."""
    distinct = sorted(set(keys), key=lambda k: (k[1], k[0] != CREATED))
    in_order, scrambled = f"ordered-{uuid4()}", f"scrambled-{uuid4()}"
    deliver(in_order, distinct, [len(distinct)])
    deliver(scrambled, data.draw(st.permutations(keys), label="delivery order"), [1])

    assert customer_state(scrambled) == customer_state(in_order)


@given(event_keys)
def test_the_walk_does_not_depend_on_input_order(keys):
    points = [EventPoint(kind, ts, (kind, ts)) for kind, ts in set(keys)]
    assert walk(points) == walk(list(reversed(points)))


@given(event_keys)
def test_the_walk_uses_every_event_exactly_once(keys):
    points = [EventPoint(kind, ts, (kind, ts)) for kind, ts in set(keys)]
    used = [p for s in walk(points) for p in (s.created, s.closed) if p is not None]
    assert sorted(used, key=lambda p: p.key) == sorted(points, key=lambda p: p.key)


def test_the_walk_pairs_a_created_with_the_closed_directly_after_it():
    points = [
        EventPoint(CREATED, 1, "c1"),
        EventPoint(CREATED, 2, "c2"),
        EventPoint(CLOSED, 3, "x3"),
        EventPoint(CLOSED, 4, "x4"),
        EventPoint(CREATED, 5, "c5"),
    ]
    assert [(s.created and s.created.key, s.closed and s.closed.key) for s in walk(points)] == [
        ("c1", None),
        ("c2", "x3"),
        (None, "x4"),
        ("c5", None),
    ]


def test_on_a_timestamp_tie_created_comes_first():
    points = [EventPoint(CLOSED, 5, "x"), EventPoint(CREATED, 5, "c")]
    [segment] = walk(points)
    assert (segment.created.key, segment.closed.key) == ("c", "x")
