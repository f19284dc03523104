# The two commands of the README:
#   make run   - install everything, then answer SIP calls on 127.0.0.1:5060 (embedded defaults)
#   make test  - install what the tests need, then run the whole suite
.PHONY: run test install install-tests bench lint train-emotion eval-emotion

install:
	@scripts/install.sh

install-tests:
	@scripts/install.sh --tests

run: install
	.venv/bin/bedside serve $(ARGS)

test: install-tests
	scripts/test.sh $(PYTEST_ARGS)

# The layer contract alone (pyproject.toml [tool.importlinter]; scripts/test.sh runs it first).
lint: install-tests
	.venv/bin/lint-imports --no-cache

bench: install
	.venv/bin/bedside bench latency --turns 10 --output docs/benchmarks-latest.md

# Reproduce every emotion model from ../shared (about 50 min on 2 cores) / print the model-card tables.
train-emotion: install
	.venv/bin/bedside emotion train

eval-emotion: install
	.venv/bin/bedside emotion eval
