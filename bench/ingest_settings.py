"""Settings for bench/ingest.py: the project's own, plus two baseline views."""

from closerarchive.settings import *  # noqa: F403

ROOT_URLCONF = "bench.ingest_urls"
