"""The dedupe key without webhook-id: SHA-256 of the payload's canonical JSON
(DESIGN.md), the same for a webhook and for a backfilled event. Pinned to its
definition so a faster encoder cannot change a key already stored."""

import hashlib
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.strategies import json_values, mutated_events
from webhooks.dedupe import dedupe_key_for


def by_definition(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payload=mutated_events() | json_values)
def test_the_key_is_the_sha256_of_the_canonical_json(payload):
    assert dedupe_key_for(payload=payload, headers={}) == by_definition(payload)


def test_the_key_ignores_key_order_and_whitespace():
    assert dedupe_key_for(payload=json.loads('{"b": 1, "a": [1, 2]}'), headers={}) == (
        dedupe_key_for(payload={"a": [1, 2], "b": 1}, headers={})
    )
