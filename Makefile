# Every target sets up .venv/ itself on a fresh machine (Python 3.11+, pip).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test soundness clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,torch,ray]'
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
