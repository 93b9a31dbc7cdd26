# syntax=docker/dockerfile:1
# PyTake: release build in the Swift image, run in a slim Debian with only the runtime libraries.
# Needs an external PostgreSQL: docker run -e DATABASE_URL=... -e JWT_SECRET=... (see README).
# The same image runs the scheduler: docker run --entrypoint pytake-scheduler ... pytake

FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libargon2-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies in their own layer so source edits do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
COPY bench ./bench
COPY openapi.yaml ./
RUN swift build -c release --static-swift-stdlib --product pytake-server \
 && swift build -c release --static-swift-stdlib --product pytake-admin \
 && swift build -c release --static-swift-stdlib --product pytake-scheduler \
 && mkdir -p /out \
 && bin="$(swift build -c release --show-bin-path)" \
 && cp "$bin/pytake-server" "$bin/pytake-admin" "$bin/pytake-scheduler" /out/

FROM debian:bookworm-slim
# libargon2 for password hashing, tzdata for IANA time zones, CA roots for TLS to Postgres and providers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libargon2-1 tzdata ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 pytake \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin pytake
COPY --from=build /out/pytake-server /out/pytake-admin /out/pytake-scheduler /usr/local/bin/
COPY public /app/public
COPY migrations /app/migrations
WORKDIR /app
ENV HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    PYTAKE_PUBLIC_DIR=/app/public \
    PYTAKE_MIGRATIONS_DIR=/app/migrations
USER 10001:10001
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /healthz for its status line.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HTTP_PORT} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["pytake-server"]
