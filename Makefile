PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lockgate serve $(ARGS)

test: $(STAMP) lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

# Each fuzz target for FUZZ_TIME seconds under atheris; findings land in tests/fuzz/.findings/
# (copy one into tests/fuzz/corpus/TARGET/ and `make test` replays it from then on).
FUZZ_TIME ?= 120
FUZZ_TARGETS := http_server ingress upstream_sse upstream_response
fuzz: $(STAMP)
	@mkdir -p tests/fuzz/.findings
	@status=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p tests/fuzz/.work/$$t; \
	  echo "fuzzing $$t for $(FUZZ_TIME) s"; \
	  $(BIN)/python tests/fuzz/run.py $$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=tests/fuzz/.findings/$$t- tests/fuzz/.work/$$t tests/fuzz/corpus/$$t \
	    || status=1; \
	done; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/fuzz/.work
