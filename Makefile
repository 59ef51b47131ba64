# pet_auth developer commands. The virtual environment is created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CLIENT := clients/typescript
CLIENT_DEPS := $(CLIENT)/node_modules/.package-lock.json

.PHONY: dev start migrate revision test test-fast lint bench purge purge-tokens env client client-deps client-check \
	infra-up infra-down infra-reset docs docs-check

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# A development .env from the example, once; edit it freely (it is not committed).
.env:
	cp .env.example .env

env: $(STAMP) .env

# Development is asked for explicitly: without APP_ENV every command runs in production (and reads no .env). The
# development commands run in development (reading .env), whatever APP_ENV the shell has.
dev migrate revision infra-up infra-down infra-reset: export APP_ENV = development

# PostgreSQL and Redis at DATABASE_URL / REDIS_URL, else started with Docker Compose, else as private servers
# under .dev/; their URLs go into .env. When none of that works, one line per server says what to install.
infra-up: env
	$(BIN)/python -m tools.devinfra up

infra-down: $(STAMP)  ## stop the servers make started; their data is kept
	$(BIN)/python -m tools.devinfra down

infra-reset: $(STAMP)  ## stop them and delete their data
	$(BIN)/python -m tools.devinfra reset

# Once the server answers, one block says the API's URL as the app must call it (localhost, the frontend's host name),
# the frontend origins it accepts, and where development mail goes (tools/devinfra/ready.py).
dev: infra-up  ## start what is missing, create the database if needed, migrate, serve with auto-reload on PORT
	$(BIN)/python -m pet_auth create-db
	$(BIN)/alembic upgrade head
	$(BIN)/python -m tools.devinfra serve

start: $(STAMP)  ## production server (unless APP_ENV says otherwise); workers from WEB_CONCURRENCY. Starts no database: says which one is down
	@$(BIN)/python -m pet_auth check; status=$$?; \
	  if [ $$status -eq 3 ]; then echo "pet_auth: serving anyway; /ready answers 503 until they answer"; \
	  elif [ $$status -ne 0 ]; then exit $$status; fi
	$(BIN)/python -m pet_auth serve

migrate: infra-up  ## upgrade the schema to the newest revision
	$(BIN)/python -m pet_auth create-db
	$(BIN)/alembic upgrade head

revision: infra-up  ## make revision m="what changed"
	@test -n "$(m)" || (echo 'usage: make revision m="what changed"' && exit 2)
	$(BIN)/python -m pet_auth create-db
	$(BIN)/alembic revision --autogenerate -m "$(m)"

purge: env  ## delete used and expired reset and email links, and security events older than SECURITY_EVENTS_RETENTION_DAYS
	$(BIN)/python -m pet_auth purge

purge-tokens: purge  ## the former name of purge

test: $(STAMP) $(CLIENT_DEPS)  ## the whole suite, against real PostgreSQL and Redis (and the TypeScript client)
	$(BIN)/pytest $(PYTEST_ARGS)

# The edit loop, well under a minute: the unit tier (the domain's rules with in-memory fakes) and the api tier's smoke
# tests (register, login, /me, logout, change password, reset; the app in-process against real PostgreSQL and Redis).
# The tiers: tests/support/tiers.py.
test-fast: $(STAMP)  ## the unit tier and the smoke tests, for the edit loop; make test is the whole suite
	$(BIN)/pytest -m "unit or smoke" $(PYTEST_ARGS)

# The TypeScript client's packages, exactly as package-lock.json pins them.
$(CLIENT_DEPS): $(CLIENT)/package.json $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund
	touch $@

client-deps: $(CLIENT_DEPS)

# Writes the client's schema types, generated from the API's OpenAPI document (no server needed), to $(1).
generate_schema_types = set -o pipefail && $(BIN)/python -m pet_auth openapi \
	| $(CLIENT)/node_modules/.bin/openapi-typescript --output "$(1)" >/dev/null

client: $(STAMP) $(CLIENT_DEPS)  ## regenerate the TypeScript client's src/schema.d.ts from the API and build it
	$(call generate_schema_types,$(CLIENT)/src/schema.d.ts)
	cd $(CLIENT) && npm run --silent build

client-check: $(STAMP) $(CLIENT_DEPS)  ## the committed schema types are current, type-check, the client's tests
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	$(call generate_schema_types,$$out/schema.d.ts) && \
	if ! diff -u $(CLIENT)/src/schema.d.ts "$$out/schema.d.ts"; then \
	  echo "client-check: $(CLIENT)/src/schema.d.ts differs from the API's document; run make client" >&2; exit 1; \
	fi
	cd $(CLIENT) && npm run --silent typecheck
	$(BIN)/pytest tests/test_typescript_client.py -q

# The structure's rules: the import rules and the tripwires on Litestar's internals need no server, so they run here.
STRUCTURE_TESTS := tests/unit/test_import_rules.py tests/unit/test_function_length.py tests/test_litestar_compat.py

lint: $(STAMP)  ## ruff, ruff format, mypy --strict, no function in src/ over 60 lines, the import rules and tripwires
	$(BIN)/ruff check src tests tools alembic bench
	$(BIN)/ruff format --check src tests tools alembic bench
	$(BIN)/mypy
	$(BIN)/python -m tools.check_function_length src
	$(BIN)/pytest -q -p no:cacheprovider $(STRUCTURE_TESTS)

# The docs site (mkdocs.yml, docs/): MkDocs with the Material theme.
docs: $(STAMP)  ## serve the docs site with live reload on http://127.0.0.1:8000
	$(BIN)/mkdocs serve

docs-check: $(STAMP) $(CLIENT_DEPS)  ## build the docs site with --strict (into a temporary directory); docs/frontend.md's examples compile
	@# Not --quiet: it hides the warnings that --strict turns into a failure. NO_MKDOCS_2_WARNING: Material's banner.
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$out"
	cd $(CLIENT) && npm run --silent typecheck:docs

bench: $(STAMP)  ## /me and login throughput against the Express peer, then the cost at 1k/100k/1M sessions
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scale.py
