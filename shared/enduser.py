"""End-user tokens of the channels: who a channel acts for, verified.

A channel caller (``channel-app``, ``channel-mini-program``, ``channel-web``,
``channel-counter``) is a platform; the person it acts for travels with each
person-facing call as gRPC metadata ``authorization: Bearer <JWT>``, a token signed by
that channel's identity provider. The token is verified here with PyJWT:

- the signature, with a key of the channel's JWKS (``Settings.channel_idps``: a file or a
  URL per channel; a key id the set lacks makes one re-read, at most every
  ``idp_refresh_s``); asymmetric algorithms only (RS256/ES256/EdDSA), so a leaked
  verification key cannot mint tokens;
- ``iss`` is the channel's own issuer (a web token does not pass through the app),
  ``aud`` is ``idp_audience``;
- ``exp`` (required) and ``nbf`` (optional) against the service's clock, with
  ``idp_leeway_s`` of tolerance — the clock the rest of the service runs on, so a
  development service on a simulated clock accepts tokens minted for simulated time;
- the subject: a person token (``role`` ``person``, the default) names the person number
  (``sub`` = psn_no, the key of persons and filings); a staff token (``role`` ``staff``)
  names the clerk (``sub`` = ``staff_id`` = staff id) and the pool of their counter
  (``pool``). Online
  channels carry person tokens, the counter staff tokens.

Anything wrong → :class:`Unauthenticated` with a reason that names what is wrong, never
the token itself.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import structlog

from shared import clock
from shared.auth import EndUser, EndUserKind
from shared.config import CHANNEL_CODES, ChannelIdp, Settings
from shared.grpc_errors import Unauthenticated
from shared.reference import is_pool

log = structlog.get_logger(__name__)

AUTHORIZATION_HEADER = "authorization"
BEARER_PREFIX = "bearer "
MAX_TOKEN_CHARS = 8_192
MAX_JWKS_BYTES = 1_000_000
MAX_JWKS_KEYS = 100
JWKS_FETCH_TIMEOUT_S = 5.0
ALGORITHMS = ("RS256", "ES256", "EdDSA")
ONLINE_CHANNELS = frozenset({"channel-app", "channel-mini-program", "channel-web"})
COUNTER_CHANNEL = "channel-counter"
PSN_NO_RE = re.compile(r"\d{6}[0-9A-Z]{4,24}")
STAFF_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def bearer_of(metadata: Mapping[str, str] | None) -> str | None:
    """The token of an ``authorization: Bearer <token>`` entry; None without one."""
    value = (metadata or {}).get(AUTHORIZATION_HEADER)
    if value is None:
        return None
    if value[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
        raise Unauthenticated("authorization metadata is not 'Bearer <token>'")
    return value[len(BEARER_PREFIX) :].strip()


class _KeySet:
    """One identity provider's JWKS, loaded on first use and re-read for an unknown kid."""

    def __init__(self, source: str, refresh_s: float) -> None:
        self._source = source
        self._refresh_s = refresh_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    def _read(self) -> bytes:
        if re.match(r"^https?://", self._source):
            with urllib.request.urlopen(self._source, timeout=JWKS_FETCH_TIMEOUT_S) as reply:
                return bytes(reply.read(MAX_JWKS_BYTES + 1))
        return Path(self._source).read_bytes()[: MAX_JWKS_BYTES + 1]

    async def _load(self) -> None:
        raw = await asyncio.to_thread(self._read)
        if len(raw) > MAX_JWKS_BYTES:
            raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        document = json.loads(raw)
        keys = document.get("keys", []) if isinstance(document, dict) else []
        if not isinstance(keys, list) or len(keys) > MAX_JWKS_KEYS:
            raise ValueError(f"JWKS must hold a list of at most {MAX_JWKS_KEYS} keys")
        loaded: dict[str, jwt.PyJWK] = {}
        for item in keys:
            if isinstance(item, dict) and item.get("kid") and item.get("use", "sig") == "sig":
                loaded[str(item["kid"])] = jwt.PyJWK(item)
        self._keys = loaded

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            fresh = self._loaded_at is not None and (
                time.monotonic() - self._loaded_at < self._refresh_s
            )
            if kid not in self._keys and not fresh:
                self._loaded_at = time.monotonic()
                try:
                    await self._load()
                except (OSError, ValueError, jwt.PyJWKError) as exc:
                    log.warning("jwks unavailable", source=self._source, error=str(exc)[:200])
                    raise Unauthenticated(
                        "the channel's identity provider keys cannot be read; retry later"
                    ) from exc
        return self._keys.get(kid)


@dataclass(frozen=True)
class _Idp:
    issuer: str
    keys: _KeySet


class EndUserVerifier:
    """Verifies channels' end-user tokens (see the module's docstring)."""

    def __init__(
        self,
        idps: Mapping[str, ChannelIdp],
        *,
        audience: str,
        leeway_s: int = 30,
        refresh_s: float = 30.0,
    ) -> None:
        self._idps = {
            channel: _Idp(idp.issuer, _KeySet(idp.jwks, refresh_s)) for channel, idp in idps.items()
        }
        self._audience = audience
        self._leeway_s = leeway_s

    @classmethod
    def from_settings(cls, settings: Settings) -> EndUserVerifier:
        return cls(
            settings.channel_idps,
            audience=settings.idp_audience,
            leeway_s=settings.idp_leeway_s,
            refresh_s=settings.idp_refresh_s,
        )

    async def verify(self, channel: str, token: str | None) -> EndUser:
        """The end user ``channel`` acts for, or Unauthenticated saying why not."""
        assert channel in CHANNEL_CODES, channel
        if not token:
            raise Unauthenticated(
                f"{channel} acts for a person: send 'authorization: Bearer <token>' "
                "issued by the channel's identity provider"
            )
        idp = self._idps.get(channel)
        if idp is None:
            raise Unauthenticated(f"no identity provider is configured for {channel}")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated(f"bearer token longer than {MAX_TOKEN_CHARS} characters")
        claims = await self._decode(idp, token)
        return self._end_user(channel, idp.issuer, claims)

    async def _decode(self, idp: _Idp, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise Unauthenticated("bearer token is not a well-formed JWT") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise Unauthenticated(f"token algorithm {str(alg)[:16]!r} not accepted")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("token names no signing key (kid)")
        key = await idp.keys.key(kid)
        if key is None:
            raise Unauthenticated(f"signing key {kid[:64]!r} is not one of the channel's")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audience,
                issuer=idp.issuer,
                # Times are checked below against the service's clock.
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("token signature does not verify") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated(f"token audience is not {self._audience}") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("token was not issued by this channel's provider") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token lacks the {exc.claim} claim") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"token refused: {type(exc).__name__}") from exc
        self._check_times(claims)
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = clock.now().timestamp()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float):
            raise Unauthenticated("token exp is not a number")
        if now > exp + self._leeway_s:
            expired = datetime.fromtimestamp(exp, clock.now().tzinfo).isoformat()
            raise Unauthenticated(f"token expired at {expired}; sign in again")
        if nbf is not None:
            if not isinstance(nbf, int | float):
                raise Unauthenticated("token nbf is not a number")
            if now + self._leeway_s < nbf:
                raise Unauthenticated("token is not valid yet (nbf)")

    @staticmethod
    def _end_user(channel: str, issuer: str, claims: dict[str, Any]) -> EndUser:
        role = claims.get("role", EndUserKind.PERSON.value)
        subject = claims["sub"]
        if not isinstance(subject, str):
            raise Unauthenticated("token sub is not a string")
        if role == EndUserKind.PERSON.value:
            if channel not in ONLINE_CHANNELS:
                raise Unauthenticated(f"{channel} acts with a staff token, not a person's")
            if not PSN_NO_RE.fullmatch(subject):
                raise Unauthenticated("token sub is not a person number (psn_no)")
            return EndUser(EndUserKind.PERSON, subject, issuer)
        if role == EndUserKind.STAFF.value:
            if channel != COUNTER_CHANNEL:
                raise Unauthenticated(f"{channel} acts for persons, not with a staff token")
            pool = claims.get("pool")
            if not STAFF_ID_RE.fullmatch(subject):
                raise Unauthenticated("token sub is not a staff id")
            if claims.get("staff_id", subject) != subject:
                raise Unauthenticated("staff token staff_id and sub differ")
            if not isinstance(pool, str) or not is_pool(pool):
                raise Unauthenticated("staff token pool is not a known pool code")
            return EndUser(EndUserKind.STAFF, subject, issuer, pool)
        raise Unauthenticated(f"token role {str(role)[:16]!r} is not person or staff")
