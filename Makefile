# Every target sets up .venv/ itself on a fresh machine (Python 3.11+, pip).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The torch extra admits any torch >= 2.1. The development setup pins a CPU build, so that pip does
# not pick a newer release (a CUDA build of several GB) instead.
TORCH ?= torch==2.13.0

.PHONY: setup demo test soundness clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,torch,ray]' '$(TORCH)'
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh

test: $(STAMP)
	$(PY) -m pytest -q

# planted-counterexample suite (every method x instance, 60 s each) and reader fuzzers (2000 inputs each)
soundness: $(STAMP)
	$(PY) benchmarks/soundness.py --timeout 60 --fuzz-examples 2000

clean:
	rm -rf $(VENV) out .pytest_cache
