"""gunicorn settings read from the working directory (gunicorn loads
./gunicorn.conf.py by default). Only what keeps secrets out of the logs
and what the Prometheus metrics need lives here; workers, bind address and
the rest stay on the command line.

The access log is off unless ``--access-logfile -`` (or a path) is given;
when it is on, every atom of the line is passed through
``closerarchive.redaction.redact``, so webhook URL tokens appear as
``/webhooks/closer/<redacted>/``.
"""

import os
from typing import Any

logger_class = "closerarchive.redaction.RedactingGunicornLogger"


def child_exit(server: Any, worker: Any) -> None:
    """prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR set):
    a dead worker's live gauges are dropped; its counters and histograms
    stay in the directory, still summed into /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
