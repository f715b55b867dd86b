"""The per-process task relay: ids handed over by web requests, sent in batches."""

import threading

from webhooks.relay import TaskRelay


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.sent = threading.Event()

    def __call__(self, batch: list[int]) -> None:
        self.batches.append(batch)
        self.sent.set()


def test_a_batch_is_sent_as_soon_as_it_is_full_however_long_the_linger():
    recorder = Recorder()
    relay = TaskRelay(recorder, batch_size=5, linger_seconds=3600)

    for event_id in range(5):
        relay.submit(event_id)

    assert recorder.sent.wait(timeout=30)
    assert recorder.batches == [[0, 1, 2, 3, 4]]


def test_a_lone_id_is_sent_when_the_linger_ends():
    recorder = Recorder()
    relay = TaskRelay(recorder, batch_size=100, linger_seconds=0.05)

    relay.submit(7)

    assert recorder.sent.wait(timeout=30)
    assert recorder.batches == [[7]]


def test_a_send_that_fails_does_not_stop_the_relay(caplog):
    recorder = Recorder()
    calls = []

    def flaky(batch: list[int]) -> None:
        calls.append(batch)
        if len(calls) == 1:
            raise ConnectionError("broker down")
        recorder(batch)

    relay = TaskRelay(flaky, batch_size=1)
    relay.submit(1)
    relay.submit(2)

    assert recorder.sent.wait(timeout=30)
    assert recorder.batches == [[2]]
    assert "events [1] left for the sweep" in caplog.text


def test_closing_sends_what_is_lingering_at_once():
    recorder = Recorder()
    relay = TaskRelay(recorder, batch_size=100, linger_seconds=3600)
    relay.submit(1)
    relay.submit(2)

    relay.close(timeout_seconds=30)

    assert recorder.batches == [[1, 2]]


def test_ids_submitted_while_a_batch_lingers_go_in_that_batch():
    recorder = Recorder()
    relay = TaskRelay(recorder, batch_size=100, linger_seconds=0.2)

    for event_id in (1, 2, 3):
        relay.submit(event_id)

    assert recorder.sent.wait(timeout=30)
    relay.close(timeout_seconds=30)
    assert recorder.batches == [[1, 2, 3]]
