# The two commands of a fresh machine: `make run` and `make test`.
.PHONY: run test setup build bench bench-api bench-ws clean-data

CARGO ?= cargo
# Where local state (the private PostgreSQL) lives for `make run`.
DATA_DIR ?= data

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release --locked

run: build
	./target/release/smartpark serve --data-dir $(DATA_DIR)

# Benchmarks are compiled here (so they cannot rot) but run only by `make bench`.
test: setup
	$(CARGO) build --locked --benches
	bash scripts/api-conformance.sh
	$(CARGO) test --locked --lib --bins --tests

bench: bench-api bench-ws

bench-api: build
	$(CARGO) bench --locked --bench api_load

bench-ws: build
	$(CARGO) bench --locked --bench ws_fanout

clean-data:
	rm -rf $(DATA_DIR)
