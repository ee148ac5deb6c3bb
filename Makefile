# The two commands: `make demo` and `make test`. Both bootstrap the locked environment first.
PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
UV := $(VENV)/bin/uv
export HEALTHEX_HOME ?= $(CURDIR)/.healthex
export DAGSTER_HOME := $(HEALTHEX_HOME)/dagster

.PHONY: demo test audit lint typecheck pytest ui bench clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (this machine, CI) nothing is ever cached,
# and every process (each CLI call, each test subprocess) recompiled its imports: 11 s, now 3.7 s.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/healthex demo

test: lint typecheck pytest

# Known vulnerabilities of every locked package (all groups, as uv.lock pins them), from PyPI's
# advisory data (AUDIT_SERVICE=osv asks OSV instead). --strict: a package the service cannot
# answer for fails the audit rather than being skipped, so an unreachable service is no pass.
# Not part of `make test` yet: from this network neither service answers (api.osv.dev does not
# resolve; pypi.org serves /pypi/<name>/json but 404s the per-version /pypi/<name>/<v>/json).
AUDIT_SERVICE ?= pypi
audit: $(VENV)/.synced
	@requirements=$$(mktemp); trap 'rm -f "$$requirements"' EXIT; \
	$(UV) export --frozen --all-groups --no-emit-project --quiet \
		--format requirements.txt --output-file "$$requirements" && \
	$(VENV)/bin/pip-audit --requirement "$$requirements" --require-hashes --disable-pip \
		--strict --vulnerability-service $(AUDIT_SERVICE) --progress-spinner off

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/pyright

# pytest exits 5 when it collected no test: that is a failure, never a pass.
pytest: $(VENV)/.synced
	$(VENV)/bin/pytest -n 2 -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

# Benchmarks (bench/README.md); never part of `make test`. BENCH_ARGS=--quick for 100k resources;
# POPULATION_ARGS="--users 1000 10000" for a smaller population run. The `bench` dependency group (fhiry,
# matplotlib) is synced here only: `make test` does not need it.
# The flatten and import benchmarks share one generated population file (a temp dir, removed).
bench: $(VENV)/.synced
	$(UV) sync --frozen --quiet --compile-bytecode --group bench
	data=$$(mktemp -d) && trap 'rm -rf "$$data"' EXIT && \
	$(VENV)/bin/python -m bench.flatten_bench --data "$$data" $(BENCH_ARGS) && \
	$(VENV)/bin/python -m bench.import_bench --data "$$data" $(BENCH_ARGS) && \
	$(VENV)/bin/python -m bench.sof_bench $(BENCH_ARGS) && \
	$(VENV)/bin/python -m bench.population_scale $(BENCH_ARGS) $(POPULATION_ARGS)

ui: $(VENV)/.synced
	mkdir -p $(DAGSTER_HOME)
	$(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf $(VENV) .healthex
