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

run: $(VENV)/.synced | var
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --no-input
	DEBUG=$${DEBUG:-true} $(PY) manage.py seed_demo
	DEBUG=$${DEBUG:-true} PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://127.0.0.1:$(PORT)} $(PY) manage.py issue_link --brand demo --contact cust-42 --kind manage
	DEBUG=$${DEBUG:-true} $(PY) manage.py runserver "127.0.0.1:$(PORT)"

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
