# Two commands a newcomer needs: `make run` and `make test`. Both bootstrap
# their own toolchain (uv in .tools/, the locked dependencies in .venv/).
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test bench lint typecheck check clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python "$$(command -v $(PYTHON))"
	touch $@

var:
	mkdir -p var

# make run: the web process, a Celery worker and Celery beat (config/launcher.py), with the
# broker in var/broker (kombu's filesystem transport) and SQLite in var/. Ctrl-C stops all three.
RUN_ENV = DEBUG=$${DEBUG:-true} PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://127.0.0.1:$(PORT)} \
	WEBHOOK_ALLOW_PRIVATE=$${WEBHOOK_ALLOW_PRIVATE:-true}

run: $(VENV)/.synced | var
	$(RUN_ENV) $(PY) manage.py migrate --no-input
	$(RUN_ENV) $(PY) manage.py seed_demo
	$(RUN_ENV) $(PY) manage.py issue_link --brand demo --contact cust-42 --kind manage
	$(RUN_ENV) exec $(PY) -m config.launcher --addr "127.0.0.1:$(PORT)"

test: $(VENV)/.synced | var
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(VENV)/.synced | var
	$(PY) -m bench.run

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy config brands sync consent preferences

check: lint typecheck
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf .tools $(VENV) var
