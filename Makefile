.PHONY: run test bench lint

run:  ## Start web + worker + beat with demo data on the embedded default
	bash scripts/start.sh

test:  ## Lint, then the whole suite on SQLite and on PostgreSQL + Redis
	bash scripts/test.sh

bench:  ## Print the animatic render-time and brief-to-ready latency ratios
	bash scripts/bootstrap.sh && .venv/bin/python bench/animatic_render.py && \
		.venv/bin/python bench/pipeline_latency.py

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
