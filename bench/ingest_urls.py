"""The project's URLs plus the two baselines bench/ingest.py compares against."""

import json

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from closerarchive.urls import urlpatterns as project_urlpatterns

BASELINE_TABLE = "bench_ingest_baseline"


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The least a Django view can do: parse the JSON, answer 202."""
    json.loads(request.body)
    return JsonResponse({"status": "accepted"}, status=202)


@csrf_exempt
def durable_insert(request: HttpRequest) -> JsonResponse:
    """The least an acknowledgement that is never lost needs: parse, then one
    committed INSERT (autocommit, synchronous_commit on) before answering."""
    json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BASELINE_TABLE} (body) VALUES (%s)", [request.body])
    return JsonResponse({"status": "accepted"}, status=202)


urlpatterns = [
    *project_urlpatterns,
    path("bench/bare/", bare),
    path("bench/insert/", durable_insert),
]
