# The system under test (API and consumer) and the load generators (Dask workers) for
# docker-compose.yml; the harness runs without Docker.
FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY app ./app
COPY harness ./harness
RUN pip install --no-cache-dir .
EXPOSE 5000
CMD ["python", "-m", "app.producer", "--host", "0.0.0.0", "--port", "5000"]
