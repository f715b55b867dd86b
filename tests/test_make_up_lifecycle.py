"""`make up` stops on Ctrl-C without leaving a process behind, and names
an unreachable PostgreSQL or Redis instead of starting (tests/stack.py)."""

import pytest

from tests.faults import free_port
from tests.processes import wait_until
from tests.stack import alive, interrupt, make_up, stack_settings, start_make_up

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_ctrl_c_stops_every_process_of_make_up(tmp_path):
    with make_up(tmp_path) as stack:
        started = stack.processes()
        assert len(started) >= 10  # make, honcho, 2 gunicorn masters and workers, celery

        interrupt(stack)

    wait_until(lambda: not alive(started), timeout=30, what="every process to exit")
    for name in ("webhooks", "web", "worker", "beat"):
        assert f"{name}.1 stopped (rc=0)" in stack.output()  # not killed after honcho's wait


def test_make_up_names_an_unreachable_postgresql_and_starts_nothing(tmp_path):
    port = free_port()
    settings = stack_settings(
        tmp_path, DATABASE_URL=f"postgres://postgres:pw-{port}@127.0.0.1:{port}/x"
    )

    stack = start_make_up(tmp_path, settings)

    assert stack.make.wait(timeout=60) != 0
    output = stack.output()
    assert f"PostgreSQL at 127.0.0.1:{port} [DATABASE_URL]: connection failed" in output
    assert f"pw-{port}" not in output
    assert "honcho start" not in output


def test_make_up_names_an_unreachable_redis_and_starts_nothing(tmp_path):
    port = free_port()
    settings = stack_settings(tmp_path, CELERY_BROKER_URL=f"redis://:pw-{port}@127.0.0.1:{port}/0")

    stack = start_make_up(tmp_path, settings)

    assert stack.make.wait(timeout=60) != 0
    output = stack.output()
    assert f"Celery broker at redis://:**@127.0.0.1:{port}/0 [CELERY_BROKER_URL]: " in output
    assert "Connection refused" in output
    assert f"pw-{port}" not in output
    assert "honcho start" not in output
