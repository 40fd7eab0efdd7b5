# The two set-up commands a new machine needs: `make demo` and `make test`.
# Both build their virtual environments from the pinned requirements/ files.
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
LOWEST := .venv-lowest
DIST := .venv-distributed
AF32 := .venv-3.2
OPENLINEAGE := .venv-openlineage
PY := $(VENV)/bin/python

# Byte-compile an environment's installed packages (once: compileall skips what is up to date).
# Where PYTHONDONTWRITEBYTECODE is set (this machine and CI set it) Python never caches bytecode,
# so every process of the suites (xdist workers, emulators, Airflow's CLI and components) would
# compile Airflow's modules again: about 4 s of CPU each, measured 7.5 s -> 3.6 s per import.
compile_env = $(1) -m compileall -q -j 0 "$$($(1) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null

.PHONY: demo test check check-tests setup system-packages lint typecheck unit-lowest unit-3.2 pytest openlineage distributed bench clean postgresql redis browser release-check docs docs-build docs-publish

$(VENV)/.installed: requirements/test-latest.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements/test-latest.txt
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	$(call compile_env,$(PY))
	touch $@

$(LOWEST)/.installed: requirements/test-lowest.txt pyproject.toml $(VENV)/.installed
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(VENV)/bin/uv pip install -q --python $(LOWEST)/bin/python -r requirements/test-lowest.txt
	$(VENV)/bin/uv pip install -q --python $(LOWEST)/bin/python --no-deps -e .
	$(call compile_env,$(LOWEST)/bin/python)
	touch $@

# The distributed test's own venv: test-latest plus the Celery and Amazon providers and moto,
# whose botocore needs an older python-dateutil than test-latest pins (see requirements/distributed.txt).
$(DIST)/.installed: requirements/test-latest.txt requirements/distributed.txt pyproject.toml $(VENV)/.installed
	test -x $(DIST)/bin/python || $(PYTHON) -m venv $(DIST)
	$(VENV)/bin/uv pip install -q --python $(DIST)/bin/python -r requirements/test-latest.txt
	$(VENV)/bin/uv pip install -q --python $(DIST)/bin/python -r requirements/distributed.txt
	$(VENV)/bin/uv pip install -q --python $(DIST)/bin/python --no-deps -e .
	$(call compile_env,$(DIST)/bin/python)
	touch $@

# Extra pinned tool sets, installed into .venv on demand (requirements/<name>.txt).
$(VENV)/.release: requirements/release.txt $(VENV)/.installed
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements/release.txt
	touch $@

$(VENV)/.browser: requirements/browser.txt $(VENV)/.installed
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements/browser.txt
	$(call compile_env,$(PY))
	touch $@

$(VENV)/.docs: requirements/docs.txt $(VENV)/.installed
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements/docs.txt
	touch $@

# The OpenLineage tests need the real OpenLineage provider, which the main environment leaves out
# (it would emit lineage from every test's DAG run).
$(OPENLINEAGE)/.installed: requirements/test-latest.txt requirements/openlineage.txt pyproject.toml $(VENV)/.installed
	test -x $(OPENLINEAGE)/bin/python || $(PYTHON) -m venv $(OPENLINEAGE)
	$(VENV)/bin/uv pip install -q --python $(OPENLINEAGE)/bin/python -r requirements/test-latest.txt \
		-r requirements/openlineage.txt
	$(VENV)/bin/uv pip install -q --python $(OPENLINEAGE)/bin/python --no-deps -e .
	$(call compile_env,$(OPENLINEAGE)/bin/python)
	touch $@

demo: $(VENV)/.installed
	$(PY) -m scripts.demo

# Everything is installed first, one step at a time (apt and uv must not run twice at once); then
# the independent steps run three at a time, the longest first: most of their time is spent
# waiting on servers (emulators, Airflow components), not on the 2 cores. Each step's output is
# printed when it ends.
SUITES := pytest distributed unit-lowest unit-3.2 release-check openlineage
test: setup
	$(MAKE) -j3 --output-sync=target lint typecheck $(SUITES) docs-build

# The quick loop while working: ruff, mypy and the `pure` and `emulator` tiers of the main
# environment (no Airflow task run, no process of its own: tests/tiers.py), all at once.
# `make test` remains the whole truth.
check: $(VENV)/.installed
	$(MAKE) -j3 --output-sync=target lint typecheck check-tests

check-tests: $(VENV)/.installed
	$(PY) -m pytest $(CHECK_XDIST) -q -m "(pure or emulator) and not bench" --ignore=tests/openlineage

# Workers per pytest run (pytest-xdist): each has its own Airflow home, SQLite database and
# emulators (tests/conftest.py). `make XDIST= pytest` runs in one process.
XDIST ?= -n 2
# `make check`'s tiers spend most of their time waiting on their emulators (measured: 137 CPU-s
# in 311 s of wall time at -n 2), so twice the workers of the cores keep both cores busy.
CHECK_XDIST ?= -n 4

setup: $(VENV)/.installed $(VENV)/.release $(VENV)/.browser $(VENV)/.docs $(LOWEST)/.installed \
		$(AF32)/.installed $(OPENLINEAGE)/.installed $(DIST)/.installed system-packages

# Debian's packages the tests start themselves: PostgreSQL (warehouse and Airflow metadata DB), Redis
# (Celery broker), Chromium and its driver (the UI test). One apt-get for whatever is missing.
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

# Build the sdist and the wheel, twine-check them, install the wheel with its extras into a fresh
# environment with only Airflow, and check the provider, its modules, the emulator and the DAGs there.
release-check: $(VENV)/.release
	$(PY) -m scripts.check_release

# The documentation site: `make docs` serves it on http://127.0.0.1:8001, `make docs-build`
# builds it into site/ with every warning an error.
docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8001

docs-build: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir .site

# Publish the site to the gh-pages branch of the `origin` remote (GitHub Pages serves it at
# mkdocs.yml's site_url); run by a maintainer at a release, never by `make test`.
docs-publish: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs gh-deploy --strict --remote-name origin

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy airflow_provider_voucherify

pytest: $(VENV)/.installed $(VENV)/.browser postgresql browser
	$(PY) -m pytest $(XDIST) -m "not bench and not distributed" --ignore=tests/openlineage

openlineage: $(OPENLINEAGE)/.installed
	$(OPENLINEAGE)/bin/python -m pytest -m "not bench" tests/openlineage

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

# The browser test of the Airflow UI (tests/ui) drives Debian's Chromium with its matching driver;
# screenshots go to .test-output/ui/.
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The unit tests again on the lowest Airflow release we declare (pyproject: apache-airflow>=3.1.0):
# the tiers whose outcome depends on Airflow's version, `pure` (the package's code in-process) and
# `airflow` (Airflow runs the tasks); the `emulator` tier (our code against the emulator over HTTP,
# no Airflow task run) runs on the main environment only.
UNIT_TIERS := (pure or airflow) and not bench and not e2e and not postgres
UNIT_TESTS := tests/hooks tests/test_models.py tests/test_provider_info.py tests/test_error_policy.py tests/test_dates.py \
	tests/operators tests/sensors tests/triggers tests/example tests/reconcile tests/importing tests/waiting

unit-lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/python -m pytest $(XDIST) -m "$(UNIT_TIERS)" $(UNIT_TESTS)

# The unit tests on Airflow 3.2.0 too: the first release whose connection form comes from the
# declared fields (conn-fields), between the lowest (3.1.0) and the newest (3.3.2).
$(AF32)/.installed: requirements/test-3.2.txt pyproject.toml $(VENV)/.installed
	test -x $(AF32)/bin/python || $(PYTHON) -m venv $(AF32)
	$(VENV)/bin/uv pip install -q --python $(AF32)/bin/python -r requirements/test-3.2.txt
	$(VENV)/bin/uv pip install -q --python $(AF32)/bin/python --no-deps -e .
	$(call compile_env,$(AF32)/bin/python)
	touch $@

unit-3.2: $(AF32)/.installed
	$(AF32)/bin/python -m pytest $(XDIST) -m "$(UNIT_TIERS)" $(UNIT_TESTS)

bench: $(VENV)/.installed
	$(PY) -m pytest -m bench -s -p no:randomly tests/benchmarks

clean:
	rm -rf $(VENV) $(LOWEST) $(AF32) $(OPENLINEAGE) $(DIST) .demo .airflow-test .release .site .test-output
