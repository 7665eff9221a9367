# qrpass: `make run` starts the system, `make test` runs every test, `make bench` measures,
# `make check` is the quick loop (no root, no servers): ruff, mypy and the unit tests.
SHELL := /bin/bash
PY := .venv/bin/python
BUF := .tools/node_modules/.bin/buf

.PHONY: run test check bench soak lint generate check-generated system-deps buf bench-node checkov venv clean

venv: .venv/.installed
.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

system-deps:
	scripts/install-system-deps.sh

buf:
	scripts/install-buf.sh

# The IaC scanner, in its own venv (its pins must not move the services' versions).
checkov:
	scripts/install-checkov.sh

# The bench's baseline (the original's Node.js stack) and autocannon, from the npm registry.
bench-node:
	scripts/install-bench-node.sh

generate: venv
	scripts/generate.sh

# CI regenerates the API and fails if the committed code differs.
check-generated: venv
	scripts/generate.sh
	git diff --exit-code -- qrpass/token/v1 qrpass/image/v1
	test -z "$$(git status --porcelain -- qrpass/token/v1 qrpass/image/v1)"

check: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest -q tests/unit

lint: venv buf
	$(BUF) lint
	$(BUF) format --diff --exit-code
	$(PY) -m bandit -q -c pyproject.toml -r qrpass token_service image_service gateway

# The quick check first, so a type error fails in seconds; then everything with real servers.
test: check
	$(MAKE) --no-print-directory system-deps buf bench-node checkov
	$(MAKE) --no-print-directory lint check-generated
	$(PY) -m pytest --ignore=tests/unit

run: venv
	$(PY) -m qrpass.cli.main db upgrade
	$(PY) -m qrpass.cli.main up --seed-demo

bench: system-deps venv bench-node
	$(PY) -m bench

# Memory and descriptors over SOAK_MINUTES (10 by default) of load with churn: bench/soak.py.
soak: system-deps venv
	$(PY) -m bench.soak

clean:
	rm -rf .venv .tools data
