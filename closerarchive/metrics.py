"""``GET /metrics``: the Prometheus metrics of every process, for a scraper.

prometheus_client's own Django view renders them (text or OpenMetrics, as
the scraper asks); this module decides who may read them and from which
registry:

- ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn with several workers, Celery
  workers): the files every process writes there, summed
  (``MultiProcessCollector``); unset (``make run``, tests): this process's
  own default registry.
- Either way, the inbox's oldest waiting event, read from the database by
  this process alone (``webhooks.metrics.OldestWaitingCollector``).

Access: with ``METRICS_TOKEN`` set, ``Authorization: Bearer <token>`` (401
otherwise); without it, loopback clients only (403 otherwise).
"""

import hmac
import ipaddress
import os
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.django import PrometheusDjangoView

from webhooks.metrics import OldestWaitingCollector

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Headers a reverse proxy adds: a request that carries one came through a
# proxy, so a loopback REMOTE_ADDR is the proxy's, not the client's.
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def scrape_registry() -> CollectorRegistry:
    """The registry of one scrape (built per request: cheap, and the
    multiprocess files are read afresh each time, as prometheus_client asks)."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(OldestWaitingCollector())
    return registry


def _bearer_token_matches(request: HttpRequest, expected: str) -> bool:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    # Bytes: compare_digest refuses str with non-ASCII characters.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("utf-8", "surrogatepass"), expected.encode()
    )


def _is_loopback_client(request: HttpRequest) -> bool:
    if any(request.META.get(header) for header in _PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # ::ffff:127.0.0.1 from a dual-stack socket
    return address.is_loopback


def refusal(request: HttpRequest) -> HttpResponse | None:
    """The answer to a client that may not read the metrics; None if it may."""
    token = settings.METRICS_TOKEN
    if token:
        if _bearer_token_matches(request, token):
            return None
        response = HttpResponse("a bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if _is_loopback_client(request):
        return None
    return HttpResponse("metrics are served to loopback clients only\n", status=403)


class MetricsView(PrometheusDjangoView):
    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        self.registry = scrape_registry()
        response = super().get(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response
