# syntax=docker/dockerfile:1
# The production image of `tributary`: built without the demo and its fake providers, with OTLP
# trace export (off until configured), run as a non-root user, state in /data. docs/deploy.md
# shows it with PostgreSQL and the API and worker roles (compose.yaml);
# crates/cli/tests/it/serve/container.rs checks what can be checked without building it.

# The toolchain of rust-toolchain.toml (that file is left out of the context, see
# .dockerignore, so rustup does not fetch the rustfmt and clippy it lists).
FROM docker.io/library/rust:1.95.0-slim-trixie AS builder
WORKDIR /src
COPY . .
# Caches keep the registry and the build between image builds; the binary is copied out of the
# cached target directory, which is not part of the image.
# `install -s` strips it: the release profile's line tables (for readable backtraces in a
# developer's build) would make it five times larger (240 MB against 46 MB).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --features otlp -p tributary-cli --bin tributary \
    && install -D -s -m 0755 target/release/tributary /out/tributary

FROM docker.io/library/debian:trixie-slim
# ca-certificates: providers are called over TLS with the system's roots; curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin tributary \
    && mkdir -p /data \
    && chown tributary:tributary /data \
    && chmod 0700 /data
COPY --from=builder /out/tributary /usr/local/bin/tributary
# A numeric user, so that orchestrators enforcing "run as non-root" can verify it.
USER 10001:10001
WORKDIR /data
# The SQLite database and the generated key ring live in /data unless TRIBUTARY_DATABASE_URL
# and TRIBUTARY_KEYRING(_FILE) say otherwise; with PostgreSQL, /data keeps only the key ring.
ENV TRIBUTARY_DATA_DIR=/data \
    TRIBUTARY_LISTEN=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
# /readyz answers 200 once the database answers; the port follows TRIBUTARY_LISTEN.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD curl --fail --silent --show-error --max-time 4 \
        "http://127.0.0.1:${TRIBUTARY_LISTEN##*:}/readyz" >/dev/null || exit 1
# serve stops on SIGTERM: it finishes running jobs for up to 60 s, so give it that long
# (`docker stop -t 70`, compose's stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["tributary"]
CMD ["serve"]
