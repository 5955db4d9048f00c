# One image for the three services: `crossclear serve filing|settlement|clearing`.
# The build stage generates the protobuf code (a development dependency) and builds a
# wheel; the runtime stage installs only the wheel and its runtime dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir -e '.[dev]' \
 && python -m shared.codegen \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app crossclear
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
ENV PYTHONUNBUFFERED=1 \
    CROSSCLEAR_LOG_FORMAT=json \
    CROSSCLEAR_METRICS_PORT=9100 \
    CROSSCLEAR_HEALTH_PORT=8086
# Each service sets CROSSCLEAR_GRPC_LISTEN=0.0.0.0:<its port>.
EXPOSE 50051 50052 50053 9100 8086
ENTRYPOINT ["crossclear"]
CMD ["--help"]
