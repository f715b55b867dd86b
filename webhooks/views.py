"""The receive view: POST /webhooks/closer/<token>/ (the trailing slash optional)."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, DataError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import metrics
from .receiving import Rejected, find_endpoint, receive_event
from .request_headers import MetaHeaders

logger = logging.getLogger(__name__)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


@dataclass
class _Delivery:
    """The endpoint a request was for, once known (its name labels the metrics)."""

    endpoint_name: str = metrics.UNKNOWN_ENDPOINT


@csrf_exempt
def receive_closer_webhook(request: HttpRequest, token: str) -> JsonResponse:
    delivery = _Delivery()
    status_code = 500  # unless an answer is made: an unexpected error
    try:
        if request.method == "POST":
            response = _receive(request, token, delivery)
        else:
            # JSON like every other answer here (Django's require_POST gives
            # an empty body), and before the token is looked at.
            response = _error(405, f"method {request.method} not allowed: POST an event")
            response["Allow"] = "POST"
        status_code = response.status_code
        return response
    finally:
        metrics.count_webhook(delivery.endpoint_name, status_code)


def _receive(request: HttpRequest, token: str, delivery: _Delivery) -> JsonResponse:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared_length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "invalid Content-Length")
    if declared_length > limit:
        return _error(413, f"body larger than {limit} bytes")
    try:
        endpoint = find_endpoint(token=token)
        delivery.endpoint_name = endpoint.name
        if not _is_json(request.content_type or ""):
            return _error(415, "Content-Type must be application/json")
        body = request.read(limit + 1)
        if len(body) > limit:
            return _error(413, f"body larger than {limit} bytes")
        receipt = receive_event(
            endpoint=endpoint,
            body=body,
            headers=MetaHeaders(request.META),
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
    except Rejected as rejected:
        delivery.endpoint_name = rejected.endpoint_name or delivery.endpoint_name
        return _error(rejected.status_code, rejected.reason)
    except DataError:
        # A value the database refuses (receiving makes every value
        # storable; this is the last line): the input's fault, not an outage,
        # so no 503 that would make the sender retry it forever.
        logger.exception("webhook body has a value the database refused")
        return _error(400, "body has a value that cannot be stored")
    except DatabaseError:
        # Never 2xx for an event we could not store: the sender retries.
        logger.exception("database unavailable while receiving a webhook")
        response = _error(503, "temporarily unavailable, retry later")
        response["Retry-After"] = "30"
        return response
    return JsonResponse(receipt.body, status=receipt.status_code)
