# syntax=docker/dockerfile:1
# Neurosteroid CDS: build wheels (durable-rules compiles its C extension here), then install them
# in a slim image without a compiler. The rule pack is baked in: one image tag = one pack version.

# ---- build: every wheel the service needs, into /wheels -------------------------------------
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds ./cds
RUN pip wheel --wheel-dir /wheels .

# ---- runtime: no gcc, non-root, wheels only --------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CDS_RULES_DIR=/app/rules
RUN groupadd --system --gid 10001 cds \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin cds
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels neurosteroid-cds
WORKDIR /app
# The pack stays root-owned and read-only for the service; ./var holds the SQLite fallback.
# The synthetic sample patients sit beside the pack, where /sandbox looks for them.
COPY rules/ /app/rules/
COPY samples/ /app/samples/
RUN mkdir -p /app/var && chown 10001:10001 /app/var
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=2).status == 200 else 1)"]
CMD ["cds", "serve", "--host", "0.0.0.0", "--port", "8080"]
