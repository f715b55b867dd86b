"""gunicorn settings read from the working directory (gunicorn loads
./gunicorn.conf.py by default). Only what keeps secrets out of the logs
lives here; workers, bind address and the rest stay on the command line.

The access log is off unless ``--access-logfile -`` (or a path) is given;
when it is on, every atom of the line is passed through
``closerarchive.redaction.redact``, so webhook URL tokens appear as
``/webhooks/closer/<redacted>/``.
"""

logger_class = "closerarchive.redaction.RedactingGunicornLogger"
