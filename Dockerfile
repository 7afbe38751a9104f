# One image for every Followup process: `run` (single process), `worker`, `watch`, `web`,
# `migrate`. Slim Python base, a virtualenv in /opt/venv, non-root user, no compilers.
#
#   docker build -t followup .                       (or: podman build -t followup .)
#
# BASE: any Debian-like image with Python 3.11+, its venv module and the time zone database
# (tzdata); the tests build on a base bootstrapped from Debian's packages
# (tests/servers/container.py). The project is installed from the build context (never from
# the network); its dependencies from PyPI.
# Behind a TLS-intercepting proxy, give pip the CA bundle for the build only (not kept in the
# image): `--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt`.
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
# A venv: Debian's own Python refuses a bare `pip install` (PEP 668) and has no `python`
# command; the venv has both, whatever the base.
RUN python3 -m venv /opt/venv \
 && useradd --create-home --uid 10001 followup \
 && install -d -o followup -m 700 /data
WORKDIR /app
COPY config ./config
COPY samples ./samples
# The build context is mounted (read-write, changes discarded), not copied into a layer.
RUN --mount=type=bind,target=/src,rw --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && pip install /src \
 && followup --help >/dev/null
USER followup
ENV FOLLOWUP_DATA_DIR=/data
EXPOSE 8086
# /health of `run` or `web` on port 8086; elsewhere, set HEALTHCHECK_URL (read by this check
# only, not by Followup).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(os.environ.get('HEALTHCHECK_URL', 'http://127.0.0.1:8086/health'), timeout=4)" || exit 1
ENTRYPOINT ["followup"]
CMD ["run", "--host", "0.0.0.0"]
