"""Replaces ``request.headers``; tests/webhooks/test_request_headers.py pins it.

A request's headers, read from ``request.META`` one name at a time."""

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from django.http.request import HttpHeaders


class MetaHeaders(Mapping[str, str]):
    """What ``request.headers`` answers, case-insensitively, without building it.

    Django's ``HttpHeaders`` turns every META key into a header name and
    fills a dict on first use: some 25 keys under gunicorn, for the half dozen
    headers the receive view reads, on every webhook (about 30 µs a request,
    docs/benchmarks.md "Ingest"). This looks each name up in META instead.
    Iterating gives the same names as ``HttpHeaders`` (tests/webhooks/test_request_headers.py).
    """

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self._meta = meta

    def __getitem__(self, name: str) -> str:
        return self._meta[meta_key(name)]

    def get(self, name: str, default: Any = None) -> Any:
        return self._meta.get(meta_key(name), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and meta_key(name) in self._meta

    def __iter__(self) -> Iterator[str]:
        for key in self._meta:
            name = HttpHeaders.parse_header_name(key)
            if name is not None:
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)


# The META key of a header (``X-Signature-256``: ``HTTP_X_SIGNATURE_256``),
# remembered: the names come from our code and the endpoints' settings.
meta_key = lru_cache(maxsize=256)(HttpHeaders.to_wsgi_name)
