# The two commands of README.md, and the pieces they need.
# Each target sets up what it needs: a virtual environment in .venv with the
# pinned versions of requirements/lock.txt, and Fashion-MNIST offline.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test bench lock data clean

## make book: run every chapter (full experiments) and build the HTML into _build/html
book: $(STAMP) data
	LRCOURSE_HEADLESS=1 $(BIN)/jupyter-book build . --warningiserror --keep-going

## make test: the package's tests and every chapter in quick mode (nbval)
test: $(STAMP) data
	LRCOURSE_QUICK=1 LRCOURSE_HEADLESS=1 $(BIN)/python -m pytest tests chapters \
		--nbval-lax --nbval-current-env -p no:cacheprovider

## make bench: print the speed figures of benchmarks/
bench: $(STAMP) data
	$(BIN)/python benchmarks/epoch_time.py
	$(BIN)/python benchmarks/playground_redraw.py

$(STAMP): requirements/lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

data: $(STAMP)
	scripts/ensure_data.sh $(BIN)/python

## make lock: re-pin requirements/lock.txt from the current environment
lock: $(STAMP)
	{ sed -n '/^#/p' requirements/lock.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -vi '^lrcourse'; } > requirements/lock.txt.new
	mv requirements/lock.txt.new requirements/lock.txt

clean:
	rm -rf _build
