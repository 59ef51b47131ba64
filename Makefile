# pet_auth developer commands. The virtual environment is created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev start migrate revision test lint bench purge-tokens env

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# A development .env from the example, once; edit it freely (it is not committed).
.env:
	cp .env.example .env

env: $(STAMP) .env

dev: env  ## create the database if needed, migrate, serve with auto-reload on PORT
	$(BIN)/python -m pet_auth create-db
	$(BIN)/alembic upgrade head
	$(BIN)/python -m pet_auth serve --reload

start: $(STAMP)  ## production server; workers from WEB_CONCURRENCY
	$(BIN)/python -m pet_auth serve

migrate: env  ## upgrade the schema to the newest revision
	$(BIN)/python -m pet_auth create-db
	$(BIN)/alembic upgrade head

revision: env  ## make revision m="what changed"
	@test -n "$(m)" || (echo 'usage: make revision m="what changed"' && exit 2)
	$(BIN)/alembic revision --autogenerate -m "$(m)"

purge-tokens: env  ## delete used and expired password reset tokens
	$(BIN)/python -m pet_auth purge-tokens

test: $(STAMP)  ## the whole suite, against real PostgreSQL and Redis
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests alembic bench
	$(BIN)/ruff format --check src tests alembic bench
	$(BIN)/mypy

bench: $(STAMP)  ## /me and login throughput against the Express peer, then the cost at 1k/100k/1M sessions
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scale.py
