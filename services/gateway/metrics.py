"""The gateway's Prometheus metrics, served on its metrics port as the services serve
theirs (CROSSCLEAR_METRICS_PORT; default 9104).

``route`` is the bound RPC's name (``-`` for a path no binding matches), so the label's
values are bounded by the protos' bindings.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "crossclear_gateway_requests_total",
    "HTTP requests to bound routes, by route and HTTP status",
    ["route", "http_status"],
)
HTTP_LATENCY = Histogram(
    "crossclear_gateway_request_seconds",
    "Time to answer an HTTP request to a bound route (the gRPC call included)",
    ["route"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMITED = Counter(
    "crossclear_gateway_rate_limited_total",
    "Requests refused with HTTP 429 by a token bucket: per channel, person or institution",
    ["scope"],
)
