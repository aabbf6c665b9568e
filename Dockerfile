# aoai-fallbacks serve: one Azure OpenAI-compatible endpoint in front of every backend.
#
#   docker build -t aoai-fallbacks .
#   docker run --env-file .env -p 8080:8080 aoai-fallbacks
#
# Configured by the environment only (AOAI_ENDPOINT_nn, AOAI_KEY_nn, AOAI_DEPLOYMENT...,
# and AOAI_PROXY_KEYS, without which serve refuses to listen on 0.0.0.0): no .env is copied
# into the image. Backend endpoints must be https here; plain http is for loopback only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Only what the package is built from: the library and its metadata (README.md is the
# package's long description). .dockerignore keeps the rest out of the build context.
COPY pyproject.toml README.md /tmp/aoai-fallbacks/
COPY src /tmp/aoai-fallbacks/src
RUN pip install --no-cache-dir '/tmp/aoai-fallbacks[proxy]' \
    && rm -rf /tmp/aoai-fallbacks \
    && groupadd --gid 10001 aoai \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/aoai \
        --shell /usr/sbin/nologin aoai

# A numeric user, so that Kubernetes' runAsNonRoot can check it without a passwd lookup.
USER 10001:10001
WORKDIR /home/aoai

EXPOSE 8080
# Alive is all Docker needs to know; /readyz (503 when every backend is quarantined) is for
# a load balancer deciding where to send requests. urllib: slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# SIGTERM (docker stop) lets requests in flight finish for up to --grace seconds (default
# 30): give the container at least that long (docker stop -t 35, compose stop_grace_period).
CMD ["aoai-fallbacks", "serve", "--host", "0.0.0.0", "--port", "8080"]
