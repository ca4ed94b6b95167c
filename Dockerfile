# The Forebear API image; compose.yaml runs it beside Neo4j and MinIO.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY graph ./graph
COPY storage ./storage
RUN pip install --no-cache-dir . && useradd --system --no-create-home forebear

USER forebear
ENV FOREBEAR_HOST=0.0.0.0 FOREBEAR_PORT=8000
EXPOSE 8000
CMD ["python", "-m", "api"]
