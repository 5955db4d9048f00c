"""A development identity provider for the channels: one signing key, tokens on demand.

Development and local runs only (``crossclear idp`` refuses outside development mode):
real channels have their own identity providers, configured per channel in
``CROSSCLEAR_CHANNEL_IDPS``. This one keeps an ES256 key and its JWKS under
``<state dir>/idp/`` and plays the provider of all four channels, each under its own
issuer, so a token of one channel still does not pass through another.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.config import CHANNEL_CODES, ChannelIdp

ISSUER_BASE = "https://idp.dev.crossclear.invalid/"
KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"
DEFAULT_TTL = timedelta(hours=1)
MAX_TTL = timedelta(days=400)  # the simulation's tokens live for its simulated months


def issuer_of(channel: str) -> str:
    return ISSUER_BASE + channel


def idp_dir(state_dir: Path) -> Path:
    return state_dir / "idp"


@dataclass(frozen=True)
class DevIdp:
    folder: Path
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def ensure(cls, folder: Path) -> DevIdp:
        """The provider kept in ``folder``, created (key + JWKS) on first use."""
        key_path, jwks_path = folder / KEY_FILE, folder / JWKS_FILE
        if not key_path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            private = ec.generate_private_key(ec.SECP256R1())
            pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = key_path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            os.replace(tmp, key_path)  # two processes racing keep one key
            jwks_path.unlink(missing_ok=True)
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey), "the dev IdP key is EC P-256"
        public_jwk: dict[str, Any] = json.loads(
            jwt.algorithms.ECAlgorithm.to_jwk(loaded.public_key())
        )
        kid = jwt.utils.base64url_encode(
            jwt.utils.force_bytes(public_jwk["x"] + public_jwk["y"])
        ).decode()[:16]
        if not jwks_path.exists():
            document = {"keys": [{**public_jwk, "kid": kid, "use": "sig", "alg": "ES256"}]}
            tmp = jwks_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(document, indent=2) + "\n")
            os.replace(tmp, jwks_path)
        return cls(folder, kid, loaded)

    @property
    def jwks_path(self) -> Path:
        return self.folder / JWKS_FILE

    def channel_idps(self) -> dict[str, ChannelIdp]:
        """The setting that makes a service trust this provider for every channel."""
        jwks = str(self.jwks_path.resolve())
        return {code: ChannelIdp(issuer=issuer_of(code), jwks=jwks) for code in CHANNEL_CODES}

    def channel_idps_env(self) -> str:
        """``channel_idps`` as the CROSSCLEAR_CHANNEL_IDPS environment value."""
        return json.dumps({k: v.model_dump() for k, v in self.channel_idps().items()})

    def token(
        self,
        channel: str,
        *,
        audience: str,
        now: datetime,
        person: str | None = None,
        staff: str | None = None,
        pool: str | None = None,
        ttl: timedelta = DEFAULT_TTL,
    ) -> str:
        """A token of ``channel`` for a person (psn_no) or a counter clerk (staff id, pool)."""
        if channel not in CHANNEL_CODES:
            raise ValueError(f"unknown channel {channel!r}; one of {CHANNEL_CODES}")
        if (person is None) == (staff is None):
            raise ValueError("a token is for a person or for a staff member")
        if not timedelta(0) < ttl <= MAX_TTL:
            raise ValueError(f"ttl must be positive and at most {MAX_TTL}")
        claims: dict[str, Any] = {
            "iss": issuer_of(channel),
            "aud": audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()) - 60,
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_hex(8),
        }
        if person is not None:
            claims.update(sub=person, role="person")
        else:
            if pool is None:
                raise ValueError("a staff token names the pool of the counter")
            claims.update(sub=staff, role="staff", staff_id=staff, pool=pool)
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.kid})
