# Eco: `make run` sets everything up and starts the web server and a worker; `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint setup migrate clean frontend api-types check-api-types mlflow-server-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build from this disk (a bare `torch` would pull a multi-GB CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

NPM_STAMP := frontend/node_modules/.installed
# every target here is development or test: debug on (and the demo user) unless DEBUG says otherwise; production
# runs platform/'s run files with DEBUG unset, which fails closed (config/settings.py)
export DEBUG ?= true

$(NPM_STAMP): frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

setup: $(STAMP) $(NPM_STAMP)

# the dashboard: type-check and build into frontend/dist/, which Django serves at /
frontend: $(NPM_STAMP)
	cd frontend && npm run --silent build

# the dashboard's API types, generated from the OpenAPI schema; commit the result
api-types: $(STAMP) $(NPM_STAMP)
	mkdir -p var
	$(BIN)/python manage.py spectacular --format openapi-json --file var/schema.json
	cd frontend && npx openapi-typescript ../var/schema.json -o src/api/schema.d.ts

check-api-types: $(STAMP) $(NPM_STAMP)
	mkdir -p var
	$(BIN)/python manage.py spectacular --format openapi-json --file var/schema.json
	cd frontend && npx openapi-typescript ../var/schema.json -o ../var/schema.d.ts >/dev/null
	cmp -s var/schema.d.ts frontend/src/api/schema.d.ts || (echo "frontend/src/api/schema.d.ts is stale: run make api-types"; exit 1)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

# every process under supervisord (platform/supervisord.conf): one that dies is started again while the others keep
# serving; all of them log here; Ctrl-C stops them all
run: migrate frontend
	$(BIN)/python manage.py bootstrap_demo
	PATH="$(CURDIR)/$(BIN):$$PATH" platform/supervise

test: $(STAMP) check-api-types frontend
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run >/dev/null || (echo "missing migrations"; exit 1)
	cd frontend && npx vitest run
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# MLflow's own server, for benchmarks/mlflow_protocol.py (side by side with Eco's MLflow protocol)
mlflow-server-venv:
	test -x var/mlflow-server-venv/bin/python || $(PYTHON) -m venv var/mlflow-server-venv
	var/mlflow-server-venv/bin/pip install --quiet mlflow==3.17.2 'psycopg[binary]>=3.2'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf var
