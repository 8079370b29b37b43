# Accrual: `make run` starts the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests use the machine's PostgreSQL when it answers, else SQLite (with a warning).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: install run full test lint format bench sample-data requirements clean

$(BIN)/.installed: requirements/base.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/base.txt -r requirements/dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	@$(BIN)/python manage.py migrate --noinput
	@$(BIN)/python manage.py load_sample_data
	@$(BIN)/python manage.py describe_mode
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Full mode: web (gunicorn), worker and beat from the Procfile; needs DATABASE_URL, REDIS_URL
# and the production variables of the README.
full: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(BIN)/honcho start

test: install
	@if [ -z "$$DATABASE_URL" ] && command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then \
		echo "make test: PostgreSQL at 127.0.0.1:5432"; export DATABASE_URL="$(TEST_DATABASE_URL)"; \
	elif [ -z "$$DATABASE_URL" ]; then echo "make test: PostgreSQL not reachable, using SQLite"; fi; \
	DJANGO_ENV=test $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks need PostgreSQL and Redis on 127.0.0.1 (see bench/README.md); each prints its
# numbers and writes them to bench/results/.
bench: install
	$(BIN)/python -m bench.bench_refresh $(REFRESH_ARGS)
	$(BIN)/python -m bench.bench_ratings $(RATINGS_ARGS)
	$(BIN)/python -m bench.bench_alerts $(ALERTS_ARGS)
	$(BIN)/python -m bench.bench_pages $(PAGES_ARGS)
	$(BIN)/python -m bench.bench_newsletter $(NEWSLETTER_ARGS)
	$(BIN)/python -m bench.bench_api $(API_ARGS)

# Re-pin requirements/*.txt from the .in files. No index or wheel-folder lines are written:
# the pins must install with any pip or uv on any machine.
requirements: install
	cd requirements && ../$(BIN)/pip-compile --quiet --no-emit-index-url --no-emit-find-links --strip-extras --output-file=base.txt base.in
	cd requirements && ../$(BIN)/pip-compile --quiet --no-emit-index-url --no-emit-find-links --strip-extras --output-file=dev.txt dev.in

sample-data: install
	$(BIN)/python scripts/generate_sample_data.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
