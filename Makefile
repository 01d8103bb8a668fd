# Two commands for a newcomer: `make demo` and `make test`. Each sets up what it needs, idempotently.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# Two stamps: `make demo` installs the package alone (what the demo needs), `make test` everything
# (every optional integration, the docs tools) on top of it; so `make demo` then `make test` works.
DEMO_STAMP := $(VENV)/.powertrain-demo
STAMP := $(VENV)/.powertrain-installed

.PHONY: demo test docs lint bench data browser servers clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Torch first, so that pip never resolves a second (CUDA) torch for the dependencies.
$(DEMO_STAMP): $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e .
	@touch $@

$(STAMP): $(DEMO_STAMP)
	$(PIP) install -e ".[dev,docs]"
	@touch $@

data: $(DEMO_STAMP)
	@$(PY) -m powertrain.data.fetch

# Headless Chromium for the report test: Debian's package, installed when missing and we are root.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "could not install chromium: the browser test will be skipped"; \
	  else echo "chromium missing (sudo apt-get install chromium): the browser test will be skipped"; fi; }

# A PostgreSQL server and a single-node Slurm for the cluster tests, which start them in a temporary
# folder (127.0.0.1, a free port, an unprivileged user) and stop them after: Debian's packages, installed
# when missing and we are root. One machine needs neither: the default store is a SQLite file.
servers:
	@{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } && \
	  command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    pkgs="postgresql slurmctld slurmd slurm-client munge"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkgs >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkgs >/dev/null 2>&1; } || \
	    echo "could not install $$pkgs: the PostgreSQL and Slurm tests will fail"; \
	  else echo "PostgreSQL or Slurm missing (sudo apt-get install postgresql slurmctld slurmd slurm-client munge)"; fi; }

# The paper's finding in a few minutes: 6 setups x 3 seeds, each trained to the target on one torch
# thread; ends with where the report is and the one line that matters (best setup, its energy to target
# with its interval, the worst, the ratio, measured or estimated). An estimate counts CPU time, so other
# work on the machine inflates it: the load average is printed beside it. `powertrain demo` is the
# same for those who installed the package without cloning (the study ships inside it).
demo: $(DEMO_STAMP) data
	$(PY) -m powertrain demo --db runs/demo.db --out runs/demo-report

# The docs site (mkdocs-material, the API pages from the docstrings) into site/; a broken link or
# docstring fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir site

# Two test processes (pytest-xdist, a file each at a time): the suite is mostly single-threaded
# training and waiting on subprocesses, so two processes on two cores finish it sooner (figures in
# docs/development.md); PYTEST_ARGS="-n 0" runs it in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: $(STAMP) data browser servers docs
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

bench: $(STAMP) data
	$(PY) benchmarks/monitor_overhead.py
	$(PY) benchmarks/harness_overhead.py
	$(PY) benchmarks/trackers.py

clean:
	rm -rf $(VENV) runs .pytest_cache site
