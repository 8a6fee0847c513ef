# SPDX-License-Identifier: Apache-2.0
#
# smartpark container image.
#
#   make models && docker build -t smartpark:latest .
#   docker run --rm -p 8080:8080 \
#       -e DATABASE_URL=postgres://smartpark:secret@db-host:5432/smartpark smartpark:latest
#
# Database: the default used when DATABASE_URL is not set, an embedded
# PostgreSQL, is meant for bare-metal `make run` on a developer machine. This
# image ships no PostgreSQL server, so in a container always set DATABASE_URL
# (in Kubernetes it comes from the `smartpark-db` Secret, see k8s/).

# ---------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /app
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# 0. libtorch: tch 0.26 builds against the PyTorch 2.13.0 wheel (LIBTORCH_USE_PYTORCH=1), and
#    the binary finds its libraries through an rpath to this directory (build.rs).
ARG TORCH_VENV=/opt/torch
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3-venv; \
    rm -rf /var/lib/apt/lists/*; \
    python3 -m venv "$TORCH_VENV"; \
    "$TORCH_VENV/bin/pip" install --no-cache-dir torch==2.13.0; \
    ln -s "$("$TORCH_VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib" /opt/torch-lib
ENV LIBTORCH_USE_PYTORCH=1 \
    VIRTUAL_ENV=$TORCH_VENV \
    PATH=$TORCH_VENV/bin:$PATH

# 1. Dependency layer. Only the manifest and the lock file are copied, every
#    target the manifest declares gets a stub source file, and a release build
#    compiles all dependencies. This layer is rebuilt only when Cargo.toml or
#    Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock build.rs ./
RUN set -eux; \
    mkdir -p src; \
    echo 'fn main() {}' > src/main.rs; \
    echo 'fn main() {}' > src/lib.rs; \
    # Targets declared in the manifest must exist or cargo refuses to load it: \
    # stub every `path = "….rs"` and every [[bin]]/[[bench]]/[[test]]/[[example]] \
    # name at its default location. \
    pkg="$(awk -F'"' '/^\[package\]/{p=1;next} /^\[/{p=0} p && /^[[:space:]]*name[[:space:]]*=/{print $2; exit}' Cargo.toml)"; \
    awk -F'"' -v pkg="$pkg" ' \
        /^[[:space:]]*\[/ { sect = $0 } \
        /^[[:space:]]*path[[:space:]]*=.*\.rs"/ { print $2; next } \
        /^[[:space:]]*name[[:space:]]*=/ { \
            if (sect ~ /^[[:space:]]*\[\[bench\]\]/)   print "benches/" $2 ".rs"; \
            if (sect ~ /^[[:space:]]*\[\[test\]\]/)    print "tests/" $2 ".rs"; \
            if (sect ~ /^[[:space:]]*\[\[example\]\]/) print "examples/" $2 ".rs"; \
            if (sect ~ /^[[:space:]]*\[\[bin\]\]/ && $2 != pkg) print "src/bin/" $2 ".rs"; \
        }' Cargo.toml \
    | while read -r stub; do \
        [ -e "$stub" ] && continue; \
        mkdir -p "$(dirname "$stub")"; \
        echo 'fn main() {}' > "$stub"; \
      done; \
    cargo build --release --locked; \
    # Drop the stub sources and everything compiled from them, so that the \
    # real sources below are always rebuilt (COPY keeps the build context's \
    # mtimes, which may be older than the stub build). Bench/test/example \
    # stubs stay: `cargo build --release` never compiles them, but the \
    # manifest must still find them. \
    rm -rf src; \
    rm -rf target/release/.fingerprint/smartpark-* \
           target/release/deps/smartpark-* \
           target/release/deps/libsmartpark-* \
           target/release/smartpark \
           target/release/smartpark.d

# 2. Application layer: the real sources and the diesel migrations embedded in
#    the binary. (A target outside src/ would need its own COPY.)
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked \
    && test -x /app/target/release/smartpark

# ---------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# ca-certificates for TLS to an external database or other HTTPS endpoints.
# No PostgreSQL server here: the database is external, reached via DATABASE_URL.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 smartpark; \
    useradd --system --uid 10001 --gid 10001 \
        --home-dir /var/lib/smartpark --no-create-home \
        --shell /usr/sbin/nologin smartpark; \
    install -d -o 10001 -g 10001 -m 0750 /var/lib/smartpark

COPY --from=build /app/target/release/smartpark /usr/local/bin/smartpark
# libtorch, at the path the binary's rpath names. The CPU libraries only: for a GPU image, also
# copy the wheel's nvidia/ directory beside torch/ (about 2.7 GB) and smartpark finds CUDA.
COPY --from=build /opt/torch-lib/ /opt/torch/lib/python3.11/site-packages/torch/lib/
# The models `make models` wrote into the build context (detect.model is relative to the
# working directory). Without them the server runs without detection and says so.
COPY models/ /var/lib/smartpark/models/

# Numeric user so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/smartpark

EXPOSE 8080
ENTRYPOINT ["smartpark"]
CMD ["serve", "--host", "0.0.0.0"]
