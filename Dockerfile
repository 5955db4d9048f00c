# One image for the three services: `crossclear serve filing|settlement|clearing`.
# Every Python package comes from a hashed lockfile (`make lock`). The build stage
# installs requirements.lock (the protobuf generator is a development dependency),
# generates the protobuf code (the same bytes as the committed shared/pb, which
# .dockerignore leaves out) and builds a wheel; the runtime stage installs only
# requirements-runtime.lock (same versions, runtime packages only) and the wheel.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY shared ./shared
COPY services ./services
RUN python -m shared.codegen \
 && pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app crossclear
WORKDIR /app
COPY requirements-runtime.lock /tmp/
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements-runtime.lock \
 && rm /tmp/requirements-runtime.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
USER 10001
ENV PYTHONUNBUFFERED=1 \
    CROSSCLEAR_LOG_FORMAT=json \
    CROSSCLEAR_METRICS_PORT=9100 \
    CROSSCLEAR_HEALTH_PORT=8086
# Each service sets CROSSCLEAR_GRPC_LISTEN=0.0.0.0:<its port>.
EXPOSE 50051 50052 50053 9100 8086
ENTRYPOINT ["crossclear"]
CMD ["--help"]
