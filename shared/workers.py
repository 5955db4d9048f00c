"""Several worker processes of one service sharing its gRPC port (``SO_REUSEPORT``).

One Python process serves RPCs on one core at most (the event loop, gRPC's and asyncpg's
protocol code, the settlement engine all run under one interpreter lock). Where a core is
idle, ``CROSSCLEAR_SETTLEMENT_WORKERS=N`` makes ``crossclear serve settlement`` a small
supervisor that starts N worker processes of the service; the kernel spreads incoming
connections over them (each worker's gRPC server binds the same address with
``SO_REUSEPORT``). Nothing else changes for a client.

Each worker is a whole service process:

- its own database pool (``CROSSCLEAR_DB_POOL_MAX`` connections *per worker*), broker
  connection and background loops. The outbox relays of the workers share one outbox
  safely: each pass claims its rows with ``FOR UPDATE SKIP LOCKED`` (shared/bus/outbox.py),
  so a row goes to one relay, and a row published twice (a relay dying between confirm
  and mark) is absorbed by the consumers' inbox as before. Reference-data reloads listen
  per worker;
- the same health port (also shared with ``SO_REUSEPORT``: any worker answers a probe,
  and the supervisor stops them all when one exits, so a dead worker is never hidden
  behind a live one);
- its own metrics port: worker ``k`` (0-based) serves on the configured port ``+ 10·k``
  (worker 0 on the port itself), so each worker's counters are scraped separately and
  summed by the monitoring system.

A simulated clock (development) lives in one process and is set through one RPC, so it is
refused with more than one worker. The supervisor forwards SIGTERM/SIGINT to the workers,
waits for them to drain, and exits non-zero if a worker failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Final

from shared.config import ServiceName, Settings

WORKERS_ENV: Final = {ServiceName.SETTLEMENT: "CROSSCLEAR_SETTLEMENT_WORKERS"}
WORKER_INDEX_ENV: Final = "CROSSCLEAR_WORKER_INDEX"
METRICS_PORT_STRIDE: Final = 10
_STOP_TIMEOUT_S: Final = 30.0
_POLL_S: Final = 0.5


class WorkerSettingError(ValueError):
    """The worker count is not usable (not a number, out of range, unsupported)."""


def worker_count(service: ServiceName, settings: Settings) -> int:
    """How many worker processes the service runs (1 unless its setting says more; the
    setting's range is checked where it is read, in shared.config)."""
    return settings.settlement_workers if service is ServiceName.SETTLEMENT else 1


def worker_index(env: Mapping[str, str] | None = None) -> int | None:
    """This process's worker number when a supervisor started it, else None."""
    raw = (os.environ if env is None else env).get(WORKER_INDEX_ENV)
    return int(raw) if raw is not None and raw.isdigit() else None


def metrics_port_of_worker(base: int, index: int | None) -> int:
    """Worker k's metrics port: base + 10·k (0 stays 0: metrics off)."""
    if not base or not index:
        return base
    return base + METRICS_PORT_STRIDE * index


def worker_env(
    service: ServiceName, settings: Settings, index: int, env: Mapping[str, str]
) -> dict[str, str]:
    """The environment of worker ``index``: the same listen address for every worker."""
    out = dict(env)
    out[WORKER_INDEX_ENV] = str(index)
    out["CROSSCLEAR_GRPC_LISTEN"] = settings.listen_of(service)
    out[WORKERS_ENV[service]] = "1"  # a worker never supervises workers of its own
    return out


def check_supported(service: ServiceName, settings: Settings, workers: int) -> None:
    if workers <= 1:
        return
    if settings.simulated_clock:
        raise WorkerSettingError(
            "a simulated clock lives in one process: run one worker with it "
            f"(unset {WORKERS_ENV[service]})"
        )
    if settings.listen_of(service).rsplit(":", 1)[-1] == "0":
        raise WorkerSettingError("several workers share one fixed port: the listen port is 0")


def supervise(service: ServiceName, settings: Settings, workers: int) -> int:
    """Start ``workers`` processes of ``crossclear serve <service>``, stop them all when
    one exits or on SIGTERM/SIGINT; the exit code is 0 only if every worker stopped
    cleanly."""
    check_supported(service, settings, workers)
    base_env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", service.value],
            env=worker_env(service, settings, index, base_env),
        )
        for index in range(workers)
    ]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    failed = False
    try:
        while not stopping:
            for index, proc in enumerate(procs):
                if proc.poll() is not None:
                    print(
                        f"{service.value} worker {index} exited with code {proc.returncode}; "
                        "stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    failed = True  # a worker stopped without being asked to
                    stopping = True
            time.sleep(_POLL_S)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    codes = [proc.returncode for proc in procs]
    clean = all(code in (0, -signal.SIGTERM) for code in codes)
    return 0 if clean and not failed else 1
