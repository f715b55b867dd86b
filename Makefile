# closer-archive: `make run` (embedded SQLite, eager tasks), `make up` (the
# production shape: PostgreSQL, Redis, gunicorn, Celery), `make test`, and
# `make lock` (requirements*.txt -> requirements*.lock, every package hashed).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/closer_archive
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
HOST ?= 127.0.0.1
PORT ?= 8000
# The settings file `make up` hands to honcho (a missing file is no error).
ENV_FILE ?= .env

# The lock tool, pinned, in a venv of its own: `make lock` must work while the
# project's locks are stale or do not install (that is when it is needed).
UV_VERSION := 0.13.9
LOCK_VENV := .venv-lock
UV_STAMP := $(LOCK_VENV)/.uv-$(UV_VERSION)
# Resolved for the machines that install the locks (CPython 3.11 on x86-64
# Linux) whichever machine runs it; every file of a pinned release is hashed.
# Pins already in a lock are kept; LOCK_FLAGS=--upgrade (or
# "--upgrade-package NAME") moves them.
UV_COMPILE = $(CURDIR)/$(LOCK_VENV)/bin/uv pip compile --quiet --generate-hashes \
	--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command "make lock" $(LOCK_FLAGS)
# Run in the directory holding the four files: the dev lock is constrained to
# the runtime lock's pins, so both venvs get the same version of each package.
LOCK_BOTH = $(UV_COMPILE) requirements.txt -o requirements.lock \
	&& $(UV_COMPILE) requirements-dev.txt -c requirements.lock -o requirements-dev.lock
# Exactly the locked set: every file's hash is checked, and pip refuses a
# dependency the lock lacks. pip itself is pinned in the lock.
PIP_INSTALL_LOCK = $(BIN)/python -m pip install --quiet --require-hashes --only-binary :all: -r

.PHONY: run up test fuzz lint format venv dev-venv lock lock-check audit clean

# A new venv on Python 3.11 comes with setuptools 65.5 (it has known
# vulnerabilities); nothing in the lock needs it, so it goes, and the venv
# holds exactly the locked set.
$(BIN)/.runtime: requirements.lock
	test -x $(BIN)/python || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip uninstall --quiet --yes setuptools; }
	$(PIP_INSTALL_LOCK) requirements.lock
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.lock
	$(PIP_INSTALL_LOCK) requirements-dev.lock
	touch $@

venv: $(BIN)/.runtime
dev-venv: $(BIN)/.dev

## Set up and serve on SQLite with eager tasks, demo data and a printed admin login.
## Static files come from STATIC_ROOT through WhiteNoise, as under gunicorn.
run: venv
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py collectstatic --no-input -v 0
	$(BIN)/python manage.py setup_demo --host $(HOST) --port $(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## The production shape on this machine, against its PostgreSQL and Redis: the
## Procfile's processes under honcho, once the services answer, the database is
## migrated, the static files collected and the admin login printed. A setting
## comes from $(ENV_FILE) if set there (honcho lets it win over the shell), else
## from the shell, else from the defaults below.
up: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/closer_archive
up: export CELERY_BROKER_URL ?= redis://127.0.0.1:6379/0
up: export CACHE_URL ?= redis://127.0.0.1:6379/1
up: export PATH := $(abspath $(BIN)):$(PATH)
up: venv
	$(BIN)/honcho run -e $(ENV_FILE) python manage.py check_services --create-database
	$(BIN)/honcho run -e $(ENV_FILE) python manage.py migrate --no-input -v 0
	$(BIN)/honcho run -e $(ENV_FILE) python manage.py collectstatic --no-input -v 0
	@# The Procfile's addresses, with its defaults, for the printed URLs.
	$(BIN)/honcho run -e $(ENV_FILE) sh -c 'exec python manage.py setup_demo --stack \
	  --host "$${BIND_ADDRESS:-127.0.0.1}" --port "$${WEB_PORT:-8000}" --webhook-port "$${WEBHOOKS_PORT:-8001}"'
	$(BIN)/honcho start -e $(ENV_FILE)

## The whole test suite against PostgreSQL and Redis.
test: dev-venv
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest

## The hostile-input fuzz test at 10,000 examples per property (docs/reliability.md).
fuzz: dev-venv
	DATABASE_URL=$(TEST_DATABASE_URL) FUZZ_EXAMPLES=10000 $(BIN)/pytest tests/webhooks/test_fuzz_receive.py -k hostile -p no:logging

## ruff (lint and format), mypy, and the import contracts in pyproject.toml.
lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache

$(UV_STAMP):
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	touch $@

## Regenerate requirements.lock and requirements-dev.lock from requirements*.txt.
lock: $(UV_STAMP)
	@if grep -l '^<<<<<<<' requirements.lock requirements-dev.lock 2>/dev/null; then \
		echo "merge conflict in the lock(s) above: take one side (git checkout --theirs FILE), then make lock" >&2; exit 1; fi
	$(LOCK_BOTH)

## Fail if a lock is out of date with requirements*.txt (CI runs it).
lock-check: $(UV_STAMP)
	@tmp=$$(mktemp -d) && cp requirements.txt requirements-dev.txt requirements.lock requirements-dev.lock $$tmp/ \
	&& (cd $$tmp && $(LOCK_BOTH)) \
	&& diff -u requirements.lock $$tmp/requirements.lock && diff -u requirements-dev.lock $$tmp/requirements-dev.lock \
	&& rm -rf $$tmp && echo "requirements*.lock match requirements*.txt" \
	|| { echo "requirements*.lock are out of date with requirements*.txt: run 'make lock' and commit the locks" >&2; exit 1; }

## Known vulnerabilities in every locked package (pip-audit, PyPI's advisory data over the network).
## Exits non-zero on a vulnerability, and (--strict) on any package it could not audit.
audit: dev-venv
	$(BIN)/pip-audit --strict --require-hashes --disable-pip --progress-spinner off \
		-r requirements.lock -r requirements-dev.lock $(AUDIT_FLAGS)

format: dev-venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(LOCK_VENV) db.sqlite3 .pytest_cache .mypy_cache .ruff_cache
