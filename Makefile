# Two entry points that set everything up on a fresh machine:
#   make run   - create .venv, install fleetsim, run the quickstart scenario into out/quickstart
#   make test  - create .venv, install fleetsim with dev extras, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv clean figures

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/fleetsim run scenarios/quickstart.yaml --out out/quickstart

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out

# Re-run the README's studies in full and rewrite its figure blocks (docs/figures/*.json);
# one study: make figures STUDIES=cadence. Takes about an hour for all of them on 2 cores.
figures: $(STAMP)
	$(BIN)/python -m fleetsim.tools.figures run $(STUDIES)
