# Two commands for a newcomer: `make demo` and `make test`. Each sets up what it needs, idempotently.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.powertrain-installed

.PHONY: demo test lint bench data browser servers clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Torch first, so that pip never resolves a second (CUDA) torch for the dependencies.
$(STAMP): $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e ".[dev]"
	@touch $@

data: $(STAMP)
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
# work on the machine inflates it: the load average is printed beside it.
demo: $(STAMP) data
	$(PY) -m powertrain meters
	$(PY) -m powertrain run examples/demo.yaml --db runs/demo.db
	@$(PY) -m powertrain report --db runs/demo.db --study demo --out runs/demo-report >/dev/null
	@echo
	@echo "report: runs/demo-report/report.html"
	@echo "load average (1, 5, 15 min): $$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) on $$(nproc 2>/dev/null || echo '?') cores"
	@$(PY) -m powertrain headline --db runs/demo.db --study demo

test: $(STAMP) data browser servers
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

bench: $(STAMP) data
	$(PY) benchmarks/monitor_overhead.py
	$(PY) benchmarks/harness_overhead.py

clean:
	rm -rf $(VENV) runs .pytest_cache
