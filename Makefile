# closer-archive: `make run` (embedded SQLite, eager tasks) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/closer_archive
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test fuzz lint format venv dev-venv clean

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
