# The two commands of a fresh machine: `make run` and `make test`.
.PHONY: run test setup models build bench bench-api bench-ws bench-cluster bench-mjpeg bench-cameras bench-capacity bench-detect soak eval eval-replay clean-data

CARGO ?= cargo
# Where local state (the private PostgreSQL, kept images) lives for `make run`.
DATA_DIR ?= data
# The demo's camera: recorded PKLot frames (credit: PKLot, Almeida et al. 2015, CC BY 4.0) played
# as an MJPEG camera when the configuration declares none.
PKLOT ?= ../shared/fixtures/pklot/annotated
REPLAY ?= $(PKLOT)/sequence1 $(PKLOT)/sequence4
# One frame every 5 s: the recorded frames are minutes apart, and the detector wants several
# analyses (every 5 s) to agree before a space changes.
REPLAY_FPS ?= 0.2

# tch builds against the libtorch of the PyTorch wheel in the project's virtualenv.
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(CURDIR)/.venv
export PATH := $(CURDIR)/.venv/bin:$(PATH)

setup:
	@bash scripts/setup.sh
	@bash scripts/install-torch.sh

# models/yolov5n.torchscript (COCO) and models/yolo11n-seg-vehicles.torchscript, exported here.
models: setup
	@bash scripts/make-models.sh

build: setup models
	$(CARGO) build --release --locked

run: build
	./target/release/smartpark serve --data-dir $(DATA_DIR) $(foreach d,$(REPLAY),--replay $(d)) --replay-fps $(REPLAY_FPS)

# Benchmarks are compiled here (so they cannot rot) but run only by `make bench`.
test: setup models
	bash scripts/install-moto.sh
	bash scripts/install-browser.sh
	$(CARGO) build --locked --benches
	bash scripts/api-conformance.sh
	$(CARGO) test --locked --lib --bins --tests

bench: bench-api bench-ws bench-mjpeg bench-cameras bench-capacity bench-detect bench-cluster

bench-api: build
	$(CARGO) bench --locked --bench api_load

bench-ws: build
	$(CARGO) bench --locked --bench ws_fanout

# Three replicas on one PostgreSQL: failover time, and one change to 3 x 3,000 dashboards spread
# over them against the same dashboards on one replica.
bench-cluster: build
	$(CARGO) bench --locked --bench cluster

clean-data:
	rm -rf $(DATA_DIR)

bench-mjpeg: setup
	$(CARGO) bench --locked --bench mjpeg_parse

bench-cameras: build
	$(CARGO) bench --locked --bench camera_load

# Analyses done against planned for 20 and 40 cameras, with the detector and space classifier.
bench-capacity: build
	$(CARGO) bench --locked --bench capacity

# 20 cameras for 30 minutes: memory at the start and end and its trend, analyses done against
# planned, errors. Not part of `make bench` (it takes 35 minutes).
soak: build
	$(CARGO) bench --locked --bench soak

# Detection speed against the Python reference pipeline, same images, size and threads.
IMGSZ ?= 1280
bench-detect: build
	./target/release/smartpark bench detect --model models/yolov5n.torchscript --imgsz $(IMGSZ) --threads 2 \
		--images ../shared/fixtures/pklot/day-2013-02-24 \
		--spaces $(PKLOT)/sequence0/bounding_boxes/2013-02-24_10_05_04.xml

# Occupancy accuracy on every annotated lot in ../shared: a line per lot, one for all, then JSON.
LOTS ?= $(PKLOT) ../shared/fixtures/lots/pucpr ../shared/fixtures/lots/ufpr04
eval: build
	./target/release/smartpark eval $(foreach d,$(LOTS),--dataset $(d))

# The same frames played through the live loop (motion gating, memory, debounce).
eval-replay: build
	./target/release/smartpark eval --replay $(foreach d,$(LOTS),--dataset $(d))
