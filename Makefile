.PHONY: run test bench lint

run:  ## Start web + worker + beat with demo data on the embedded default
	bash scripts/start.sh

test:  ## Lint, then the whole suite on SQLite and on PostgreSQL + Redis
	bash scripts/test.sh

bench:  ## Run every bench in bench/ and print its ratios (fan-out needs PostgreSQL + Redis)
	bash scripts/bench.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
