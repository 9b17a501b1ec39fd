# betpipe: one image for the service (`betpipe serve`) and the scheduler (`betpipe run`); see README "Deploying".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BETPIPE_DATA_DIR=/data

# libgomp: LightGBM's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 betpipe \
    && mkdir -p /data && chown betpipe /data

WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install "uv==0.13.9" && uv pip install --system -r requirements.lock
COPY src ./src
RUN uv pip install --system --no-deps .

USER betpipe
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["betpipe"]
CMD ["serve", "--host", "0.0.0.0"]
