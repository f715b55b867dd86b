# closer-archive: `make run` (embedded SQLite, eager tasks), `make up` (the
# production shape: PostgreSQL, Redis, gunicorn, Celery) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/closer_archive
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
HOST ?= 127.0.0.1
PORT ?= 8000
# The settings file `make up` hands to honcho (a missing file is no error).
ENV_FILE ?= .env

.PHONY: run up test fuzz lint format venv dev-venv clean

$(BIN)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
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

format: dev-venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .mypy_cache .ruff_cache
