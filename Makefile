# pet_auth developer commands. The virtual environment is created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev start migrate revision test lint bench purge-tokens env infra-up infra-down infra-reset

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# A development .env from the example, once; edit it freely (it is not committed).
.env:
	cp .env.example .env

env: $(STAMP) .env

# The development commands run in development (reading .env), whatever APP_ENV the shell has.
dev migrate revision infra-up infra-down infra-reset: export APP_ENV = development

# PostgreSQL and Redis at DATABASE_URL / REDIS_URL, else started with Docker Compose, else as private servers
# under .dev/; their URLs go into .env. When none of that works, one line per server says what to install.
infra-up: env
	$(BIN)/python -m pet_auth infra up

infra-down: $(STAMP)  ## stop the servers make started; their data is kept
	$(BIN)/python -m pet_auth infra down

infra-reset: $(STAMP)  ## stop them and delete their data
	$(BIN)/python -m pet_auth infra reset

dev: infra-up  ## start what is missing, create the database if needed, migrate, serve with auto-reload on PORT
	$(BIN)/python -m pet_auth create-db
	$(BIN)/alembic upgrade head
	$(BIN)/python -m pet_auth serve --reload

start: $(STAMP)  ## production server; workers from WEB_CONCURRENCY. Starts no database: says which one is down
	@$(BIN)/python -m pet_auth infra check || echo "pet_auth: serving anyway; /ready answers 503 until they answer"
	$(BIN)/python -m pet_auth serve

migrate: infra-up  ## upgrade the schema to the newest revision
	$(BIN)/python -m pet_auth create-db
	$(BIN)/alembic upgrade head

revision: infra-up  ## make revision m="what changed"
	@test -n "$(m)" || (echo 'usage: make revision m="what changed"' && exit 2)
	$(BIN)/python -m pet_auth create-db
	$(BIN)/alembic revision --autogenerate -m "$(m)"

purge-tokens: env  ## delete used and expired password reset tokens
	$(BIN)/python -m pet_auth purge-tokens

test: $(STAMP)  ## the whole suite, against real PostgreSQL and Redis
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests alembic bench
	$(BIN)/ruff format --check src tests alembic bench
	$(BIN)/mypy

bench: $(STAMP)  ## /me and login throughput against the Express peer; prints one table
	$(BIN)/python bench/run.py
