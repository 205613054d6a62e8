# `make demo` and `make test` do all set-up (FFmpeg, Java, .venv, the package) on a fresh machine.
VENV    ?= .venv
BIN     := $(VENV)/bin
OUT     ?= demo-output
RELEASE ?=
VIDEOS  ?=
JUDGE_URL ?=

.PHONY: setup demo test test-fast style quality benchmark clean

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/movie101v2 demo --out $(OUT) $(if $(RELEASE),--release $(RELEASE)) $(if $(VIDEOS),--videos $(VIDEOS)) \
		$(if $(JUDGE_URL),--judge-backend openai --judge-url $(JUDGE_URL))

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

style: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

quality: setup
	$(BIN)/ruff format --check . && $(BIN)/ruff check .

benchmark: setup
	$(BIN)/python benchmarks/clip_sampling.py
	$(BIN)/python benchmarks/judge_throughput.py
	$(BIN)/python benchmarks/narrate_throughput.py
	$(BIN)/python benchmarks/bootstrap_cost.py

clean:
	rm -rf $(OUT) benchmarks/output .pytest_cache
