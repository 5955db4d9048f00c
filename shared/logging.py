"""structlog everywhere: JSON in production, readable in a terminal, never a full ID.

One processor chain serves structlog and the standard library (grpc, asyncpg, aio_pika
log through ``logging``), so every line has the same shape and passes the redaction
processor, which masks identity-document numbers, names and phone numbers wherever they
stand in the event: under a known key, or inside free text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from shared.redact import redact_text, redact_value

_MAX_DEPTH = 6  # nested log values deeper than this are summarised, not walked


def _redact(key: str, value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, str):
        return redact_value(key, value)
    if isinstance(value, Mapping):
        return {k: _redact(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(key, v, depth + 1) for v in value]
    if isinstance(value, BaseException):
        return redact_text(repr(value))
    return value


# Written by the processors before redaction (the time, the level, the logger's module
# name), whatever the call passed under those keys: nothing personal can stand there.
_PROCESSOR_KEYS = frozenset({"timestamp", "level", "logger"})


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key not in _PROCESSOR_KEYS:
            event_dict[key] = _redact(key, event_dict[key], 0)
    return event_dict


def _redact_rendered(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Exception tracebacks are rendered into text late in the chain; mask that text too.
    for key in ("exception", "stack"):
        if isinstance(event_dict.get(key), str):
            event_dict[key] = redact_text(event_dict[key])
    return event_dict


def configure_logging(
    level: str = "INFO", fmt: str = "auto", service: str | None = None, stream: Any = None
) -> None:
    """Configure structlog and stdlib logging once per process (idempotent)."""
    out = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact_rendered,
        redact_processor,
    ]
    if service:
        shared.insert(0, _add_service(service))
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        # Below the level an event is dropped before any processor runs (timestamp,
        # context, redaction): the stdlib handler would drop it anyway, after all of them.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(_reconnect_attempts_are_warnings)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter at INFO drowns the service's own lines.
    for noisy in ("aio_pika", "aiormq", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _reconnect_attempts_are_warnings(record: logging.LogRecord) -> bool:
    """aio-pika's robust connection logs every failed reconnection attempt at ERROR while
    the broker is down; the bus already reports the outage (a warning, the broker health
    entry and its gauge), so these are warnings: an outage is not an error of ours."""
    if record.name.startswith(("aiormq", "aio_pika")) and record.levelno == logging.ERROR:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def _add_service(service: str) -> Any:
    def add(_l: Any, _m: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return add
