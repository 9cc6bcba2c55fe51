# The two commands of README.md, and the pieces they need.
# Each target sets up what it needs: a virtual environment in .venv with the
# pinned versions of requirements/lock.txt, and Fashion-MNIST offline.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH  := $(VENV)/.bench
# The quick site: the book built in quick mode, with its own execution cache, for the browser test.
QUICK  := _build/quick
QUICK_ENV := LRCOURSE_QUICK=1 LRCOURSE_HEADLESS=1
# No pip cache: the pinned torch brings about 3 GB of CUDA wheels (6 GB installed), and a
# cached second copy of them has filled a CI disk before.
PIP_FLAGS := --disable-pip-version-check --no-cache-dir

.PHONY: book book-rerun test site-quick bench results lock data chromium compat clean

## make book: run every chapter (full experiments) and build the HTML into _build/html; the chapters
## missing from the execution cache run first, one per core (scripts/execute_chapters.py)
## (the execution cache does not see lrcourse/: scripts/book_inputs.py names the chapters
## that ran with another package, and make book-rerun runs them again)
book: $(STAMP) data
	$(BIN)/python scripts/book_inputs.py check
	since=$$(date -u +%FT%T); \
	$(BIN)/python scripts/execute_chapters.py; \
	LRCOURSE_HEADLESS=1 $(BIN)/jupyter-book build . --warningiserror --keep-going; built=$$?; \
	$(BIN)/python scripts/book_inputs.py record --since $$since && exit $$built

## make book-rerun: make book, running again every chapter that make book warns about
book-rerun: $(STAMP)
	$(BIN)/python scripts/book_inputs.py forget
	$(MAKE) book

## make test: the package's tests, every chapter in quick mode (nbval), and the quick site
## in headless Chromium (tests/test_browser.py; screenshots in _build/screenshots)
test: $(STAMP) data chromium site-quick
	$(QUICK_ENV) $(BIN)/python -m pytest tests chapters \
		--nbval-lax --nbval-current-env -p no:cacheprovider

## make site-quick: build the book in quick mode into _build/quick/_build/html
site-quick: $(STAMP) data $(QUICK)/.inputs
	$(QUICK_ENV) $(BIN)/jupyter-book build . --path-output $(QUICK) --warningiserror --keep-going

# The execution cache knows a notebook's code only: when the package or the pinned
# environment changes, the quick site starts afresh instead of showing stale outputs.
$(QUICK)/.inputs: $(STAMP) $(wildcard lrcourse/*.py)
	rm -rf $(QUICK)/_build
	mkdir -p $(QUICK) && touch $@

## make compat: the widget tests and chapters 2, 3 and 7 in a Colab-like environment (ipywidgets 7.7.1,
## the torch/torchvision pair on this machine's disk, then pip install of the package); its venv,
## .venv-compat, takes about 6.0 GB (scripts/compat.sh)
compat:
	scripts/compat.sh

## make bench: print the speed figures of benchmarks/ (about 15 min on two CPU cores);
## adds d2l and its few needs (requirements/bench.txt) to .venv for the comparison
bench: $(BENCH) data
	$(BIN)/python benchmarks/vs_d2l.py
	$(BIN)/python benchmarks/epoch_profile.py
	$(BIN)/python benchmarks/ui_overhead.py
	$(BIN)/python benchmarks/playground_redraw.py
	$(BIN)/python benchmarks/noise_scale.py
	$(BIN)/python benchmarks/sharpness.py
	$(BIN)/python benchmarks/notebook_suite.py

## make results: compute every stored sweep into lrcourse/results (python -m lrcourse.experiments);
## resumable (an interrupted call goes on where it stopped); SHARDS processes of one thread each
## share the runs, one per core by default
SHARDS ?= $(shell nproc)
results: $(STAMP) data
	pids=; for i in $$(seq 0 $$(( $(SHARDS) - 1 ))); do \
		$(BIN)/python -m lrcourse.experiments run all --shard $$i/$(SHARDS) --threads 1 & pids="$$pids $$!"; \
	done; status=0; for p in $$pids; do wait $$p || status=1; done; exit $$status
	$(BIN)/python -m lrcourse.experiments list

$(BENCH): $(STAMP) requirements/bench.txt
	$(BIN)/python -m pip install -q $(PIP_FLAGS) --no-deps -r requirements/bench.txt
	touch $@

$(STAMP): requirements/lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(PIP_FLAGS) -r requirements/lock.txt
	$(BIN)/python -m pip install -q $(PIP_FLAGS) --no-deps -e .
	touch $@

data: $(STAMP)
	scripts/ensure_data.sh $(BIN)/python

chromium:
	scripts/ensure_chromium.sh

## make lock: re-pin requirements/lock.txt from the current environment
lock: $(STAMP)
	{ sed -n '/^#/p' requirements/lock.txt; $(BIN)/python -m pip freeze --exclude-editable \
		| grep -viE "^(lrcourse|$$(sed -n 's/==.*//p' requirements/bench.txt | paste -sd'|'))(==| @)"; } \
		> requirements/lock.txt.new
	mv requirements/lock.txt.new requirements/lock.txt

clean:
	rm -rf _build
