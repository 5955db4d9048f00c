"""Typed configuration, read from CROSSCLEAR_* environment variables.

Defaults point at the local PostgreSQL and RabbitMQ so that a developer's machine needs no
configuration at all; containers and Kubernetes set the variables (see README).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceName(StrEnum):
    FILING = "filing"
    SETTLEMENT = "settlement"
    CLEARING = "clearing"


DEFAULT_GRPC_PORT = {
    ServiceName.FILING: 50051,
    ServiceName.SETTLEMENT: 50052,
    ServiceName.CLEARING: 50053,
}
DEFAULT_METRICS_PORT = {
    ServiceName.FILING: 9101,
    ServiceName.SETTLEMENT: 9102,
    ServiceName.CLEARING: 9103,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSCLEAR_", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/crossclear"
    db_pool_min: int = Field(default=2, ge=1, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=200)
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Prefix of every exchange and queue name: lets several deployments (or test runs)
    # share one broker without seeing each other's messages.
    bus_namespace: str = Field(default="crossclear", pattern=r"^[a-z][a-z0-9_.-]{0,40}$")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    filing_target: str = f"127.0.0.1:{DEFAULT_GRPC_PORT[ServiceName.FILING]}"
    settlement_target: str = f"127.0.0.1:{DEFAULT_GRPC_PORT[ServiceName.SETTLEMENT]}"
    clearing_target: str = f"127.0.0.1:{DEFAULT_GRPC_PORT[ServiceName.CLEARING]}"
    # Where the serving process listens; default: the port of its own *_target on all
    # loopback interfaces. Containers set 0.0.0.0:<port>.
    grpc_listen: str | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # How often the host samples its gauges (outbox backlog, pool, queue depths).
    metrics_interval_s: float = Field(default=5.0, ge=0.1, le=300)
    # A second, plaintext port serving only the standard health service, for probes that
    # cannot present a client certificate (the kubelet's gRPC probe). 0 = off.
    health_port: int = Field(default=0, ge=0, le=65535)
    # Clients hold HTTP/2 connections for long; ageing them out lets replicas added by an
    # autoscaler receive calls.
    grpc_max_connection_age_s: int = Field(default=300, ge=10, le=86400)
    # An aged-out connection lets its calls in flight finish first: a month-end generation
    # over millions of ledger entries runs for minutes.
    grpc_max_connection_age_grace_s: int = Field(default=900, ge=1, le=86400)

    # Mutual TLS: a directory holding ca.crt, tls.crt and tls.key (the layout of a
    # Kubernetes TLS secret). Without it the server runs only if insecure_dev is set.
    tls_dir: Path | None = None
    insecure_dev: bool = False
    # Development only (refused with TLS or without insecure_dev): the process runs on a
    # simulated clock, starting at clock_start (default: now) and set through the
    # ClockControl RPC. Production always runs on the system clock.
    simulated_clock: bool = False
    clock_start: datetime | None = None

    # Requests in progress beyond this are refused at once with RESOURCE_EXHAUSTED and a
    # retry hint instead of queueing without bound for a database connection.
    grpc_max_inflight: int = Field(default=256, ge=1, le=100_000)
    grpc_max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    shutdown_grace_s: float = Field(default=10.0, ge=0, le=120)
    # Settlement worker processes sharing its gRPC port (SO_REUSEPORT), each with its own
    # pool of db_pool_max connections; for a machine with idle cores (see shared.workers).
    # Under Kubernetes keep 1 and let the autoscaler add pods.
    settlement_workers: int = Field(default=1, ge=1, le=16)

    def target_of(self, service: ServiceName) -> str:
        return {
            ServiceName.FILING: self.filing_target,
            ServiceName.SETTLEMENT: self.settlement_target,
            ServiceName.CLEARING: self.clearing_target,
        }[service]

    def listen_of(self, service: ServiceName) -> str:
        if self.grpc_listen:
            return self.grpc_listen
        port = self.target_of(service).rsplit(":", 1)[1]
        return f"127.0.0.1:{port}"

    def metrics_port_of(self, service: ServiceName) -> int:
        return self.metrics_port if self.metrics_port is not None else DEFAULT_METRICS_PORT[service]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
