# Every target bootstraps what it needs, idempotently: the .venv (pip install -e ".[dev]")
# and the pinned npm tools (anvil, solcjs) under tools/npm.
PY      := .venv/bin/python
VENV_OK := .venv/.installed
NPM_OK  := tools/npm/node_modules/.installed
PYTEST  := $(PY) -m pytest

.PHONY: setup demo test test-fast fuzz bench bench-network lint clean

setup: $(VENV_OK) $(NPM_OK)

# The first of python3.11, python3.12, python3 that is 3.11 or 3.12 (requires-python: concrete-ml 1.9.0 and
# torch 2.3.1 stop at 3.12); PYTHON=/path/to/python overrides. Anything else is refused in one line before a
# venv is made. On 3.12 pip builds onnxoptimizer 0.3.13 (Concrete ML's pin, no cp312 wheel) from source
# (~13 min on 2 cores, once: pip caches the wheel), which needs cmake and g++.
PY_SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))
PYTHON ?= $(firstword $(foreach p,python3.11 python3.12 python3,$(shell $(p) -c '$(PY_SUPPORTED)' >/dev/null 2>&1 && echo $(p))))

$(VENV_OK): pyproject.toml
	@test -x $(PY) || test -n "$(PYTHON)" || { echo "veilproof needs Python 3.11 or 3.12, found $$(python3 -V 2>/dev/null || echo no python3): install one, or run make PYTHON=/path/to/python3.12" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv .venv
	@$(PY) -c '$(PY_SUPPORTED)' || { echo "$(PY) is $$($(PY) -V 2>&1); veilproof needs Python 3.11 or 3.12: rm -rf .venv and run make again" >&2; exit 1; }
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' && ! command -v cmake >/dev/null && { echo "Python 3.12 builds onnxoptimizer from source and needs cmake and g++ (apt-get install cmake g++), or use Python 3.11" >&2; exit 1; } || true
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $@

$(NPM_OK): tools/npm/package.json tools/npm/package-lock.json
	cd tools/npm && npm ci --no-audit --no-fund --foreground-scripts
	@test -x tools/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
	@touch $@

demo: setup
	.venv/bin/veilproof demo

# --durations=25: every log (CI's too) ends with the 25 slowest tests, so a test that grows shows up.
test: setup
	$(PYTEST) -q --durations=25

test-fast: setup
	$(PYTEST) -q -m "not slow"

# Property-based runs, longer than in `make test` and with fresh randomness each time (a failure is
# saved in .hypothesis/ and replayed first next time): the market state machine under attack and
# Schemathesis against the node's API. FUZZ_EXAMPLES=1000 make fuzz searches longer.
FUZZ_EXAMPLES ?= 150
fuzz: setup
	VEILPROOF_HYPOTHESIS_EXPLORE=1 VEILPROOF_STATEFUL_EXAMPLES=$(FUZZ_EXAMPLES) VEILPROOF_STATEFUL_STEPS=80 \
	VEILPROOF_SCHEMATHESIS_EXAMPLES=$(FUZZ_EXAMPLES) \
	$(PYTEST) -q -p no:cacheprovider tests/contracts/test_stateful_market.py tests/node/test_api_schemathesis.py

bench: setup
	$(PY) bench/run.py

# The network under load (#14): JOBS paid jobs on NODES node processes and 4 client processes, then the
# same mix on 1, 2 and 4 nodes for the scaling plot. Writes bench/results/network.{json,md,png}.
# The 4-node point of the plot is the 1,000-job run itself; 1 and 2 nodes run SCALING_JOBS jobs each.
# Takes one to two hours on a quiet 2-core machine; `make bench` runs a 40-job, 2-node version.
JOBS ?= 1000
NODES ?= 4
SCALING_JOBS ?= 250
bench-network: setup
	$(PY) bench/network.py --jobs $(JOBS) --nodes $(NODES) --scaling 1 2 4 --scaling-jobs $(SCALING_JOBS)

lint: setup
	.venv/bin/ruff check src tests bench examples
	.venv/bin/ruff format --check src tests bench examples
	.venv/bin/mypy

clean:
	rm -rf .venv tools/npm/node_modules .pytest_cache
