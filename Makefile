# The two commands a newcomer needs: `make dev` brings the whole stack up, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv

.PHONY: dev test lint bench clean

dev:
	@bash deploy/dev.sh

test:
	@bash deploy/test.sh $(ARGS)

lint:
	@$(VENV)/bin/ruff check .

bench:
	@bash deploy/bench.sh

clean:
	rm -rf $(VENV) .state staticfiles
