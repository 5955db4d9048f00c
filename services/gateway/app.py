"""The channels' HTTP/JSON door: transcoded calls to the filing service, its OpenAPI
document and the web filing page; and hospitals' and pharmacies' register, upload and
settle calls to the settlement service.

Each call carries the end user's token (``Authorization: Bearer <JWT>``). The gateway
verifies it as the filing service will (``shared.enduser``: the token's issuer names the
channel), so it can count calls per channel and per person before they reach the
service, then calls as that channel — passing the token through, which the filing
service verifies again and uses to decide what the person may do.

A hospital or pharmacy calls over HTTPS with its own client certificate (the one it uses
for gRPC; ``services.gateway.tls``). The gateway verifies it, then calls settlement as
its own service identity (``svc-gateway``) naming the institution in
``x-crossclear-forwarded-caller``, which services honour from that identity only
(``shared.auth.resolve_caller``). Only a development gateway without HTTPS takes the
institution's code from the X-Crossclear-Caller header instead.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import grpc
import jwt
import structlog
from aiohttp import web
from google.protobuf.message import Message
from google.rpc import status_pb2

from services.gateway import transcode
from services.gateway.bindings import Binding, bindings_of, path_values
from services.gateway.limits import TokenBuckets
from services.gateway.metrics import HTTP_LATENCY, HTTP_REQUESTS, RATE_LIMITED
from services.gateway.openapi import document
from services.gateway.tls import institution_of
from shared.auth import (
    CALLER_HEADER,
    FORWARDABLE,
    FORWARDED_CALLER_HEADER,
    GATEWAY_CODE,
    EndUser,
    parse_caller,
)
from shared.config import CHANNEL_CODES, Settings
from shared.enduser import EndUserVerifier, bearer_of
from shared.errors import DomainError, InvalidArgument
from shared.grpc_client import open_channel
from shared.grpc_errors import REQUEST_ID_HEADER, ResourceExhausted, Unauthenticated, to_status
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2

log = structlog.get_logger(__name__)

CALL_TIMEOUT_S = 10.0
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
JSON = "application/json"
STATIC = resources.files("services.gateway") / "static"
STATIC_FILES = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript")}
FILING_SERVICE = filing_pb2.DESCRIPTOR.services_by_name["FilingService"]
SETTLEMENT_SERVICE = settlement_pb2.DESCRIPTOR.services_by_name["SettlementService"]
SERVICES = (FILING_SERVICE, SETTLEMENT_SERVICE)


def all_bindings() -> list[Binding]:
    return [b for service in SERVICES for b in bindings_of(service)]


@dataclass
class _Channels:
    """One gRPC channel per service and identity (TLS: that identity's certificate):
    a channel's own for filing, the gateway's for settlement."""

    settings: Settings
    opened: dict[tuple[str, str], grpc.aio.Channel]

    def get(self, service: str, code: str) -> grpc.aio.Channel:
        if (service, code) not in self.opened:
            tls = self.settings.tls_dir
            target = (
                self.settings.settlement_target
                if service == SETTLEMENT_SERVICE.full_name
                else self.settings.filing_target
            )
            self.opened[service, code] = open_channel(
                target, tls / code if tls else None, server_name="localhost"
            )
        return self.opened[service, code]

    async def close(self) -> None:
        for channel in self.opened.values():
            await channel.close()


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        bindings: Sequence[Binding] | None = None,
        sign_in: Callable[[str, str], str] | None = None,
    ) -> None:
        self.settings = settings
        self.bindings = list(bindings if bindings is not None else all_bindings())
        self.verifier = EndUserVerifier.from_settings(settings)
        self.channel_of_issuer = {idp.issuer: code for code, idp in settings.channel_idps.items()}
        self.per_channel = TokenBuckets(
            settings.gateway_channel_rate_per_s,
            settings.gateway_channel_burst,
            max_keys=len(CHANNEL_CODES),
        )
        self.per_person = TokenBuckets(
            settings.gateway_person_rate_per_s,
            settings.gateway_person_burst,
            max_keys=settings.gateway_rate_keys_max,
        )
        # A hospital's information system calls as often as a whole channel.
        self.per_hospital = TokenBuckets(
            settings.gateway_channel_rate_per_s,
            settings.gateway_channel_burst,
            max_keys=settings.gateway_rate_keys_max,
        )
        self.channels = _Channels(settings, {})
        self.openapi = document(
            self.bindings,
            title="crossclear channels API",
            version="v1",
            institution_services=frozenset({SETTLEMENT_SERVICE.full_name}),
        )
        self._sign_in = sign_in

    # -- HTTP --------------------------------------------------------------------------

    def app(self) -> web.Application:
        application = web.Application(client_max_size=self.settings.gateway_max_body_bytes)
        application.router.add_get("/openapi.json", self._openapi)
        application.router.add_get("/healthz", self._healthz)
        for path in STATIC_FILES:
            application.router.add_get(path, self._static)
        if self._sign_in is not None:
            application.router.add_post("/dev/sign-in", self._dev_sign_in)
        application.router.add_route("*", "/v1/{tail:.*}", self._transcoded)
        application.on_cleanup.append(self._close)
        return application

    async def _close(self, _app: web.Application) -> None:
        await self.channels.close()

    async def _healthz(self, _request: web.Request) -> web.Response:
        """Liveness and readiness: the process answers (filing's health is its own)."""
        return web.json_response({"status": "SERVING"})

    async def _openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(self.openapi)

    async def _static(self, request: web.Request) -> web.Response:
        name, content_type = STATIC_FILES[request.path]
        return web.Response(
            text=(STATIC / name).read_text(encoding="utf-8"),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def _dev_sign_in(self, request: web.Request) -> web.Response:
        """Development only: a token of the development identity provider."""
        assert self._sign_in is not None
        try:
            payload = await request.json()
            channel, psn_no = str(payload.get("channel", "channel-web")), str(payload["psn_no"])
            token = self._sign_in(channel, psn_no)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": f"sign-in refused: {exc}"}, status=400)
        return web.json_response({"token": token, "channel": channel})

    # -- transcoding ---------------------------------------------------------------------

    def _route(self, verb: str, path: str) -> tuple[Binding, dict[str, str]] | None:
        for binding in self.bindings:
            groups = binding.match(verb, path)
            if groups is not None:
                return binding, path_values(binding, groups)
        return None

    async def _transcoded(self, request: web.Request) -> web.Response:
        given = request.headers.get("X-Request-Id", "")
        request_id = given if REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 200
        route = self._route(request.method, request.path)
        try:
            if route is None:
                status = 404
                return _error(
                    status_pb2.Status(code=5, message=f"no {request.method} {request.path}"),
                    request_id,
                )
            binding, values = route
            forwarded: str | None = None
            if binding.service == SETTLEMENT_SERVICE.full_name:
                forwarded, channel = self._hospital(request), GATEWAY_CODE
            else:
                end_user, channel = await self._authenticate(request)
                self._limit(channel, end_user)
            body = await _body(request, self.settings.gateway_max_body_bytes)
            message = transcode.build_request(
                binding.request_class(), binding.body, values, request.query.items(), body
            )
            reply = await self._call(binding, message, channel, request, request_id, forwarded)
            return web.Response(text=transcode.to_json(reply), content_type=JSON, charset="utf-8")
        except DomainError as error:
            _code, rich = to_status(error, request_id)
            status = transcode.http_status(rich)
            return _error(rich, request_id)
        except grpc.aio.AioRpcError as error:
            rich = transcode.status_of_rpc_error(error)
            status = transcode.http_status(rich)
            return _error(rich, request_id)
        finally:
            elapsed = time.perf_counter() - started
            name = route[0].method.name if route else "-"
            HTTP_REQUESTS.labels(name, str(status)).inc()
            HTTP_LATENCY.labels(name).observe(elapsed)
            log.info(
                "http",
                method=request.method,
                route=route[0].method.name if route else "-",
                status=status,
                request_id=request_id,
                latency_ms=round(elapsed * 1000, 2),
            )

    async def _authenticate(self, request: web.Request) -> tuple[EndUser, str]:
        header = request.headers.get("Authorization")
        token = bearer_of({"authorization": header} if header is not None else None)
        if not token:
            raise Unauthenticated(
                "sign in: send 'Authorization: Bearer <token>' issued by your channel's "
                "identity provider"
            )
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise Unauthenticated("bearer token is not a well-formed JWT") from None
        channel = self.channel_of_issuer.get(str(issuer))
        if channel is None:
            raise Unauthenticated("token issuer is not the identity provider of any channel")
        return await self.verifier.verify(channel, token), channel

    def _hospital(self, request: web.Request) -> str:
        """The hospital (or pharmacy) calling settlement through this door.

        Over HTTPS: the institution its verified client certificate names. Only a
        development gateway without HTTPS (and without TLS to the services) takes the code
        from the X-Crossclear-Caller header, as a development gRPC server does."""
        if self.settings.gateway_https_dir is not None:
            transport = request.transport
            peercert = transport.get_extra_info("peercert") if transport else None
            code = institution_of(peercert).code
        elif self.settings.tls_dir is None and self.settings.insecure_dev:
            given = request.headers.get(CALLER_HEADER, "")
            caller = parse_caller(given) if given else None
            if caller is None or caller.kind not in FORWARDABLE:
                raise Unauthenticated(f"name the hospital in the {CALLER_HEADER} header")
            code = caller.code
        else:
            raise Unauthenticated(
                "hospitals and pharmacies call settlement over HTTPS with their client "
                "certificate; this gateway serves no HTTPS (CROSSCLEAR_GATEWAY_HTTPS_DIR)"
            )
        wait = self.per_hospital.take(code)
        if wait is not None:
            RATE_LIMITED.labels("institution").inc()
            raise ResourceExhausted(f"{code} is over its request rate; retry after the hint", wait)
        return code

    def _limit(self, channel: str, end_user: EndUser) -> None:
        wait = self.per_channel.take(channel)
        if wait is None:
            wait = self.per_person.take(f"{channel}/{end_user.acted_by}")
            what, scope = "you are sending requests too fast", "person"
        else:
            what, scope = f"{channel} is over its request rate", "channel"
        if wait is not None:
            RATE_LIMITED.labels(scope).inc()
            raise ResourceExhausted(f"{what}; retry after the hint", retry_after_s=wait)

    async def _call(
        self,
        binding: Binding,
        message: Message,
        channel: str,
        request: web.Request,
        request_id: str,
        forwarded: str | None = None,
    ) -> Message:
        metadata: list[tuple[str, str]] = [(REQUEST_ID_HEADER, request_id)]
        if forwarded is not None:
            metadata.append((FORWARDED_CALLER_HEADER, forwarded))
        if "Authorization" in request.headers:
            metadata.append(("authorization", request.headers["Authorization"]))
        if self.settings.tls_dir is None:
            metadata.append((CALLER_HEADER, channel))
        rpc: Callable[..., Awaitable[Message]] = self.channels.get(
            binding.service, channel
        ).unary_unary(
            binding.rpc_path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=binding.response_class.FromString,
        )
        return await rpc(message, metadata=tuple(metadata), timeout=CALL_TIMEOUT_S)


async def _body(request: web.Request, limit: int) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise InvalidArgument("body", f"larger than {limit} bytes") from None


def _error(status: status_pb2.Status, request_id: str) -> web.Response:
    headers = {"X-Request-Id": request_id}
    delay = transcode.retry_after_s(status)
    if delay is not None:
        headers["Retry-After"] = str(max(1, int(delay + 0.999)))
    return web.Response(
        text=transcode.status_json(status),
        status=transcode.http_status(status),
        content_type=JSON,
        charset="utf-8",
        headers=headers,
    )


def dev_sign_in(settings: Settings) -> Callable[[str, str], str] | None:
    """Development mode: sign in with the development identity provider, if set up."""
    if not settings.insecure_dev or settings.tls_dir is not None:
        return None
    from shared import clock
    from shared.devidp import DevIdp, idp_dir, issuer_of

    folder = idp_dir(settings.state_dir)
    if not folder.exists():
        return None
    idp = DevIdp.ensure(folder)
    web_idp = settings.channel_idps.get("channel-web")
    if web_idp is None or web_idp.issuer != issuer_of("channel-web"):
        return None  # the channels trust other providers: this one's tokens would not pass

    def sign_in(channel: str, psn_no: str) -> str:
        if channel not in CHANNEL_CODES or channel == "channel-counter":
            raise ValueError("an online channel: channel-app, channel-mini-program, channel-web")
        return idp.token(channel, audience=settings.idp_audience, now=clock.now(), person=psn_no)

    return sign_in
