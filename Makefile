# The two set-up commands a new machine needs: `make demo` and `make test`.
# Both build their virtual environments from the pinned requirements/ files.
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
LOWEST := .venv-lowest
DIST := .venv-distributed
PY := $(VENV)/bin/python

.PHONY: demo test lint typecheck unit-lowest pytest distributed bench clean postgresql redis

$(VENV)/.installed: requirements/test-latest.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements/test-latest.txt
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	touch $@

$(LOWEST)/.installed: requirements/test-lowest.txt pyproject.toml $(VENV)/.installed
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(VENV)/bin/uv pip install -q --python $(LOWEST)/bin/python -r requirements/test-lowest.txt
	$(VENV)/bin/uv pip install -q --python $(LOWEST)/bin/python --no-deps -e .
	touch $@

# The distributed test's own venv: test-latest plus the Celery and Amazon providers and moto,
# whose botocore needs an older python-dateutil than test-latest pins (see requirements/distributed.txt).
$(DIST)/.installed: requirements/test-latest.txt requirements/distributed.txt pyproject.toml $(VENV)/.installed
	test -x $(DIST)/bin/python || $(PYTHON) -m venv $(DIST)
	$(VENV)/bin/uv pip install -q --python $(DIST)/bin/python -r requirements/test-latest.txt
	$(VENV)/bin/uv pip install -q --python $(DIST)/bin/python -r requirements/distributed.txt
	$(VENV)/bin/uv pip install -q --python $(DIST)/bin/python --no-deps -e .
	touch $@

demo: $(VENV)/.installed
	$(PY) -m scripts.demo

test: lint typecheck pytest unit-lowest distributed

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy airflow_provider_voucherify

pytest: $(VENV)/.installed postgresql
	$(PY) -m pytest -m "not bench and not distributed"

# CeleryExecutor with two workers, PostgreSQL, Redis and an S3 server (moto), all started by the test.
distributed: $(DIST)/.installed postgresql redis
	$(DIST)/bin/python -m pytest -m distributed -p no:randomly tests/distributed

# The PostgreSQL warehouse test needs the server binaries (Debian's package); the test starts
# and stops its own throwaway cluster.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
postgresql:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

# The Celery broker of the distributed test (Debian's package); the test starts its own server.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

# The unit tests again on the lowest Airflow release we declare (pyproject: apache-airflow>=3.1.0).
unit-lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/python -m pytest -m "not bench and not e2e and not postgres" tests/hooks tests/test_models.py tests/test_verdict.py tests/test_polling.py tests/test_provider_info.py tests/operators tests/sensors tests/triggers tests/example tests/reconcile

bench: $(VENV)/.installed
	$(PY) -m pytest -m bench -s -p no:randomly tests/benchmarks

clean:
	rm -rf $(VENV) $(LOWEST) $(DIST) .demo .airflow-test
