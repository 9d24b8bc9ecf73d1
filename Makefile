# Jovay node. `make devnet` and `make test` install what is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
ARGS ?=

.PHONY: install devnet test test-all lint bench bench-e2e soak profile compile clean

install: $(PY_STAMP) $(NPM_STAMP)

$(PY_STAMP): pyproject.toml setup.py $(wildcard jovay/_native/*.pyx jovay/_native/*.pxd jovay/_native/*.c jovay/_native/*.h)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# `npm install` installs the locked versions; npm 11's `npm ci` rejects a lock that leaves out the
# other platforms' optional anvil binaries, as npm 11 itself writes it.
$(NPM_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

devnet: install
	$(BIN)/jovay devnet $(ARGS)

test: install
	$(BIN)/ruff check jovay prover tests benchmarks
	$(BIN)/mypy jovay
	$(BIN)/pytest -q $(ARGS)
	JOVAY_PURE=1 $(BIN)/pytest -q tests/crypto tests/codec tests/state tests/stf tests/native tests/storage \
		tests/sequencer

test-all: install
	$(BIN)/pytest -q -m '' $(ARGS)

lint: install
	$(BIN)/ruff check jovay prover tests benchmarks
	$(BIN)/mypy jovay

# Figures and plots go to benchmarks/results/ (git-ignored). Every load script stops by itself.
bench: install
	$(BIN)/python benchmarks/sequencer_tps.py
	$(BIN)/python benchmarks/poseidon_native.py
	$(BIN)/python benchmarks/state_memory.py

bench-e2e: install
	$(BIN)/python benchmarks/rpc_vs_anvil.py
	$(BIN)/python benchmarks/receipt_latency.py --rate 5000

# 10 minutes at 5,000 tx/s on a devnet: node RSS must stay flat and no accepted transaction may be lost.
soak: install
	$(BIN)/python benchmarks/soak.py --rate 5000 --duration 600

profile: install
	$(BIN)/python benchmarks/profile_sequencer.py --accounts 100000

compile: install
	$(BIN)/jovay compile

clean:
	rm -rf $(VENV) node_modules devnet-data build *.egg-info
