# crunch container image.
#   docker build -t crunch:0.1.0 .              (with internet: official Python base, PyPI)
#   make image                                  (picks the base and wheel source it can reach)
# Runs as UID 10001 with a read-only root filesystem; only /tmp must be writable
# (mount a tmpfs or an emptyDir there). No shell is used at run time.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtual environment with the pinned runtime dependencies + crunch
# checkov:skip=CKV_DOCKER_7: the base is an ARG whose default is a versioned tag (python:3.11-slim-bookworm)
FROM ${BASE_IMAGE} AS build
# Lets `make image` remove this stage's leftover image (the classic builder keeps it).
LABEL org.crunch.stage=build
# auto: install from the wheelhouse when one was put in the build context
# (.cache/wheelhouse, made by `make image` when PyPI is reachable only from the
# host), else from PyPI. no: always PyPI.
ARG WHEELHOUSE=auto
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The bracket globs match nothing when the file is absent; requirements.txt and
# pyproject.toml are always there, so each COPY has a source either way.
COPY requirements.txt .cache/wheelhous[e] /src/deps/
COPY pyproject.toml READM[E].md /src/
COPY app /src/app
RUN set -eu; \
    set --; \
    if [ "$WHEELHOUSE" != "no" ] && ls /src/deps/*.whl >/dev/null 2>&1; then \
        set -- --no-index --find-links /src/deps; \
    fi; \
    python3 -m venv /opt/crunch; \
    /opt/crunch/bin/pip install "$@" -r /src/deps/requirements.txt; \
    /opt/crunch/bin/pip install "$@" --no-deps /src; \
    /opt/crunch/bin/pip uninstall --yes pip setuptools >/dev/null 2>&1 || true; \
    rm -f /opt/crunch/bin/pip* /opt/crunch/bin/activate*; \
    find /opt/crunch -depth -name __pycache__ -type d -exec rm -rf {} +; \
    # Byte-compile once here: the root filesystem is read-only at run time.
    /opt/crunch/bin/python -m compileall -q -j 0 /opt/crunch/lib; \
    /opt/crunch/bin/crunch --help >/dev/null

# ---- runtime
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="crunch" \
      org.opencontainers.image.description="CPU-heavy Python work over HTTP: Starlette pods with a supervised worker pool" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/crunch/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    CRUNCH_HOST=0.0.0.0 \
    CRUNCH_PORT=8080
# tini is PID 1: it hands signals to crunch and reaps orphans (a spawned program's own
# children that outlive it would otherwise stay zombies for the container's life).
# The offline base has it already; on the official base it comes from Debian.
RUN command -v tini >/dev/null 2>&1 || { apt-get update \
        && apt-get install -y --no-install-recommends tini=0.19.0-1 \
        && rm -rf /var/lib/apt/lists/*; }
COPY --from=build /opt/crunch /opt/crunch
# Numeric user and group: Kubernetes' runAsNonRoot can verify them without /etc/passwd.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/opt/crunch/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CRUNCH_PORT', '8080'), timeout=2)"]
# Exec form, no shell: tini (PID 1) forwards SIGTERM/SIGINT to crunch, its only child,
# and exits with crunch's exit code.
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/crunch/bin/crunch"]
CMD ["serve"]
