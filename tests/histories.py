"""Customer histories for property tests: events whose content is a function
of their (kind, timestamp), so a re-delivery is identical to the original."""

from hypothesis import strategies as st

from conversations.identity import CLOSED, CREATED
from tests.builders import closed_event, created_event, message

# Few distinct timestamps, so ties and re-deliveries are common.
timestamps = st.integers(min_value=1, max_value=12).map(lambda n: 1_700_000_000_000 + n * 60_000)
event_keys = st.lists(st.tuples(st.sampled_from([CREATED, CLOSED]), timestamps), max_size=10)


def payload(customer_id: str, kind: str, timestamp: int) -> dict:
    """Content is a function of (kind, timestamp): re-deliveries are identical."""
    details = {"first_name": f"Name{timestamp % 7}", "email": f"v{timestamp % 5}@example.com"}
    if kind == CREATED:
        return created_event(customer_id, timestamp, **details)
    message_count = timestamp // 60_000 % 3  # some histories are empty
    history = [
        message(
            "CUSTOMER" if i % 2 == 0 else "ADVISER",
            f"line {i} of {timestamp}",
            timestamp - 5000 + i,
        )
        for i in range(message_count)
    ]
    return closed_event(
        customer_id,
        timestamp,
        history,
        closed_type=["solved", "unsolved"][timestamp // 60_000 % 2],
        adviser_id=f"adviser-{timestamp % 3}",
        **details,
    )
