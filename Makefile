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

.PHONY: run fakes test bench bench-servers soak screenshots lint typecheck check clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python "$$(command -v $(PYTHON))"
	touch $@

var:
	mkdir -p var

# make run: the embedded PostgreSQL under var/postgres (unless DATABASE_URL says otherwise), then
# migrate, the demo brand, and the web process, a Celery worker and Celery beat side by side
# (config/launcher.py). Ctrl-C stops them all, the database last.
RUN_ENV = DEBUG=$${DEBUG:-true} PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://127.0.0.1:$(PORT)} \
	WEBHOOK_ALLOW_PRIVATE=$${WEBHOOK_ALLOW_PRIVATE:-true}

run: $(VENV)/.synced | var
	$(RUN_ENV) exec $(PY) -m config.launcher --addr "127.0.0.1:$(PORT)"

# make fakes, beside make run: a local fake of each vendor, the demo brand connected to each
# (tests/fakes/demo.py); a control page on 127.0.0.1:8100 shows what each holds.
fakes: $(VENV)/.synced | var
	$(RUN_ENV) $(PY) -m tests.fakes.demo

test: $(VENV)/.synced | var
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(VENV)/.synced | var
	$(PY) -m bench.run
	BENCH_ONLY=overview $(PY) -m bench.run
	BENCH_ONLY=console $(PY) -m bench.run
	BENCH_ONLY=funnel $(PY) -m bench.run
	BENCH_ONLY=quiz_step $(PY) -m bench.run
	BENCH_ONLY=connectors $(PY) -m bench.run
	$(PY) -m bench.soak

# The whole bench once under granian and once under gunicorn: bench/results/servers.md.
bench-servers: $(VENV)/.synced | var
	$(PY) -m bench.servers

# Ten minutes of make run under steady mixed traffic; every event must reach the receiver once.
soak: $(VENV)/.synced | var
	$(PY) -m bench.soak $(SOAK_ARGS)

# The preference centre's screenshots in docs/screenshots/ (en, de, fr at 1280 and 375 px), taken
# with the end-to-end setup (tests/e2e/conftest.py) in /usr/bin/chromium.
screenshots: $(VENV)/.synced | var
	$(PY) -m pytest -q docs/screenshots.py

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy config brands sync consent preferences console quizzes

check: lint typecheck
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf .tools $(VENV) var
