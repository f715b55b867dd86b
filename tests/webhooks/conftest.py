"""Fixtures of the webhook tests: an endpoint's token, and delivering to it."""

from collections.abc import Callable
from typing import Any

import pytest

from tests.webhook_client import post


@pytest.fixture
def token(make_endpoint: Callable[..., Any]) -> str:
    return make_endpoint()[1]


@pytest.fixture
def deliver(client: Any, token: str, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST and process (tasks run after commit, in-process)."""

    def send(payload: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, token, payload, **kwargs)

    return send
