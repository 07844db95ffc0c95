# Two entry points that set everything up on a fresh machine:
#   make run   - create .venv, install fleetsim, run the quickstart scenario into out/quickstart (replacing its last run)
#   make test  - create .venv, install fleetsim with dev extras, run the test suite (two workers)
#   make notebooks - also install Jupyter (the notebooks extra) and open JupyterLab on notebooks/
#   make docs  - build the documentation site into site/ (mkdocs serve to browse it while editing)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv clean figures notebooks docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/fleetsim run scenarios/quickstart.yaml --out out/quickstart --overwrite

# Two pytest workers, one per core (pytest-xdist): the suite took 6.5 min here against 9.7 in one.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

$(VENV)/.notebooks: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,notebooks]'
	touch $@

notebooks: $(VENV)/.notebooks
	$(BIN)/jupyter lab notebooks/

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) out site

# Re-run the README's studies in full and rewrite its figure blocks (docs/figures/*.json);
# one study: make figures STUDIES=cadence. Takes about an hour for all of them on 2 cores.
figures: $(STAMP)
	$(BIN)/python -m fleetsim.tools.figures run $(STUDIES)
