# idpsync container image: `idpsync serve` from the wheel, as a non-root user.
#
#   docker build -t idpsync .
#   docker run -p 8080:8080 -v ./idpsync.toml:/etc/idpsync/idpsync.toml:ro \
#       -v idpsync-data:/var/lib/idpsync -e IDPSYNC_OKTA_API_TOKEN idpsync
#
# Configuration: /etc/idpsync/idpsync.toml (IDPSYNC_CONFIG), mounted read-only. Secrets: the
# file's "env:NAME" references (docker run -e / env_file) or "file:/run/secrets/NAME" (mounted
# secrets). State: a SQLite store belongs under /var/lib/idpsync (a volume), e.g.
# url = "sqlite:////var/lib/idpsync/idpsync.db"; or PostgreSQL (compose.yaml).
# docs/operations.md describes running it; this image's build has not been tested on the
# project's CI machines, which have no container engine (the tests run its commands instead).

ARG PYTHON_VERSION=3.11

# 1. Build the wheel of idpsync and wheels of its dependencies.
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

# 2. The runtime: a slim Python with those wheels installed, nothing else from the tree.
FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 idpsync \
    && useradd --system --uid 10001 --gid idpsync --home-dir /var/lib/idpsync \
       --shell /usr/sbin/nologin idpsync \
    && mkdir -p /etc/idpsync /var/lib/idpsync \
    && chown idpsync:idpsync /var/lib/idpsync
COPY --from=build /wheels /tmp/wheels
RUN python -m pip install --no-cache-dir --no-index --find-links /tmp/wheels idpsync \
    && rm -rf /tmp/wheels
ENV IDPSYNC_CONFIG=/etc/idpsync/idpsync.toml \
    IDPSYNC_HEALTH_URL=http://127.0.0.1:8080/healthz \
    PYTHONUNBUFFERED=1
USER idpsync:idpsync
WORKDIR /var/lib/idpsync
VOLUME ["/var/lib/idpsync"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['IDPSYNC_HEALTH_URL'], timeout=5)"]
CMD ["idpsync", "serve", "--host", "0.0.0.0", "--port", "8080", "--log-format", "json"]
