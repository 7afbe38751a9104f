# One image for every Followup process (today: the CLI; later web, worker and watcher).
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
ENTRYPOINT ["followup"]
ENV FOLLOWUP_DATA_DIR=/data
CMD ["run"]
