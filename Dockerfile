# Qicoo: one image, one binary (`qicoo`).
#
#   docker build -t qicoo .
#   docker run --rm -p 8080:8080 qicoo                    # embedded mode (SQLite in /var/lib/qicoo)
#   docker run --rm qicoo serve --role api                # scaled-out roles, configured by QICOO_* env
#
# Stages:
#   chef     Rust toolchain + cargo-chef
#   planner  reduces the workspace to a dependency "recipe" (changes only when manifests change)
#   builder  compiles the dependencies from the recipe (cached layer), then the workspace itself
#   runtime  debian:bookworm-slim, non-root, with the binary, CA certificates and curl (for HEALTHCHECK)

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.77
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# sqlx's query macros, if used, read the prepared query data in .sqlx/ instead of a live database.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never
COPY --from=planner /build/recipe.json recipe.json
# Dependencies only: this layer is reused until Cargo.toml / Cargo.lock change.
RUN cargo chef cook --release --locked --package qicoo-api --recipe-path recipe.json
# The sources, including migrations/ (embedded at compile time by sqlx::migrate!).
COPY . .
RUN cargo build --release --locked --package qicoo-api --bin qicoo \
    && install -D -m 0755 target/release/qicoo /out/qicoo

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG QICOO_UID=10001
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid "${QICOO_UID}" qicoo \
    && useradd --system --uid "${QICOO_UID}" --gid qicoo --home-dir /var/lib/qicoo \
        --no-create-home --shell /usr/sbin/nologin qicoo \
    && install -d -o qicoo -g qicoo -m 0750 /var/lib/qicoo

COPY --from=builder /out/qicoo /usr/local/bin/qicoo

# Embedded mode keeps its SQLite file in the working directory; scaled-out mode writes nothing
# locally, so the container also runs with a read-only root filesystem (plus an emptyDir at /tmp).
WORKDIR /var/lib/qicoo
USER ${QICOO_UID}:${QICOO_UID}

ENV QICOO_LISTEN=0.0.0.0:8080 \
    QICOO_LOG_FORMAT=json
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]

ENTRYPOINT ["/usr/local/bin/qicoo"]
CMD ["serve"]
