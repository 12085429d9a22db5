# oospath API image. Build context is the repository root (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OOSPATH_PROCESSES_DIR=/app/processes \
    OOSPATH_VAR_DIR=/app/var

WORKDIR /app

# An unprivileged account: the API never needs root at run time.
RUN groupadd --system --gid 10001 oospath \
    && useradd --system --uid 10001 --gid oospath --home-dir /app --no-create-home --shell /usr/sbin/nologin oospath

# Copy only what the package needs (never .venv, var/ or local caches).
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY api ./api
COPY workers ./workers
COPY oospath ./oospath
COPY bench ./bench
COPY processes ./processes

RUN pip install '.[postgres]' \
    && chown -R oospath:oospath /app

USER oospath

EXPOSE 8000

CMD ["oospath", "serve", "--host", "0.0.0.0", "--port", "8000"]
