# One image for every Followup process: `run` (single process), `worker`, `watch`, `web`,
# `migrate`. Slim Python base, non-root user, no compilers in the final image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 followup
WORKDIR /app
COPY pyproject.toml README.md ./
COPY assistant ./assistant
COPY workers ./workers
COPY templates ./templates
COPY config ./config
COPY samples ./samples
RUN pip install . && mkdir /data && chown followup /data
USER followup
ENV FOLLOWUP_DATA_DIR=/data
EXPOSE 8086
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8086/health', timeout=4)" || exit 1
ENTRYPOINT ["followup"]
CMD ["run", "--host", "0.0.0.0"]
