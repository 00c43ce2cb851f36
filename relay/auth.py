"""JWT verification and minting, and the typed principal handlers receive.

Algorithms are pinned by configuration. The key is chosen by the algorithm's family: HS* only
ever verifies with ``RELAY_JWT_SECRET`` and RS*/ES* only with ``RELAY_JWT_PUBLIC_KEY``, so a
token signed with the public key as an HMAC secret (algorithm confusion) cannot verify, and
``none`` is never accepted. Every failure is the same :class:`Unauthenticated`, with no detail.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from relay.config import HMAC_ALGORITHMS, Settings
from relay.errors import ConfigError, Unauthenticated

log = logging.getLogger(__name__)


class Role(StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"
    SUPERADMIN = "SUPERADMIN"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: ``tenant`` is None only for a SUPERADMIN token without a tenant.

    ``expires_at`` (epoch seconds) is when the relay stops accepting the token: its ``exp``
    plus ``RELAY_JWT_LEEWAY``. A live stream ends then (SPEC "Live events").
    """

    user: str
    tenant: str | None
    role: Role
    expires_at: float | None = None

    @property
    def is_superadmin(self) -> bool:
        return self.role is Role.SUPERADMIN

    @property
    def can_manage(self) -> bool:
        return self.role is not Role.USER

    def sees(self, tenant_id: str) -> bool:
        return self.is_superadmin or tenant_id == self.tenant


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._algorithms = frozenset(settings.jwt_algorithms)
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._public_key = settings.public_key_pem()
        self._leeway = settings.jwt_leeway
        self._tenant_claim = settings.jwt_tenant_claim
        self._role_claim = settings.jwt_role_claim
        self._user_claim = settings.jwt_user_claim

    def _key_for(self, token: str) -> tuple[str, str]:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as exc:
            raise Unauthenticated() from exc
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise Unauthenticated()
        key = self._secret if alg in HMAC_ALGORITHMS else self._public_key
        if key is None:
            raise Unauthenticated()
        return alg, key

    def verify(self, token: str) -> Principal:
        alg, key = self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                leeway=self._leeway,
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated() from exc
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        try:
            role = Role(str(claims[self._role_claim]).upper())
        except (KeyError, ValueError) as exc:
            raise Unauthenticated() from exc
        tenant = claims.get(self._tenant_claim)
        user = claims.get(self._user_claim)
        if tenant is not None and not isinstance(tenant, str | int):
            raise Unauthenticated()
        if (tenant is None or tenant == "") and role is not Role.SUPERADMIN:
            raise Unauthenticated()
        if not isinstance(user, str | int) or user == "":
            raise Unauthenticated()
        exp = claims.get("exp")
        expires_at = float(exp) + self._leeway if isinstance(exp, int | float) else None
        return Principal(  # the tenant's name once, not per session (it lives as long)
            user=str(user), tenant=None if tenant is None else sys.intern(str(tenant)),
            role=role, expires_at=expires_at,
        )  # fmt: skip


def mint_token(
    settings: Settings, *, tenant: str | None, role: Role, user: str, ttl: float = 3600
) -> str:
    """A token this relay accepts; minting needs the HS256 secret."""
    if settings.jwt_secret is None:
        raise ConfigError(["RELAY_JWT_SECRET: required to mint tokens"])
    alg = next((a for a in settings.jwt_algorithms if a in HMAC_ALGORITHMS), None)
    if alg is None:
        raise ConfigError(["RELAY_JWT_ALGORITHMS: minting needs an HS* algorithm"])
    now = int(time.time())
    claims: dict[str, Any] = {
        settings.jwt_user_claim: user,
        settings.jwt_role_claim: role.value,
        "iat": now,
        "nbf": now,
        "exp": now + int(ttl),
    }
    if tenant is not None:
        claims[settings.jwt_tenant_claim] = tenant
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=alg)
