# Two commands for a newcomer: `make demo` and `make test`. Each builds .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make demo` installs only what the demo runs: the core and scikit-learn (its embedded digits),
# no torch, Ray or pytest (the `demo` extra); `make test` adds the rest.
DEMO_STAMP := $(VENV)/.installed-demo

DEMO_OUT       ?= demo/ds1.zarr
DEMO_PER_CLASS ?= 32
DEMO_EPOCHS    ?= 100

.PHONY: demo test lint api bench bench-recipes clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,analysis,ray]"
	touch $(STAMP)

venv: $(STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $(DEMO_STAMP)

# Trains a DS1 store (5 machines x $(DEMO_PER_CLASS) networks) on the embedded default: no
# download. Re-running resumes; `make clean` starts over. --refill-every: networks that stop
# early free their slots (1.43x on this DS1 store, same bits) and the bar moves every segment.
# Every demo store keeps snapshots and probe outputs; the DS4 ones at 5 epochs (not the 9 of
# the default schedule up to 80: 134,794 parameters each, 2.7 instead of 4.9 MB per network).
DS4_DEMO_SNAPSHOTS = --snapshots 0,5,20,40,80
demo: $(DEMO_STAMP)
	$(BIN)/mlds-jax generate ds1 --per-class $(DEMO_PER_CLASS) --max-epochs $(DEMO_EPOCHS) \
		--max-restarts 0 --refill-every 10 --out $(DEMO_OUT)
	$(BIN)/mlds-jax generate MNISTclean --image-set digits --per-class 64 --max-epochs 80 \
		--learning-rate 0.005 --refill-every 20 $(DS4_DEMO_SNAPSHOTS) --out demo/ds4-clean.zarr
	$(BIN)/mlds-jax generate MNISTbadnet_alpha10 --image-set digits --per-class 64 \
		--max-epochs 80 --learning-rate 0.005 --refill-every 20 $(DS4_DEMO_SNAPSHOTS) \
		--out demo/ds4-badnet10.zarr

lint: $(STAMP)
	$(BIN)/ruff check mlds_jax tests benchmarks docs

# Regenerates docs/api.md from the docstrings (tests/test_api_docs.py fails when it is stale).
api: $(STAMP)
	$(BIN)/python docs/gen_api.py

# Two pytest workers: about half the suite's time is XLA compilation, which runs on one core.
# worksteal: an idle worker takes tests queued on the other, so the long tests do not pile up
# at the end on one worker (measured: 8 min 18 s, against 10 min 0 s with loadgroup).
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

# PyTorch baselines need torch (the `bench` extra): installed only when missing, so the same
# command runs unchanged where torch already is (e.g. a GPU image).
bench: $(STAMP)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.throughput --quick
	$(BIN)/python -m benchmarks.recording

# Whole runs at the default recipes, rendered by `make bench` as the full-recipe rows: DS1
# (30 GRUs, every network to its own stop, restarts included; networks per core-hour and the
# projected DS1-100 / DS1-10000) and DS4 (16 networks, 20 epochs); tens of minutes on 2 cores.
bench-recipes: $(STAMP)
	$(BIN)/python -m benchmarks.recipes --ds1-per-class 6 --ds4-n 16

clean:
	rm -rf demo
