# Roster: `make run` serves the dashboard with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench bench-invitations bench-export bench-changes bench-scim bench-pages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

## run: install, create/upgrade the SQLite database, add demo data if empty, serve on :5000
run: $(VENV)/.installed
	$(BIN)/roster init-db
	$(BIN)/roster demo
	$(BIN)/roster run --host 127.0.0.1 --port 5000

# axe-core (the accessibility checker the end-to-end tests inject), pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## test: install with the dev extras and run the whole suite (ROSTER_TEST_DATABASE_URL picks the DB)
test: $(VENV)/.installed-dev node_modules/.installed
	scripts/ensure_chromium.sh
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check webapp tests scripts
	$(BIN)/ruff format --check webapp tests scripts

format: $(VENV)/.installed-dev
	$(BIN)/ruff format webapp tests scripts
	$(BIN)/ruff check --fix webapp tests scripts

## bench: issue 9's benchmark: Roster ÷ a bare Flask app, one gunicorn sync worker each, driven by
## wrk (Debian's, installed when missing), on a dataset cached in instance/ (SQLite, or
## ROSTER_DATABASE_URL); BENCH_ARGS="--scale 0.02" for a quick look, "--help" for the rest
bench: $(VENV)/.installed
	command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

## bench-invitations: issue 10's figures: one request inviting 1,000 addresses, mails over SMTP to
## aiosmtpd on localhost (SQLite, or ROSTER_DATABASE_URL, which is wiped)
bench-invitations: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_invitations.py $(BENCH_INVITATIONS_ARGS)

## bench-export: issue 11's export figures: time and peak memory exporting 200,000 members as CSV
## against 1,000, each in a process of its own (SQLite, or ROSTER_DATABASE_URL, which is wiped)
bench-export: $(VENV)/.installed
	$(BIN)/python scripts/bench_export.py $(BENCH_EXPORT_ARGS)

## bench-changes: issue 11's other times: bulk add and remove of 10,000 members beside their reverts,
## and an import of 10,000 rows previewed, applied and reverted (SQLite, or ROSTER_DATABASE_URL, which is wiped)
bench-changes: $(VENV)/.installed
	$(BIN)/python scripts/bench_changes.py $(BENCH_CHANGES_ARGS)

## bench-scim: issue 12's scale figures: 1,000 SCIM creates one request each, then count=100 pages and
## userName lookups, against a live `roster serve`: requests per second, and the statements per request
## counted in-process; httpx2 comes with the dev extras (SQLite, or ROSTER_DATABASE_URL, which is wiped)
bench-scim: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_scim.py $(BENCH_SCIM_ARGS)

## bench-pages: the member-list index benchmark, in-process (200,000 members; SQLite, or ROSTER_DATABASE_URL)
bench-pages: $(VENV)/.installed
	$(BIN)/python scripts/bench_member_pages.py $(BENCH_PAGES_ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
