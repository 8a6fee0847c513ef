# The two commands of a fresh machine: `make run` and `make test`.
.PHONY: run test setup build bench bench-api bench-ws bench-mjpeg bench-cameras clean-data

CARGO ?= cargo
# Where local state (the private PostgreSQL, kept images) lives for `make run`.
DATA_DIR ?= data
# The demo's camera: recorded PKLot frames (credit: PKLot, Almeida et al. 2015, CC BY 4.0) played
# as an MJPEG camera when the configuration declares none.
PKLOT ?= ../shared/fixtures/pklot/annotated
REPLAY ?= $(PKLOT)/sequence1 $(PKLOT)/sequence4
REPLAY_FPS ?= 0.5

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release --locked

run: build
	./target/release/smartpark serve --data-dir $(DATA_DIR) $(foreach d,$(REPLAY),--replay $(d)) --replay-fps $(REPLAY_FPS)

# Benchmarks are compiled here (so they cannot rot) but run only by `make bench`.
test: setup
	bash scripts/install-moto.sh
	$(CARGO) build --locked --benches
	bash scripts/api-conformance.sh
	$(CARGO) test --locked --lib --bins --tests

bench: bench-api bench-ws bench-mjpeg bench-cameras

bench-api: build
	$(CARGO) bench --locked --bench api_load

bench-ws: build
	$(CARGO) bench --locked --bench ws_fanout

clean-data:
	rm -rf $(DATA_DIR)

bench-mjpeg: setup
	$(CARGO) bench --locked --bench mjpeg_parse

bench-cameras: build
	$(CARGO) bench --locked --bench camera_load
