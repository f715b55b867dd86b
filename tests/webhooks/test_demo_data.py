"""The README's curl sends a conversation whose adviser is not one of the
demo data's: trying it adds a new adviser, never a second one of the same name."""

import json
import re

from tests.processes import PROJECT_ROOT
from webhooks.management.commands.setup_demo import CURL_EXAMPLE, DEMO_EVENTS


def readme_curl_body() -> dict:
    readme = (PROJECT_ROOT / "README.md").read_text()
    found = re.search(r"curl [^`]*--data-binary @(\S+)", readme)
    assert found, "the README shows no curl with a --data-binary body"
    body_path = PROJECT_ROOT / found.group(1)
    assert body_path == CURL_EXAMPLE, "the README's curl sends another file than setup_demo's"
    return json.loads(body_path.read_text())


def full_name(person: dict) -> str:
    return f"{person.get('firstName') or ''} {person.get('lastName') or ''}".strip()


def test_the_readme_curls_adviser_is_not_a_demo_adviser_by_name():
    adviser = readme_curl_body()["assignee"]
    demo_advisers = {
        full_name(event["assignee"])
        for event in json.loads(DEMO_EVENTS.read_text())
        if event.get("assignee")
    }

    assert full_name(adviser)
    assert full_name(adviser) not in demo_advisers
