# The two set-up commands a new machine needs: `make demo` and `make test`.
# Both build their virtual environments from the pinned requirements/ files.
# The main environments (.venv, and the distributed and OpenLineage ones) run the newest Python the
# project supports: the main cell is also the matrix's highest corner (see MAIN_CELL).
MAIN_PYTHON := 3.13
PYTHON ?= $(call interpreter,$(MAIN_PYTHON))
UV_VERSION := 0.13.9
VENV := .venv
DIST := .venv-distributed
OPENLINEAGE := .venv-openlineage
PY := $(VENV)/bin/python

# ---- The version matrix: Python 3.10 to 3.13 x the newest patch of each supported Airflow minor ----
# Users install Airflow against its constraints file (one per release and Python version, frozen
# when the release is made: see README, Install). This machine cannot download them, so `make pins`
# compiles the project's stand-ins, one file per cell in requirements/cells/, and each cell's
# environment installs against its file, never unconstrained.
MATRIX_PYTHONS := 3.10 3.11 3.12 3.13
MATRIX_AIRFLOWS := 3.1.8 3.2.2 3.3.2
# The day after each release was uploaded to PyPI: its cells resolve as of then (uv --exclude-newer),
# as its constraints file did, so a rerun of `make pins` writes the same pins (and Airflow 3.1 does
# not meet today's newest dependencies, which it was never released with).
RELEASED_3.1.8 := 2026-03-12
RELEASED_3.2.2 := 2026-05-30
RELEASED_3.3.2 := 2026-09-18
# The newest Airflow pre-release on the index (it needs Python 3.11 or newer): its job reports, and
# never fails the build.
PRERELEASE_CELL := py3.13-af3.4.0b2
RELEASED_3.4.0b2 := 2026-10-21
# The corners: the lowest Python with the lowest Airflow (3.1.0 and the lowest declared dependency
# versions: requirements/test-lowest.txt, plus Python 3.10's backports), and the highest Python with
# the highest Airflow and today's newest dependencies: the main environment (.venv, Python 3.13 and
# requirements/test-latest.txt), which runs every tier. Its own cell (HIGHEST_CELL, the same Python
# and Airflow as of that release's day) runs the pure tier like the others; it was run separately
# with the emulator tier too, 172 of make test's 1,818 CPU-seconds, before the main cell moved to 3.13.
LOWEST_CELL := py3.10-af3.1.0
HIGHEST_CELL := py3.13-af3.3.2
MAIN_CELL := py$(MAIN_PYTHON)-af3.3.2-main
CELLS := $(foreach airflow,$(MATRIX_AIRFLOWS),$(foreach python,$(MATRIX_PYTHONS),py$(python)-af$(airflow)))
MATRIX_CELLS := $(LOWEST_CELL) $(CELLS) $(PRERELEASE_CELL)
MATRIX_DIR := .venv-cells
MATRIX_ENVS := $(foreach cell,$(MATRIX_CELLS),$(MATRIX_DIR)/$(cell)/.installed)
MATRIX_OUT := .test-output/matrix
UV := $(VENV)/bin/uv
# `make test` builds each suite's environment as the suite starts, beside suites already running:
# one install at a time (uv's cache is safe to share, but each install builds this project's
# editable wheel from the same source tree).
INSTALL := flock $(VENV)/.install.lock $(UV)

# Python caches each module's bytecode the first time it imports it. This machine and CI set
# PYTHONDONTWRITEBYTECODE, under which every process of the suites (xdist workers, emulators, the
# cells, Airflow's CLI and components, the release check's fresh environments) would compile every
# module it imports again: Airflow's alone are about 4 s of CPU per process, and a cell's one
# process spent 9.4 of its CPU-seconds in compile() (measured on 3.10 x 3.1.0). `make` unsets it for
# everything it runs; only what is imported is compiled, once per environment (compileall of every
# installed module cost more than that on a fresh clone).
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test check check-tests setup system-packages lint typecheck pytest openlineage distributed bench clean postgresql redis browser release-check docs docs-build docs-publish pins matrix matrix-table

$(VENV)/.installed: requirements/test-latest.txt pyproject.toml
	@# A checkout whose .venv was made by another Python (3.11 before the main cell moved) starts anew.
	test "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = $(MAIN_PYTHON) \
		|| $(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements/test-latest.txt
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	@# Bytecode for what every suite imports, written once here rather than by each of the xdist
	@# workers that would otherwise start at once and each compile it (see PYTHONDONTWRITEBYTECODE).
	$(PY) -c "import airflow.sdk, airflow.models, fastapi, uvicorn, hypothesis, airflow_provider_voucherify.hooks.voucherify"
	touch $@

# The distributed test's own venv: test-latest plus the Celery and Amazon providers and moto,
# whose botocore needs an older python-dateutil than test-latest pins (see requirements/distributed.txt).
$(DIST)/.installed: requirements/test-latest.txt requirements/distributed.txt pyproject.toml $(VENV)/.installed
	test "$$($(DIST)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = $(MAIN_PYTHON) \
		|| $(INSTALL) venv -q --clear --python $(PYTHON) $(DIST)
	$(INSTALL) pip install -q --python $(DIST)/bin/python -r requirements/test-latest.txt
	$(INSTALL) pip install -q --python $(DIST)/bin/python -r requirements/distributed.txt
	$(INSTALL) pip install -q --python $(DIST)/bin/python --no-deps -e .
	touch $@

# Extra pinned tool sets, installed into .venv on demand (requirements/<name>.txt).
$(VENV)/.release: requirements/release.txt $(VENV)/.installed
	$(INSTALL) pip install -q --python $(PY) -r requirements/release.txt
	touch $@

$(VENV)/.browser: requirements/browser.txt $(VENV)/.installed
	$(INSTALL) pip install -q --python $(PY) -r requirements/browser.txt
	touch $@

$(VENV)/.docs: requirements/docs.txt $(VENV)/.installed
	$(INSTALL) pip install -q --python $(PY) -r requirements/docs.txt
	touch $@

# The OpenLineage tests need the real OpenLineage provider, which the main environment leaves out
# (it would emit lineage from every test's DAG run).
$(OPENLINEAGE)/.installed: requirements/test-latest.txt requirements/openlineage.txt pyproject.toml $(VENV)/.installed
	test "$$($(OPENLINEAGE)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = $(MAIN_PYTHON) \
		|| $(INSTALL) venv -q --clear --python $(PYTHON) $(OPENLINEAGE)
	$(INSTALL) pip install -q --python $(OPENLINEAGE)/bin/python -r requirements/test-latest.txt \
		-r requirements/openlineage.txt
	$(INSTALL) pip install -q --python $(OPENLINEAGE)/bin/python --no-deps -e .
	touch $@

demo: $(VENV)/.installed
	$(PY) -m scripts.demo

# The main environment and the system packages are installed first (apt-get must not run twice at
# once). Then the main cell's suite starts at once: it is the longest (its process tier waits
# minutes on real Airflow clusters), and make's own job order did not start it first. Beside it the
# other steps share TEST_JOBS slots, the longest first, each building its own environment as it
# starts (one install at a time: INSTALL), so the installs overlap the running suites instead of
# delaying them all. Most of the suites' time is spent waiting on servers (emulators, Airflow
# components), not on the 2 cores. Each step's output is printed when it ends (the main cell's
# from .test-output/pytest.log). Every step runs even when one fails (-k), so the matrix's table at
# the end is complete.
TEST_JOBS ?= 2
SUITES := matrix-$(LOWEST_CELL) distributed release-check matrix openlineage
test: system-packages $(VENV)/.installed
	rm -rf $(MATRIX_OUT) && mkdir -p $(MATRIX_OUT) .test-output
	$(MAKE) -s pytest > .test-output/pytest.log 2>&1 & main=$$!; \
		$(MAKE) -j$(TEST_JOBS) -k --output-sync=target $(SUITES) docs-build lint typecheck; status=$$?; \
		wait $$main || status=1; cat .test-output/pytest.log; \
		$(MAKE) -s matrix-table; exit $$status

# The quick loop while working: ruff, mypy and the `pure` and `emulator` tiers of the main
# environment (no Airflow task run, no process of its own: tests/tiers.py), all at once. As in the
# version matrix, the `exhaustive` tests (thousands of generated examples or trials: 35 of its
# CPU-seconds) are left to `make test`, which remains the whole truth.
check: $(VENV)/.installed
	$(MAKE) -j3 --output-sync=target lint typecheck check-tests

# Both test runs install the docs tools first: tests/docs/test_docs_markup.py tests the docs build's
# markup guard with them (it skips where they are missing, for a user's own environment).
check-tests: $(VENV)/.installed $(VENV)/.docs
	$(PY) -m pytest $(CHECK_XDIST) -q -m "(pure or emulator) and not bench and not exhaustive" \
		--ignore=tests/openlineage

# Workers per pytest run (pytest-xdist): each has its own Airflow home, SQLite database and
# emulators (tests/conftest.py). `make XDIST= pytest` runs in one process. Three: the main cell's
# suite is the longest step of `make test` and mostly waits (759 CPU-s in 806 s at -n 3 beside the
# other steps, with worksteal; 992 s without, 1,103 s at -n 2). `worksteal`: a worker that runs
# out of tests takes half of the busiest one's queue; xdist's default hands every test out once and
# never moves it, and `make check` ran 80 s of its 190 on one worker while the other three had
# finished (110 s with it).
XDIST ?= -n 3 --dist worksteal
# `make check`'s tiers spend most of their time waiting on their emulators (measured: 137 CPU-s
# in 311 s of wall time at -n 2), so twice the workers of the cores keep both cores busy.
CHECK_XDIST ?= -n 4 --dist worksteal

setup: $(VENV)/.installed $(VENV)/.release $(VENV)/.browser $(VENV)/.docs $(MATRIX_ENVS) \
		$(OPENLINEAGE)/.installed $(DIST)/.installed system-packages

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

# Build the sdist and the wheel, twine-check them, and follow the README's install commands in fresh
# environments on the lowest and the highest Python (a cell's pins for the constraints URL): the
# provider is listed, the quickstart DAG runs against the emulator, every module imports.
RELEASE_CELLS = py3.10-af3.1.8 $(HIGHEST_CELL)
release-check: $(VENV)/.release
	$(PY) -m scripts.check_release $(foreach cell,$(RELEASE_CELLS),$(cell)=$(call interpreter,$(call cell_python,$(cell))))

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

# mypy's cache lives with uv's, outside the checkout, so a new clone starts warm (a cold run is 25
# of `make check`'s CPU-seconds). It stays valid across clones: mypy re-checks a module whose file
# changed (by its hash when the modification time differs), and writes each entry atomically.
MYPY_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/airflow-provider-voucherify/mypy
typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy --cache-dir $(MYPY_CACHE_DIR) airflow_provider_voucherify

# The main cell (Python 3.13, requirements/test-latest.txt): every tier.
pytest: $(VENV)/.installed $(VENV)/.browser $(VENV)/.docs postgresql browser
	$(call table_row,$(MAIN_CELL),everything,fail,$(PY) -m pytest $(XDIST) -m "not bench and not distributed" --ignore=tests/openlineage)

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

# ---- The version matrix (its cells are defined at the top of this file) ----
# The tiers (tests/tiers.py) each cell runs: `pure` everywhere (no Airflow database, no server);
# the lowest corner adds the `emulator` and `airflow` tiers (Airflow runs the tasks). The highest
# corner is the main cell, which runs every tier.
TIERS_$(LOWEST_CELL) := pure or emulator or airflow
tiers_of = $(or $(TIERS_$(1)),pure)
# The cells leave out the `exhaustive` tests (thousands of generated examples or trials, half a
# pure cell's time): the main cell runs them. No cell collects the directories that hold only the
# `process` tier.
MATRIX_IGNORE := $(foreach dir,openlineage e2e faults ui distributed benchmarks,--ignore=tests/$(dir))
# The lowest corner leaves out tests/dags too: the example DAGs' own tests were written for the
# newest Airflow (its DagBag's module, its metadata); on 3.1 the release check parses the example
# DAGs and runs the quickstart instead.
MATRIX_IGNORE_$(LOWEST_CELL) := --ignore=tests/dags

# A cell's parts: py3.10-af3.1.8 -> 3.10, 3.1.8.
cell_python = $(patsubst py%,%,$(word 1,$(subst -, ,$(1))))
cell_airflow = $(patsubst af%,%,$(word 2,$(subst -, ,$(1))))
# The interpreter of a Python version: PYTHON_3.10=... if given, else pyenv's, else python3.10 on PATH.
interpreter = $(or $(PYTHON_$(1)),$(firstword $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)) python$(1)))

# $(call table_row,<cell>,<tiers>,<fail|report>,<command>): run the command, then write the cell's
# row of the table `make test` ends with; `report` rows never fail the build.
define table_row
@mkdir -p $(MATRIX_OUT)
@echo '$(4)'
@if $(4); then result=passed; else result=failed; fi; \
	printf '| %s | %s | %s | %s |\n' $(call cell_python,$(1)) $(call cell_airflow,$(1)) "$(2)" \
		"$$result$(if $(filter report,$(3)), (reported))" > $(MATRIX_OUT)/$(1).md; \
	$(if $(filter report,$(3)),true,test $$result = passed)
endef

# A cell's environment: a fresh venv on its Python, the package (editable) with its test tools
# installed against the cell's pins, from uv's cache once it is warm.
$(MATRIX_DIR)/%/.installed: requirements/cells/%.txt pyproject.toml $(VENV)/.installed
	$(INSTALL) venv -q --clear --python $(call interpreter,$(call cell_python,$*)) $(MATRIX_DIR)/$*
	$(INSTALL) pip install -q --python $(MATRIX_DIR)/$*/bin/python -c $< -e ".[testing]" --group pyproject.toml:dev
	touch $@

# One cell's tests: in one process (the cells run side by side under `make -j`), the lowest corner,
# whose emulator and airflow tiers mostly wait (on 3.10 x 3.1.0: 650 CPU-s in 1,070 s of wall
# time), on the xdist workers of the main cell.
XDIST_$(LOWEST_CELL) = $(XDIST)
matrix-%: $(MATRIX_DIR)/%/.installed
	$(call table_row,$*,$(call tiers_of,$*),$(if $(filter $(PRERELEASE_CELL),$*),report,fail),$(MATRIX_DIR)/$*/bin/python -m pytest $(XDIST_$*) -q -m "($(call tiers_of,$*)) and not bench and not exhaustive" $(MATRIX_IGNORE) $(MATRIX_IGNORE_$*))

matrix: $(addprefix matrix-,$(MATRIX_CELLS))

# The table of every cell that `make test` ends with (rows from $(MATRIX_OUT)).
matrix-table:
	@echo "| Python | Airflow | tiers | result |"
	@echo "|---|---|---|---|"
	@for cell in $(MAIN_CELL) $(MATRIX_CELLS); do \
		cat $(MATRIX_OUT)/$$cell.md 2>/dev/null || echo "| $$cell | | | not run |"; done

# Recompile every pinned requirements file. The cells: one per Python and Airflow release, with the
# package's extras and the test tools (a constraints file lists more than one install takes).
# requirements/test-latest.txt: today's index (what a fresh install resolves now), and the files
# compiled against it. The lowest corner keeps requirements/test-lowest.txt's pins.
pins: $(VENV)/.installed $(addprefix pins-,$(CELLS) $(PRERELEASE_CELL)) pins-lowest pins-latest

pins-py%:
	echo "apache-airflow==$(call cell_airflow,py$*)" | $(UV) pip compile -q --upgrade pyproject.toml - \
		--extra testing --extra openlineage --group pyproject.toml:dev \
		--python-version $(call cell_python,py$*) --exclude-newer $(RELEASED_$(call cell_airflow,py$*)) \
		$(if $(filter $(PRERELEASE_CELL),py$*),--prerelease allow) \
		--custom-compile-command "make pins" -o requirements/cells/py$*.txt

pins-lowest:
	$(UV) pip compile -q requirements/test-lowest.txt --python-version $(call cell_python,$(LOWEST_CELL)) \
		--custom-compile-command "make pins" -o requirements/cells/$(LOWEST_CELL).txt

pins-latest:
	echo "apache-airflow==$(call cell_airflow,$(MAIN_CELL))" | $(UV) pip compile -q --upgrade pyproject.toml - \
		--extra testing --group pyproject.toml:dev --group pyproject.toml:bench --python-version $(MAIN_PYTHON) \
		--custom-compile-command "make pins" -o requirements/test-latest.txt
	for group in release docs browser; do \
		$(UV) pip compile -q --upgrade --group pyproject.toml:$$group -c requirements/test-latest.txt \
			--python-version $(MAIN_PYTHON) --custom-compile-command "make pins" -o requirements/$$group.txt || exit 1; done
	$(UV) pip compile -q --upgrade pyproject.toml --extra openlineage -c requirements/test-latest.txt \
		--python-version $(MAIN_PYTHON) --custom-compile-command "make pins" -o requirements/openlineage.txt
	@# botocore (the Amazon provider, moto) needs python-dateutil<3: requirements/distributed.txt pins its own.
	grep -v '^python-dateutil==' requirements/test-latest.txt > $(VENV)/distributed-constraints.txt
	$(UV) pip compile -q --upgrade requirements/distributed.in -c $(VENV)/distributed-constraints.txt \
		--python-version $(MAIN_PYTHON) --custom-compile-command "make pins" -o requirements/distributed.txt

bench: $(VENV)/.installed
	$(PY) -m pytest -m bench -s -p no:randomly tests/benchmarks

clean:
	rm -rf $(VENV) $(MATRIX_DIR) $(OPENLINEAGE) $(DIST) .demo .airflow-test .release .site .test-output
