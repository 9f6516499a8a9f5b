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
#   runtime  distroless cc (glibc, libgcc, CA certificates; no shell, no package manager, no
#            curl), non-root, with the binary; `qicoo healthcheck` is the health check
#
# Both base images are pinned by digest (a multi-platform index), so a rebuild starts from the
# bytes that were reviewed. To move to newer ones, look the digests up and replace them:
#   docker buildx imagetools inspect rust:1.95.0-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/cc-debian12:nonroot

FROM rust:1.95.0-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS chef
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
# [profile.release] in Cargo.toml: thin LTO, one codegen unit, symbols stripped.
RUN cargo build --release --locked --package qicoo-api --bin qicoo \
    && install -D -m 0755 target/release/qicoo /out/usr/local/bin/qicoo \
    && install -d -m 0750 /out/var/lib/qicoo

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f AS runtime
ARG QICOO_UID=10001
COPY --from=builder /out/usr/local/bin/qicoo /usr/local/bin/qicoo
# Embedded mode keeps its SQLite file in the working directory; scaled-out mode writes nothing
# locally, so the container also runs with a read-only root filesystem (plus an emptyDir at /tmp).
COPY --from=builder --chown=${QICOO_UID}:${QICOO_UID} /out/var/lib/qicoo /var/lib/qicoo
WORKDIR /var/lib/qicoo
USER ${QICOO_UID}:${QICOO_UID}

ENV QICOO_LISTEN=0.0.0.0:8080 \
    QICOO_LOG_FORMAT=json
EXPOSE 8080

# No curl in the image: the binary asks its own /healthz (exit 0 on a 200).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/qicoo", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/qicoo"]
CMD ["serve"]
