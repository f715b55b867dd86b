"""MetaHeaders answers as Django's request.headers does, read from META."""

import pytest
from django.http.request import HttpHeaders

from webhooks.request_headers import MetaHeaders

META = {
    "CONTENT_TYPE": "application/json",
    "CONTENT_LENGTH": "2683",
    "HTTP_X_SIGNATURE_256": "sha256=ab12",
    "HTTP_WEBHOOK_ID": "msg_1",
    "HTTP_USER_AGENT": "Closer/1.0",
    "REMOTE_ADDR": "127.0.0.1",
    "PATH_INFO": "/webhooks/closer/token/",
    "wsgi.url_scheme": "https",
}
NAMES = [
    "Content-Type", "content-type", "CONTENT-LENGTH", "X-Signature-256", "x-signature-256",
    "x_signature_256", "Webhook-Id", "webhook-id", "user-agent", "webhook-timestamp",
    "Remote-Addr", "path-info", "wsgi.url_scheme", "",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_a_name_is_found_or_missing_as_in_request_headers(name):
    expected, headers = HttpHeaders(META), MetaHeaders(META)
    assert (name in headers) == (name in expected)
    assert headers.get(name) == expected.get(name)
    assert headers.get(name, "default") == expected.get(name, "default")


@pytest.mark.parametrize("name", ["X-Signature-256", "content-type"])
def test_a_present_header_reads_as_in_request_headers(name):
    assert MetaHeaders(META)[name] == HttpHeaders(META)[name]


def test_a_missing_header_raises_key_error():
    with pytest.raises(KeyError):
        MetaHeaders(META)["webhook-signature"]


def test_iterating_gives_the_names_request_headers_has():
    assert dict(MetaHeaders(META)) == dict(HttpHeaders(META))
    assert len(MetaHeaders(META)) == len(HttpHeaders(META))
