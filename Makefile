# The two commands in the README:
#   make demo   — set up everything, then run an example brief on the built-in defaults
#   make test   — set up everything (incl. the local/diffusers extra), then run the suite
VENV ?= .venv
BRIEF ?= examples/briefs/summer-sale.yaml
PYTEST_ARGS ?=

.PHONY: setup setup-test demo test test-fast bench clean-runs

setup:
	EXTRAS=dev scripts/setup.sh

setup-test:
	EXTRAS=dev,local scripts/setup.sh

demo: setup
	$(VENV)/bin/signwriter run $(BRIEF)

test: setup-test
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/signwriter bench pipeline --repeat 5
	$(VENV)/bin/signwriter bench qa

clean-runs:
	find runs -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf {} +
