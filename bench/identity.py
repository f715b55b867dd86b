"""Does a customer's history make each new event slower?

Applies one new closed event (20 messages) for a customer who already has
N conversations, for N = 1 and N = 1000, and prints the median time per event
and the ratio. The walk reads the customer's ledger columns only, so the
ratio should stay near 1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ca_bench python bench/identity.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")

import django

django.setup()

from django.core.management import call_command

from conversations.models import Conversation, Customer
from conversations.services import IncomingEvent, apply_events
from tests.builders import closed_event, created_event, message

HOUR = 3_600_000
START = 1_700_000_000_000


def history(timestamp: int) -> list[dict]:
    return [
        message("CUSTOMER" if i % 2 else "ADVISER", f"line {i}", timestamp - 100 + i)
        for i in range(20)
    ]


def seed(customer_id: str, conversations: int) -> None:
    events = []
    for n in range(conversations):
        events.append(created_event(customer_id, START + n * HOUR))
        events.append(
            closed_event(customer_id, START + n * HOUR + 1000, history(START + n * HOUR + 1000))
        )
    for i in range(0, len(events), 500):
        apply_events([IncomingEvent(e) for e in events[i : i + 500]])


def time_new_event(customer_id: str, after: int) -> float:
    ts = START + after * HOUR + 5000
    event = IncomingEvent(closed_event(customer_id, ts, history(ts)))
    began = time.perf_counter()
    apply_events([event])
    return time.perf_counter() - began


def main() -> None:
    call_command("migrate", verbosity=0)
    Customer.objects.filter(closer_id__startswith="bench-").delete()
    sizes = (1, 1000)
    for size in sizes:
        seed(f"bench-{size}", size)
    times: dict[int, list[float]] = {size: [] for size in sizes}
    for r in range(100):  # interleaved, so machine noise hits both alike
        for size in sizes:
            times[size].append(time_new_event(f"bench-{size}", size + r))
    for size in sizes:
        count = Conversation.objects.filter(customer__closer_id=f"bench-{size}").count()
        median = statistics.median(times[size]) * 1000
        print(f"{size:>5} prior conversations ({count} now): median {median:.2f} ms per new event")
    ratio = statistics.median(times[1000]) / statistics.median(times[1])
    print(f"ratio 1000 vs 1: {ratio:.2f}x")


if __name__ == "__main__":
    main()
