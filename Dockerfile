# syntax=docker/dockerfile:1
#
# mrtfeed service image: `mrtfeed run` under tini as UID/GID 10001.
# The chart in helm/mrtfeed depends on the user, port, paths and probes set
# here; tests/docker and tests/helm check that the two agree.

# An exact upstream tag keeps rebuilds on the same Python and Debian release.
ARG PYTHON_IMAGE=python:3.13.11-slim-bookworm

# Stage 1: build wheels for mrtfeed and every dependency, so the runtime
# stage installs from local files only and carries no build tooling.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: runtime.
FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mrtfeed" \
      org.opencontainers.image.description="Decodes Route Views and RIPE RIS MRT archives into route events on Kafka" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="BSD-2-Clause" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tini as PID 1 forwards SIGTERM to mrtfeed and reaps the parser worker
# processes; Debian's package is pinned to the bookworm version.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric UID/GID so Kubernetes runAsNonRoot can verify it and volume
# ownership (fsGroup) is predictable.
RUN groupadd --system --gid 10001 mrtfeed \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /var/lib/mrtfeed --shell /usr/sbin/nologin mrtfeed

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl

# State (SQLite) lives in /var/lib/mrtfeed; the default config only names the
# schema version, so `docker run` works with the built-in defaults (JSON lines
# on stdout). The chart mounts its ConfigMap over this file.
RUN mkdir -p /etc/mrtfeed /var/lib/mrtfeed \
    && printf 'config_version: 1\n' > /etc/mrtfeed/config.yaml \
    && chown 10001:10001 /var/lib/mrtfeed

WORKDIR /var/lib/mrtfeed
USER 10001:10001
EXPOSE 9180

# The slim image has no curl: urlopen raises (exit 1) on a refused connection
# or a non-2xx answer from the liveness endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9180/livez', timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--", "mrtfeed"]
CMD ["run", "--config", "/etc/mrtfeed/config.yaml"]
