"""DATABASE_REPLICA_URL: staff and API reads from a real streaming replica.

A private primary and a streaming replica of it (``pg_basebackup -R``) on
free ports, the project migrated on the primary and served by gunicorn with
both URLs. Replay on the replica is paused while a test writes, so a read
that comes from the replica cannot see the write and one from the primary
must: that is how each test tells which database answered.
"""

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from tests.private_postgres import PrivatePostgres, private_postgres
from tests.processes import PROJECT_ROOT, wait_until
from tests.served import collectstatic, gunicorn, production_env

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "closer"
PASSWORD = "replica-test-password-1"
PIN_COOKIE = "closer_archive_primary"


@dataclass
class Replicated:
    primary: PrivatePostgres
    replica: PrivatePostgres
    base_url: str
    webhook_path: str
    api_token: str

    def sql(self, server: PrivatePostgres, query: str, *params: object) -> list[tuple]:
        with psycopg.connect(server.url("closer_archive"), autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def caught_up(self) -> bool:
        (target,) = self.sql(self.primary, "SELECT pg_current_wal_lsn()::text")[0]
        (behind,) = self.sql(self.replica, "SELECT pg_last_wal_replay_lsn() < %s::pg_lsn", target)[
            0
        ]
        return not behind

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        """The replica stops applying the primary's changes until the block ends."""
        wait_until(self.caught_up, timeout=60, what="the replica to catch up")
        self.sql(self.replica, "SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            self.sql(self.replica, "SELECT pg_wal_replay_resume()")
            wait_until(self.caught_up, timeout=60, what="the replica to catch up")


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    with private_postgres() as primary:
        primary_url = primary.url("closer_archive")
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
             "-c", "CREATE DATABASE closer_archive"],
            check=True, capture_output=True,
        )  # fmt: skip
        setup_env = production_env(DATABASE_URL=primary_url, CELERY_BROKER_URL="")
        _manage(setup_env, "migrate", "--no-input", "-v", "0")
        _manage(
            {**setup_env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            "createsuperuser", "--no-input", "--username", "admin", "--email", "a@example.com",
        )  # fmt: skip
        token = _manage(setup_env, "drf_create_token", "admin").split()[2]
        endpoint = json.loads(_manage(setup_env, "create_endpoint", "replica", "--json"))
        webhook_path = urllib.parse.urlsplit(endpoint["url"]).path
        with private_postgres(replica_of=primary) as replica:
            env = production_env(
                DATABASE_URL=primary_url,
                DATABASE_REPLICA_URL=replica.url("closer_archive"),
                CELERY_BROKER_URL="",  # tasks run in the request, after commit
                STATIC_ROOT=str(tmp_path_factory.mktemp("static")),
            )
            collectstatic(env)
            log = tmp_path_factory.mktemp("logs") / "gunicorn.log"
            with gunicorn(env, "--workers", "1", "--threads", "4", log_path=log) as base_url:
                yield Replicated(primary, replica, base_url, webhook_path, token)


class Browser:
    """A member of staff: cookies kept, CSRF token sent, redirects followed."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=30) as answer:
            return answer.read().decode()

    def post(self, path: str, fields: list[tuple[str, str]]) -> str:
        data = urllib.parse.urlencode([("csrfmiddlewaretoken", self._csrf(path)), *fields])
        request = urllib.request.Request(
            self.base_url + path, data=data.encode(), headers={"Referer": self.base_url + path}
        )
        with self.opener.open(request, timeout=30) as answer:
            return answer.read().decode()

    def _csrf(self, path: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(path))
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def log_in(self) -> None:
        self.post("/admin/login/?next=/admin/", [("username", "admin"), ("password", PASSWORD)])
        self.forget_own_writes()

    def forget_own_writes(self) -> None:
        """Drop the cookie that keeps this browser's reads on the primary, as
        REPLICA_PIN_SECONDS after its last write would."""
        for cookie in list(self.cookies):
            if cookie.name == PIN_COOKIE:
                self.cookies.clear(cookie.domain, cookie.path, cookie.name)

    def pinned_to_primary(self) -> bool:
        return any(cookie.name == PIN_COOKIE for cookie in self.cookies)


def _post_closed_event(replicated: Replicated, customer_id: str) -> int:
    body = json.loads((EXAMPLES / "conversation.closed.json").read_text())
    body["customer"]["id"] = customer_id
    request = urllib.request.Request(
        replicated.base_url + replicated.webhook_path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status


def _api(replicated: Replicated, path: str) -> bytes:
    request = urllib.request.Request(
        replicated.base_url + path, headers={"Authorization": f"Token {replicated.api_token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()


def _archived_on_primary(replicated: Replicated, customer_id: str) -> int:
    return replicated.sql(
        replicated.primary,
        "SELECT count(*) FROM conversations_conversation c"
        " JOIN conversations_customer u ON u.id = c.customer_id WHERE u.closer_id = %s",
        customer_id,
    )[0][0]


def test_webhooks_and_processing_write_to_the_primary_while_api_reads_come_from_the_replica(
    replicated: Replicated,
) -> None:
    customer_id = f"replica-api-{uuid4()}"
    with replicated.replay_paused():
        assert _post_closed_event(replicated, customer_id) == 202
        assert _archived_on_primary(replicated, customer_id) == 1
        listed = _api(replicated, f"/api/v1/conversations/?customer={customer_id}")
        assert json.loads(listed)["results"] == []
    listed = _api(replicated, f"/api/v1/conversations/?customer={customer_id}")
    assert len(json.loads(listed)["results"]) == 1


def test_exports_read_from_the_replica(replicated: Replicated) -> None:
    customer_id = f"replica-export-{uuid4()}"
    export = f"/api/v1/export/conversations.ndjson?customer={customer_id}"
    with replicated.replay_paused():
        _post_closed_event(replicated, customer_id)
        assert _archived_on_primary(replicated, customer_id) == 1
        assert _api(replicated, export) == b""
    assert customer_id.encode() in _api(replicated, export)


def test_admin_lists_and_searches_read_from_the_replica(replicated: Replicated) -> None:
    staff = Browser(replicated.base_url)
    staff.log_in()
    customer_id = f"replica-admin-{uuid4()}"
    search = f"/admin/conversations/conversation/?q={customer_id}"
    with replicated.replay_paused():
        _post_closed_event(replicated, customer_id)
        assert _archived_on_primary(replicated, customer_id) == 1
        assert "0 results" in staff.get(search)
    assert "1 result " in staff.get(search)


def test_a_saved_endpoint_is_on_the_next_page_while_the_replica_is_behind(
    replicated: Replicated,
) -> None:
    staff = Browser(replicated.base_url)
    staff.log_in()
    name = f"saved-{uuid4().hex[:12]}"
    with replicated.replay_paused():
        page = staff.post(
            "/admin/webhooks/webhookendpoint/add/",
            [("name", name), ("is_active", "on"), ("signature_header", "X-Signature-256")],
        )
        assert staff.pinned_to_primary()
        assert name in page  # the page "Save" leads to
        assert name in staff.get("/admin/webhooks/webhookendpoint/")
        staff.forget_own_writes()
        assert name not in staff.get("/admin/webhooks/webhookendpoint/")  # the replica


def test_a_reprocessed_event_is_on_the_next_page_while_the_replica_is_behind(
    replicated: Replicated,
) -> None:
    staff = Browser(replicated.base_url)
    staff.log_in()
    customer_id = f"replica-reprocess-{uuid4()}"
    events = "/admin/webhooks/inboundevent/"
    with replicated.replay_paused():
        _post_closed_event(replicated, customer_id)
        (event_id,) = replicated.sql(
            replicated.primary,
            "SELECT id FROM webhooks_inboundevent WHERE customer_closer_id = %s",
            customer_id,
        )[0]
        page = staff.post(events, [("action", "reprocess"), ("_selected_action", str(event_id))])
        assert customer_id in page  # the list the action returns to
        staff.forget_own_writes()
        assert customer_id not in staff.get(events)  # the replica
