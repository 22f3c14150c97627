# The hub's image: one image for the API, the workers and the one-shot migration.
#
#   docker build -t childrens-services-hub .
#
# The default command is the API alone (`hub serve --no-workers --no-migrate`), for a deployment with separate
# `hub worker` containers sharing PostgreSQL and RabbitMQ: see docker-compose.yml.
#
# Everything in one container on the embedded default (SQLite store and broker, and the key file
# when HUB_ENCRYPTION_KEYS is unset, all under HUB_DATA_DIR: keep it on a volume):
#   docker run -p 8000:8000 -v hub-data:/var/lib/hub childrens-services-hub serve --host 0.0.0.0

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HUB_DATA_DIR=/var/lib/hub

# An unprivileged user that owns only the data directory.
RUN groupadd --system --gid 10001 hub \
    && useradd --system --uid 10001 --gid hub --home-dir /var/lib/hub --no-create-home \
       --shell /usr/sbin/nologin hub \
    && install -d -o hub -g hub -m 0750 /var/lib/hub

# Every dependency ships manylinux wheels for CPython 3.11 (lxml, cryptography, psycopg[binary]),
# so no compiler is needed. The source tree is removed once installed.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY adapters ./adapters
COPY mappings ./mappings
COPY consent ./consent
COPY queues ./queues
COPY simulators ./simulators
RUN pip install . \
    && cd / && rm -rf /src

WORKDIR /var/lib/hub
USER hub:hub

EXPOSE 8000

# Liveness only: the process answers HTTP. (/health/ready also checks the store and the broker.)
# The worker and the migration serve no HTTP: docker-compose.yml disables this check for them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]

ENTRYPOINT ["hub"]
CMD ["serve", "--no-workers", "--no-migrate", "--host", "0.0.0.0"]
