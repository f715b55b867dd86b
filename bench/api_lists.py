"""The API's list endpoints on the bench archive (bench/search.py runs them).

Each list is requested with a token as a client would (Django's test
client, DEBUG off): its first page, then the page ``DEEP_PAGE`` reached by
following ``next`` from the first, each timed ``repeats`` times.
"""

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

DEEP_PAGE = 200

# (key, path, query): filters a client syncing or looking something up sends.
LISTS = [
    ("conversations", "/api/v1/conversations/", {}),
    ("conversations_adviser", "/api/v1/conversations/", {"adviser": "adviser-0001"}),
    ("conversations_status", "/api/v1/conversations/", {"status": "closed"}),
    ("conversations_closed_type", "/api/v1/conversations/", {"closed_type": "abandoned"}),
    ("conversations_bot", "/api/v1/conversations/", {"bot_adviser": "true"}),
    ("conversations_opened", "/api/v1/conversations/", {"opened_after": "2024-01-01T00:00:00Z"}),
    ("conversations_updated", "/api/v1/conversations/", {"ordering": "updated_at"}),
    ("messages", "/api/v1/messages/", {}),
    ("messages_role", "/api/v1/messages/", {"author_role": "ADVISER"}),
    (
        "messages_sent",
        "/api/v1/messages/",
        {"sent_after": "2025-06-01T00:00:00Z", "ordering": "sent_at"},
    ),
]
# Asked for one customer or conversation: a few pages at most, so timed on the first.
LOOKUPS = [
    ("conversations_customer", "/api/v1/conversations/", {"customer": "cust-00000077"}),
    ("conversations_search", "/api/v1/conversations/", {"q": "reklamację"}),
    ("messages_conversation", "/api/v1/messages/", {"conversation": "4242"}),
    ("messages_customer", "/api/v1/messages/", {"customer": "cust-00000077"}),
]
# Known to be slow at scale, timed fewer times: a sent range in storage order
# (ORDER BY id) walks the primary key past every message sent before it
# (docs/api.md: ordering=sent_at reads the range from its index).
SLOW_REPEATS = 5
SLOW = [
    ("messages_sent_by_id", "/api/v1/messages/", {"sent_after": "2026-10-24T00:00:00Z"}),
]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def api_client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first() or (
        user_model.objects.create_superuser("bench", "bench@example.com", None)
    )
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def deep_url(client: Any, path: str, query: dict[str, str], pages: int) -> tuple[str, int]:
    """The URL of page ``pages`` (or of the last page, if fewer) reached by
    following ``next``, and its number."""
    response = client.get(path, query)
    page = 1
    while page < pages:
        assert response.status_code == 200, (path, query, response.content[:200])
        following = response.json()["next"]
        if not following:
            break
        response = client.get(following)
        page += 1
    return response.request["PATH_INFO"] + "?" + response.request["QUERY_STRING"], page


def timed(call: Callable[[], Any], repeats: int) -> list[float]:
    call()  # warm; not timed
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def time_api_lists(repeats: int) -> dict[str, float]:
    """p50/p95 ms of each list's first and deep page, printed and returned."""
    client = api_client()
    figures: dict[str, float] = {}
    print(f"\nAPI lists (token, page_size 100; deep = page {DEEP_PAGE} by following next)")
    print(f"{'list':<28}{'first p50':>10}{'p95':>8}{'deep p50':>10}{'p95':>8}{'page':>6}")

    def get(url: str, query: dict[str, str] | None = None) -> None:
        response = client.get(url, query)
        assert response.status_code == 200, (url, query, response.status_code)

    for key, path, query in [*LISTS, *LOOKUPS, *SLOW]:
        times = SLOW_REPEATS if (key, path, query) in SLOW else repeats
        first = timed(lambda path=path, query=query: get(path, query), times)
        figures[f"api_{key}_p50_ms"] = statistics.median(first)
        figures[f"api_{key}_p95_ms"] = p95(first)
        line = f"{key:<28}{statistics.median(first):>10.1f}{p95(first):>8.1f}"
        if (key, path, query) in LISTS:
            url, reached = deep_url(client, path, query, DEEP_PAGE)
            deep = timed(lambda url=url: get(url), repeats)
            figures[f"api_{key}_deep_p50_ms"] = statistics.median(deep)
            figures[f"api_{key}_deep_p95_ms"] = p95(deep)
            figures[f"api_{key}_deep_page"] = reached
            line += f"{statistics.median(deep):>10.1f}{p95(deep):>8.1f}{reached:>6}"
        print(line, flush=True)
    figures["api_load_average"] = os.getloadavg()[0]
    return figures
