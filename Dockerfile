# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run from a slim Debian with only CA
# certificates, as a non-root user.

FROM rust:1.95-slim-bookworm AS build
# aws-lc-sys (the one crypto backend) builds its C sources with gcc.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything the workspace manifest names: members (crates/) and declared targets (benches/).
# .ci/docker-context-check builds from exactly these copies, so a missing one fails CI.
COPY Cargo.toml Cargo.lock ./
COPY benches benches
COPY crates crates
COPY migrations migrations
COPY src src
# Without the default `demo` feature: the image serves, and carries no Appwrite stand-in.
RUN cargo build --release --locked --no-default-features --bin tokenmint \
    && strip target/release/tokenmint

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/tokenmint --create-home tokenmint
COPY --from=build /src/target/release/tokenmint /usr/local/bin/tokenmint
USER 10001:10001
WORKDIR /var/lib/tokenmint
ENV TOKENMINT_LISTEN=0.0.0.0:8080 \
    TOKENMINT_LOG_FORMAT=json
EXPOSE 8080
# Orchestrators should probe GET /healthz (liveness) and GET /readyz (readiness). The image has
# no curl: `tokenmint healthcheck` GETs /readyz on TOKENMINT_LISTEN (0.0.0.0 → 127.0.0.1) with a
# 3 s timeout and exits 0 on 200, 1 otherwise (`--liveness` probes /healthz). On SIGTERM /readyz
# turns 503 at once, so the container reports unhealthy while it drains.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tokenmint", "healthcheck"]
# The root file system may be read-only: with PostgreSQL tokenmint writes no file at all. With
# SQLite, mount a writable volume at /var/lib/tokenmint (the database and its KEK file).
ENTRYPOINT ["/usr/local/bin/tokenmint"]
CMD ["serve"]
