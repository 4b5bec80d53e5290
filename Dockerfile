# syntax=docker/dockerfile:1
#
# docker build -t chihaya .
# docker run -d --name chihaya \
#   -p 6969:6969/udp -p 6969:6969/tcp -p 6880:6880/tcp \
#   -v chihaya-state:/var/lib/chihaya \
#   -v /srv/chihaya/config.yaml:/etc/chihaya/config.yaml:ro \
#   chihaya
#
# See docs/deployment.md ("Docker").

FROM rust:bookworm AS builder
WORKDIR /src
# Only what the build reads: the manifest names benches/storage.rs, so it
# comes along; tests, docs and examples do not.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin chihaya \
    && install -m 0755 target/release/chihaya /usr/local/bin/chihaya

FROM debian:bookworm-slim
# ca-certificates: for hooks that fetch keys over HTTPS (e.g. a JWK set).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/chihaya \
       --shell /usr/sbin/nologin chihaya \
    && install -d -o chihaya -g chihaya -m 0700 /var/lib/chihaya \
    && install -d -m 0755 /etc/chihaya
COPY --from=builder /usr/local/bin/chihaya /usr/local/bin/chihaya
# The example config, with the snapshot kept in the volume below so that
# replacing the container keeps the swarms. Mount your own config over it
# (at least a private udp.private_key).
COPY dist/example_config.yaml /etc/chihaya/config.yaml
RUN sed -i 's|snapshot_path: ""|snapshot_path: "/var/lib/chihaya/swarms.snap"|' \
        /etc/chihaya/config.yaml \
    && grep -q 'snapshot_path: "/var/lib/chihaya/swarms.snap"' /etc/chihaya/config.yaml \
    && chihaya check-config /etc/chihaya/config.yaml > /dev/null

USER chihaya
VOLUME /var/lib/chihaya
# 6969: HTTP and UDP tracker; 6880: metrics.
EXPOSE 6969/udp 6969/tcp 6880/tcp
# SIGTERM saves the snapshot; `docker stop` waits 10 s by default, which
# covers several million peers (use --stop-timeout for more).
STOPSIGNAL SIGTERM
ENV RUST_LOG=info
ENTRYPOINT ["/usr/local/bin/chihaya"]
CMD ["--config", "/etc/chihaya/config.yaml"]
