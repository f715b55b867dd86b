"""Settings for closer-archive, all read from the environment.

Without any environment the project runs on a local SQLite file with Celery
tasks executed eagerly (after commit), so one command brings it up on a laptop.
Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# PRODUCTION=1 turns every deployment safeguard on at once (see "Production
# security" below); each one can still be set on its own.
PRODUCTION = env_bool("PRODUCTION", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("REQUIRE_SECRET_KEY", PRODUCTION):
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # A local-only key: fine for a laptop run, never for a deployment
    # (set REQUIRE_SECRET_KEY=1 there so a missing key stops start-up).
    SECRET_KEY = "insecure-local-development-key-" + "x" * 32
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The admin's speed layer; first, so that its admin/base_site.html is
    # found before django.contrib.admin's own (which it extends).
    "admin_speed",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: runserver leaves /static/ to WhiteNoise, as gunicorn does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "audit",
    "conversations",
    "webhooks",
    "backfill",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from STATIC_ROOT, before sessions and the rest.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Staff reads from DATABASE_REPLICA_URL when set (a no-op without it).
    "closerarchive.replica.ReplicaReadsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into a 429 response.
    "axes.middleware.AxesMiddleware",
]

# django-axes counts failed logins (admin and any other Django login) and
# locks a username+address pair out after AXES_FAILURE_LIMIT failures for
# AXES_COOLOFF_MINUTES; a successful login resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "closerarchive.urls"
WSGI_APPLICATION = "closerarchive.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "closerarchive" / "templates"],  # the landing page
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# No DATABASE_URL: an embedded SQLite file for a first run. Production and the
# test suite use PostgreSQL (postgres://user@host:5432/name). How long
# connections are kept, and their health checks: "Database connections" below.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast when the database is unreachable so the webhook view can
    # answer 503 (and the sender retries) instead of hanging its request.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "DATABASE_CONNECT_TIMEOUT", 3, minimum=1
    )
    # Statements sent with server-side binding (only the webhook's INSERT:
    # Django's own queries use client-side binding and are never prepared)
    # become prepared statements after 5 uses on a connection: PostgreSQL
    # then skips parsing and planning them (docs/benchmarks.md, "Ingest").
    # Off (0) behind a pooler that cannot track prepared statements, such as
    # PgBouncer before 1.21 in transaction pooling mode.
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = (
        5 if env_bool("DATABASE_PREPARED_STATEMENTS", True) else None
    )
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The admin's dates: "2026-12-07 14:03 CET", in TIME_ZONE (closerarchive/formats/).
FORMAT_MODULE_PATH = ["closerarchive.formats"]

# --- Webhooks -----------------------------------------------------------------
# Largest body accepted by the receive view; larger bodies get 413.
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# Standard Webhooks: how far webhook-timestamp may be from now.
WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS = env_int("WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS", 300, minimum=1)
# How long a web process trusts its copy of an endpoint (0: read it on every
# request). Disabling an endpoint or rotating its secrets takes effect in the
# other web processes within this time.
WEBHOOK_ENDPOINT_CACHE_SECONDS = env_int("WEBHOOK_ENDPOINT_CACHE_SECONDS", 10)
# Public base of the webhook URLs that create_endpoint, setup_demo and the
# admin show (no trailing slash). Empty: they follow the address in use (the
# admin's request, setup_demo's --host/--port, create_endpoint's --base-url,
# else http://127.0.0.1:8000; webhooks/endpoints.py).
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "").rstrip("/")
# Let the request body through Django's own limit; the view enforces ours.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(WEBHOOK_MAX_BODY_BYTES + 1, 2_621_440)

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
# Without a broker, tasks run in-process. The webhook view only sends them
# after commit, so "eager" still means "after the event is stored".
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# Publishing happens on the request path: it must fail fast, never hang.
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_CONNECTION_TIMEOUT", 2, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": 5,
    # Redis re-delivers an unacknowledged task after this many seconds; it
    # must be longer than the longest task (a large backfill batch).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
    "max_retries": 0,
}
if CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    # RabbitMQ: wait for the broker's confirmation of each publish, so a task
    # the broker did not take raises (and the sweep sends it later) instead
    # of being lost silently. Unacknowledged tasks come back when a worker's
    # connection closes; RabbitMQ's consumer_timeout (30 min by default) must
    # exceed the longest task.
    CELERY_BROKER_TRANSPORT_OPTIONS["confirm_publish"] = True
# Web processes publish processing tasks from a background thread, several
# events per task, so a webhook's response never waits for the broker
# (webhooks/relay.py). 0: publish one task per event on the request thread.
WEBHOOK_TASK_RELAY = env_bool("WEBHOOK_TASK_RELAY", True)
# How long the relay waits to fill a task with more event ids before sending
# it: the delay an event may wait before its task is published.
WEBHOOK_RELAY_LINGER_MS = env_int("WEBHOOK_RELAY_LINGER_MS", 200, minimum=0)
# Processing retries: attempts before an event is marked dead.
EVENT_MAX_ATTEMPTS = env_int("EVENT_MAX_ATTEMPTS", 5, minimum=1)
EVENT_RETRY_BASE_SECONDS = env_int("EVENT_RETRY_BASE_SECONDS", 10, minimum=0)
# A processing task also applies up to this many other waiting events in the
# same batch (1: one event per task). See docs/reliability.md. 100: one worker
# process ran about a fifth faster than with 50, and no faster with 200
# (docs/benchmarks.md, "Ingest"), while a batch's transaction stays short.
EVENT_BATCH_SIZE = env_int("EVENT_BATCH_SIZE", 100, minimum=1)
# Celery beat runs the sweep: events left `received` (the broker was down
# when they arrived) or `failed` past their retry time are sent again.
# Cron users run `manage.py sweep_events` instead.
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 60, minimum=1)
# A `received` event younger than this is left alone: its own task is
# probably still on its way.
SWEEP_GRACE_SECONDS = env_int("SWEEP_GRACE_SECONDS", 60, minimum=0)
# A `received` event the sweep sent is not sent again before this: under a
# backlog its task is still queued. (Sent tasks lost by a broker that does
# not persist them are re-sent after it.)
SWEEP_RESEND_AFTER_SECONDS = env_int("SWEEP_RESEND_AFTER_SECONDS", 300, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "sweep-events": {
        "task": "webhooks.sweep_events",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
        # A sweep that could not run in time is useless once the next is due.
        "options": {"expires": float(SWEEP_INTERVAL_SECONDS)},
    },
    # The Insights roll-ups of the hours written since (docs/insights.md).
    "refresh-insights": {
        "task": "conversations.refresh_insights",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
}

# --- Retention (README, "Retention") ------------------------------------------
# Conversations whose closing time (an open one: its opening time) is more
# than this many days ago are deleted or anonymised by `manage.py
# apply_retention` and its daily beat task, and events older than that are
# no longer archived (status `expired`). Empty: kept for ever.
RETENTION_CONVERSATIONS_DAYS = env_int("RETENTION_CONVERSATIONS_DAYS", 0, minimum=1) or None
RETENTION_CONVERSATIONS_ACTION = env_choice(
    "RETENTION_CONVERSATIONS_ACTION", "delete", ("delete", "anonymise")
)
# Raw bodies and headers of inbound events are blanked this many days after
# they were processed (the row, its status and dedupe key stay). An endpoint
# may override it (its inbound_body_retention_days). Empty: kept for ever.
RETENTION_INBOUND_BODIES_DAYS = env_int("RETENTION_INBOUND_BODIES_DAYS", 0, minimum=1) or None
# Conversations per transaction (fewer when their messages pass 50,000), and
# inbound events per transaction when pruning bodies.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000, minimum=1)
CELERY_BEAT_SCHEDULE["apply-retention"] = {
    "task": "webhooks.apply_retention",
    "schedule": crontab(minute=30, hour=3),
    # A run missed by more than half a day waits for the next one.
    "options": {"expires": 12 * 3600.0},
}

# --- REST API -----------------------------------------------------------------
# Read-only, and only for users holding the model's view permission.
# TokenAuthentication first: an anonymous request then gets 401 with a
# WWW-Authenticate challenge rather than 403.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "conversations.api.access.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["conversations.api.access.ViewModelPermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["conversations.api.access.AuthenticatedUserThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_USER_THROTTLE_RATE", "10000/hour")},
    "DEFAULT_PAGINATION_CLASS": "conversations.api.pagination.ArchiveCursorPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "conversations.api.pagination.DocumentedOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # ISO 8601 in UTC with a Z, as the exports write them.
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "closer-archive API",
    "DESCRIPTION": (
        "Read-only export of archived Closer conversations. Authenticate with "
        "`Authorization: Token KEY` or `Authorization: Bearer KEY` (`python manage.py "
        "drf_create_token USER`) or a "
        "session; the user needs the view permission of what they read."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "conversations.models.ConversationStatus",
        "InboundEventStatusEnum": "webhooks.models.EventStatus",
    },
}
# Throttle counters live in the default cache: set CACHE_URL (redis://...) so
# that all web processes share them; without it each process counts alone.
# The admin caches its navigation sidebar and a few list-filter answers there too.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if (CACHE_URL := env_str("CACHE_URL", ""))
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- Logging ------------------------------------------------------------------
# Webhook URLs carry their endpoint's secret token, and Django logs request
# paths (django.request warns "Unauthorized: /webhooks/closer/<token>/",
# runserver logs every request line): every record goes through the console
# handler, whose filter replaces the token with "<redacted>". Django's own
# handlers (console when DEBUG, mail_admins) are replaced by this one.
# Celery workers and beat use this configuration too (closerarchive/celery.py).
# LOG_FORMAT=json: one JSON object per line (closerarchive/logformat.py); the
# filter runs before either formatter.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", ("plain", "json"))
LOG_LEVEL = env_choice(
    "LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")
).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "closerarchive.redaction.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "closerarchive.logformat.JsonLineFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact_secrets"],
        }
    },
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Static files (issue 15) -------------------------------------------------
# WhiteNoise serves /static/ from STATIC_ROOT in every web process (gunicorn
# or runserver), so the admin, DRF's browsable API and Swagger UI (from
# drf-spectacular-sidecar) are styled without a proxy rule. `collectstatic`
# writes each file under a name with its content's hash, plus a gzip copy;
# WhiteNoise sends those as `immutable` for ten years (max-age=315360000).
STATIC_URL = "static/"
# A relative STATIC_ROOT is taken from the project directory.
STATIC_ROOT = BASE_DIR / (env_str("STATIC_ROOT", "") or "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Production security (see README "Production" and docs/reliability.md) -----
# PRODUCTION=1 turns all of these on; `manage.py check --deploy` then reports
# no warnings (tests/closerarchive/test_security.py runs it). Each can be overridden, e.g.
# SECURE_SSL_REDIRECT=0 when the proxy already redirects HTTP to HTTPS.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0 and env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy (nginx, a load balancer) Django sees plain
# HTTP; it trusts X-Forwarded-Proto only when BEHIND_TLS_PROXY=1, and the
# proxy must then set that header itself, overwriting any the client sent.
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The client's address: see "Client address behind proxies" below.

# --- Database connections (issue 15) ------------------------------------------
# A new PostgreSQL connection per request costs more than the webhook itself
# (in one measurement 157 webhooks/s, against 1,285/s on a kept connection),
# so production keeps connections for DATABASE_CONN_MAX_AGE seconds; 0 (the
# default elsewhere) closes each at the end of its request. A kept connection may have been
# dropped by the server meanwhile (a restart, a failover, an idle timeout):
# with health checks Django runs SELECT 1 on it once per request before its
# first query and reconnects if that fails, so the request is answered
# normally instead of failing. Default on whenever connections are kept.
conn_max_age = env_int("DATABASE_CONN_MAX_AGE", 60 if PRODUCTION else 0)
DATABASES["default"]["CONN_MAX_AGE"] = conn_max_age
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool(
    "DATABASE_CONN_HEALTH_CHECKS", conn_max_age > 0
)

# --- Reads from a streaming replica (issue 19) ----------------------------------
# With DATABASE_REPLICA_URL, staff pages and API reads (GET and HEAD under
# /admin/ and /api/) read from that PostgreSQL streaming replica; the webhook
# path, processing, the backfill, commands and every write use DATABASE_URL.
# After a browser's own write (any other method), its reads stay on the
# primary for REPLICA_PIN_SECONDS, so it sees what it just saved. See
# closerarchive/replica.py and docs/scaling.md.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 30, minimum=1)
if DATABASE_REPLICA_URL:
    replica = dj_database_url.parse(DATABASE_REPLICA_URL)
    if not IS_POSTGRES or replica["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL needs PostgreSQL for both DATABASE_URL and the replica"
        )
    DATABASES["replica"] = {
        **replica,
        "OPTIONS": DATABASES["default"]["OPTIONS"],
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": DATABASES["default"]["CONN_HEALTH_CHECKS"],
        # The test database has no replica of its own: the suite's tests read
        # "replica" from the test database (a real replica is started by
        # tests/closerarchive/test_replica.py).
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["closerarchive.replica.ReplicaRouter"]

# --- Client address behind proxies (issue 15) ---------------------------------
# django-axes locks a username+address pair out; behind a reverse proxy every
# request comes from the proxy's address, so the address must be read from
# X-Forwarded-For (through django-ipware). TRUSTED_PROXY_COUNT is how many
# proxies append to X-Forwarded-For in front of Django (nginx's
# $proxy_add_x_forwarded_for, a load balancer): the client is the entry that
# many places from the right, the address the outermost proxy saw. Entries
# further left were sent by the client and are ignored. 0 (the default):
# REMOTE_ADDR, for a Django that clients reach directly. Too high a count
# lets a client choose its address (a fresh lockout count per forged
# address); too low a count gives every client the address of a proxy.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR",)
    # ipware counts the proxies listed in the header, after the client: the
    # proxy nearest Django is REMOTE_ADDR, not in the header.
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT - 1
    AXES_IPWARE_PROXY_ORDER = "left-most"
    # Not strict: a header the client started with entries of its own still
    # gives the entry our proxies appended, instead of no address at all.
    IPWARE_STRICT = False
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# No "AXES: BEGIN version ..." banner on every manage.py command.
AXES_VERBOSE = False

# --- Access audit (issue 16) -------------------------------------------------------
# Who read which conversations is kept this many days (audit.services
# .prune_access_records deletes older records).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 730, minimum=1)

# --- Errors: Sentry (issue 15) --------------------------------------------------
# Off unless SENTRY_DSN is set; closerarchive/sentry.py says what is sent (no
# personal data, webhook tokens redacted). The sample rate is checked even
# without a DSN, so a typo shows before the day it is needed.
SENTRY_DSN = env_str("SENTRY_DSN", "").strip()
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "").strip()
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0, minimum=0.0, maximum=1.0)
if SENTRY_DSN:
    from .sentry import init_sentry

    init_sentry(
        SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT or None,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )

# --- Metrics (issue 15) -------------------------------------------------------
# GET /metrics (closerarchive/metrics.py). With METRICS_TOKEN set, scrapers
# send "Authorization: Bearer <token>"; without it only loopback clients may
# read the metrics.
METRICS_TOKEN = env_str("METRICS_TOKEN", "").strip()
# prometheus_client's multiprocess mode (several gunicorn workers, Celery
# worker processes): prometheus_client reads this variable itself. Checked
# here so that a missing directory stops start-up with a clear message, not
# a FileNotFoundError from the first metric created.
if (_multiproc_dir := env_str("PROMETHEUS_MULTIPROC_DIR", "")) and not Path(
    _multiproc_dir
).is_dir():
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR={_multiproc_dir!r} is not a directory (create it, empty)"
    )
# Prometheus scrapes the app server directly, over plain HTTP: no redirect
# to HTTPS for /metrics, even with SECURE_SSL_REDIRECT on.
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]

# --- Health checks (issue 15) ---------------------------------------------------
# /health/ready turns red when an event has waited in `received` longer than
# this: neither its task nor the sweep got it processed (a dead beat or worker
# pool). It must exceed the sweep's grace + interval, by when the sweep has sent
# a stranded event again, so a healthy system never trips it.
HEALTH_MAX_RECEIVED_AGE_SECONDS = env_int(
    "HEALTH_MAX_RECEIVED_AGE_SECONDS",
    max(300, 2 * (SWEEP_GRACE_SECONDS + SWEEP_INTERVAL_SECONDS)),
    minimum=1,
)
if HEALTH_MAX_RECEIVED_AGE_SECONDS <= SWEEP_GRACE_SECONDS + SWEEP_INTERVAL_SECONDS:
    raise ImproperlyConfigured(
        f"HEALTH_MAX_RECEIVED_AGE_SECONDS={HEALTH_MAX_RECEIVED_AGE_SECONDS} must exceed "
        "SWEEP_GRACE_SECONDS + SWEEP_INTERVAL_SECONDS "
        f"({SWEEP_GRACE_SECONDS + SWEEP_INTERVAL_SECONDS})"
    )
# Probes reach the app over plain HTTP behind the TLS proxy: answer them, not
# with a redirect to HTTPS (SECURE_SSL_REDIRECT).
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^health/(live|ready)$"]
if CACHE_URL:
    # Bounded waits on the cache: the readiness probe (and a throttled API
    # request) fails after 2 s instead of hanging on a Redis that does not answer.
    _redis_cache: dict[str, Any] = {
        **CACHES["default"],
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
    CACHES["default"] = _redis_cache
