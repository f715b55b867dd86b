"""Python work per admin changelist request, counted rather than timed.

Wall-clock and even CPU times of a page swing by a factor of two on a
shared, busy machine; the number of Python function calls a request makes
does not. This counts them (``sys.setprofile``) for the conversation
changelist searched like bench/search.py does, on its database, and splits
them by the part of the page that made them.

    python bench/changelist_calls.py                 # the three searches + first page
    python bench/changelist_calls.py --query Zofia   # one of them, by phase

Run bench/archive.py (or bench/search.py) once first: it builds the database.
"""

import argparse
import collections
import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A call made (directly or not) from a function of this name counts for its phase.
PHASES = {
    "get_search_results": "search queryset",
    "get_results": "count and rows (SQL, model instances)",
    "archive_result_list": "result rows",
    "result_list": "result rows",
    "get_app_list": "app list (nav sidebar)",
    "admin_list_filter": "filters",
    "calendar_date_hierarchy": "date hierarchy",
    "date_hierarchy": "date hierarchy",
}
OTHER = "other (middleware, view, templates)"
TEMPLATE_PHASES = {
    "admin/app_list.html": "app list (nav sidebar)",
    "admin/nav_sidebar.html": "app list (nav sidebar)",
    "admin/actions.html": "actions form",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ca_scale_1m")
    parser.add_argument("--query", help="one search, split by phase (- for no search)")
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    url = reverse("admin:conversations_conversation_changelist")
    queries = [args.query] if args.query else ["reklamację", "nowak2700", "Zofia", "-"]
    for query in queries:
        params = {"q": query} if query != "-" else {}
        for _ in range(3):  # warm caches
            client.get(url, params)
        counts = count_calls(lambda params=params: client.get(url, params), args.requests)
        total = sum(counts.values()) / args.requests
        print(f"{query:<12} {total:8.0f} Python calls per request")
        if args.query:
            for phase, calls in counts.most_common():
                print(f"    {calls / args.requests:8.0f}  {phase}")


def count_calls(request: Any, repeats: int) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    stack: list[str | None] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            stack.append(phase_of(frame))
            counts[next((p for p in reversed(stack) if p), OTHER)] += 1
        elif event == "return" and stack:
            stack.pop()

    sys.setprofile(profile)
    try:
        for _ in range(repeats):
            request()
    finally:
        sys.setprofile(None)
    return counts


def phase_of(frame: FrameType) -> str | None:
    name = frame.f_code.co_name
    if name == "_render" and frame.f_code.co_filename.endswith("template/base.py"):
        origin = getattr(frame.f_locals.get("self"), "origin", None)
        return TEMPLATE_PHASES.get(getattr(origin, "template_name", None) or "")
    return PHASES.get(name)


if __name__ == "__main__":
    main()
