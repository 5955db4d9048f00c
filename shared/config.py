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

from pydantic import BaseModel, Field, field_validator
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
DEFAULT_GATEWAY_METRICS_PORT = 9104


CHANNEL_CODES = ("channel-app", "channel-mini-program", "channel-web", "channel-counter")


class ChannelIdp(BaseModel):
    """A channel's identity provider: the issuer its tokens name and its signing keys."""

    issuer: str = Field(min_length=1, max_length=512)
    # A JWKS document: a file path, or an http(s):// URL fetched (and re-fetched when a
    # token names a key it lacks, at most every idp_refresh_s).
    jwks: str = Field(min_length=1, max_length=2048)


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

    # End-user identity of the channels (see shared.enduser): per channel caller code, its
    # identity provider, e.g. CROSSCLEAR_CHANNEL_IDPS='{"channel-app": {"issuer":
    # "https://id.example/app", "jwks": "/etc/crossclear/app-jwks.json"}}'. A channel
    # without one is refused (UNAUTHENTICATED) on every person-facing call.
    channel_idps: dict[str, ChannelIdp] = Field(default_factory=dict)
    idp_audience: str = Field(default="crossclear-filing", min_length=1, max_length=256)
    idp_leeway_s: int = Field(default=30, ge=0, le=300)
    idp_refresh_s: float = Field(default=30.0, ge=1, le=86400)
    # Local state of development tools (the development identity provider's key).
    state_dir: Path = Path(".state")

    # The HTTP/JSON gateway of the channels (services/gateway): where it listens, and its
    # token buckets per channel and per end user (HTTP 429 beyond them). Under TLS it
    # presents the certificate of the token's channel: <tls_dir>/<channel code>/.
    gateway_listen: str = "127.0.0.1:8080"
    gateway_channel_rate_per_s: float = Field(default=200.0, gt=0, le=100_000)
    gateway_channel_burst: int = Field(default=400, ge=1, le=1_000_000)
    gateway_person_rate_per_s: float = Field(default=2.0, gt=0, le=1_000)
    gateway_person_burst: int = Field(default=20, ge=1, le=10_000)
    gateway_rate_keys_max: int = Field(default=100_000, ge=1, le=10_000_000)
    gateway_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=4 * 1024 * 1024)
    # HTTPS of the gateway: a directory holding tls.crt and tls.key (served) and ca.crt,
    # the CA hospitals' and pharmacies' client certificates must chain to (the platform
    # CA: their gRPC certificates). Their settlement routes then require such a
    # certificate; channel routes keep bearer tokens, a certificate optional. Under TLS the
    # gateway calls settlement as itself, <tls_dir>/svc-gateway/, forwarding the verified
    # institution (shared.auth.resolve_caller).
    gateway_https_dir: Path | None = None

    # Requests in progress beyond this are refused at once with RESOURCE_EXHAUSTED and a
    # retry hint instead of queueing without bound for a database connection.
    grpc_max_inflight: int = Field(default=256, ge=1, le=100_000)
    grpc_max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    shutdown_grace_s: float = Field(default=10.0, ge=0, le=120)
    # Settlement worker processes sharing its gRPC port (SO_REUSEPORT), each with its own
    # pool of db_pool_max connections; for a machine with idle cores (see shared.workers).
    # Under Kubernetes keep 1 and let the autoscaler add pods.
    settlement_workers: int = Field(default=1, ge=1, le=16)
    # The event loop of the serving processes: uvloop (libuv, in C) spares the settlement
    # process about a tenth of its CPU per RPC against asyncio's own loop, measured in
    # docs/benchmark.md; "asyncio" is the fallback should a platform lack it.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    @field_validator("channel_idps")
    @classmethod
    def _known_channels(cls, value: dict[str, ChannelIdp]) -> dict[str, ChannelIdp]:
        unknown = sorted(set(value) - set(CHANNEL_CODES))
        if unknown:
            raise ValueError(f"not channel caller codes: {unknown}; known: {CHANNEL_CODES}")
        return value

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
