"""Token attacks (issue 4): every one is a 401 with the same generic body, and nothing runs.

The relay accepts HS256 (secret) and RS256 (public key) here; the RS keypair is made in the
test with ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import JWT_SECRET

from .conftest import TENANT_A, Api, MakeApi

GENERIC = {"success": False, "message": "Não autenticado", "code": "UNAUTHENTICATED"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "mallory", "role": "ADMIN", "tenantId": TENANT_A,
                              "iat": now, "nbf": now, "exp": now + 600}  # fmt: skip
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hmac_token(alg: str, key: bytes, digest: Any) -> str:
    """Signed by hand: PyJWT refuses to HMAC with a PEM key (the algorithm-confusion attack)."""
    signed = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(_claims())}"
    return f"{signed}.{_b64(hmac.new(key, signed.encode(), digest).digest())}"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The relay's key and an attacker's key."""
    return _rsa_key(), _rsa_key()


@pytest.fixture
async def rs_api(make_api: MakeApi, rsa_keys: tuple[rsa.RSAPrivateKey, Any]) -> Api:
    return await make_api(
        jwt_public_key=_public_pem(rsa_keys[0]), jwt_algorithms=["HS256", "RS256"]
    )


def _attacks(keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> dict[str, str]:
    relay_key, other_key = keys
    good = jwt.encode(_claims(), relay_key, algorithm="RS256")
    header_rs = _segment({"alg": "RS256", "typ": "JWT"})
    payload = _segment(_claims())
    now = int(time.time())
    return {
        "alg-none": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg-None-with-signature": f"{_segment({'alg': 'None'})}.{payload}.{_b64(b'x')}",
        "hs256-signed-with-rs-public-key": _hmac_token(
            "HS256", _public_pem(relay_key).encode(), hashlib.sha256
        ),
        "hs256-wrong-secret": jwt.encode(_claims(), "x" * 40, algorithm="HS256"),
        "rs256-wrong-key": jwt.encode(_claims(), other_key, algorithm="RS256"),
        "rs256-payload-swapped": f"{header_rs}.{_segment(_claims(role='SUPERADMIN'))}."
        + good.split(".")[2],
        "hs512-not-allowed": _hmac_token("HS512", JWT_SECRET.encode(), hashlib.sha512),
        "expired": jwt.encode(_claims(exp=now - 120, nbf=now - 600), JWT_SECRET, "HS256"),
        "not-yet-valid": jwt.encode(_claims(nbf=now + 300), JWT_SECRET, algorithm="HS256"),
        "no-exp": jwt.encode(_claims(exp=None), JWT_SECRET, algorithm="HS256"),
        "no-tenant": jwt.encode(_claims(tenantId=None), JWT_SECRET, algorithm="HS256"),
        "no-role": jwt.encode(_claims(role=None), JWT_SECRET, algorithm="HS256"),
        "unknown-role": jwt.encode(_claims(role="OWNER"), JWT_SECRET, algorithm="HS256"),
        "no-user": jwt.encode(_claims(sub=None), JWT_SECRET, algorithm="HS256"),
        "truncated": good[:-12],
        "two-segments": ".".join(good.split(".")[:2]),
        "garbage": "not-a-jwt",
        "garbage-segments": "abc.def.ghi",
        "empty-json-segments": f"{_b64(b'{}')}.{_b64(b'{}')}.",
    }


ATTACKS = [
    "alg-none", "alg-None-with-signature", "hs256-signed-with-rs-public-key",
    "hs256-wrong-secret", "rs256-wrong-key", "rs256-payload-swapped", "hs512-not-allowed",
    "expired", "not-yet-valid", "no-exp", "no-tenant", "no-role", "unknown-role", "no-user",
    "truncated", "two-segments", "garbage", "garbage-segments", "empty-json-segments",
]  # fmt: skip


def test_every_attack_is_in_the_list(
    rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    assert sorted(_attacks(rsa_keys)) == sorted(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS)
async def test_attack_is_refused_generically(
    rs_api: Api, rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey], attack: str
) -> None:
    await rs_api.seed("inst1")
    rs_api.sim.reset()
    token = _attacks(rsa_keys)[attack]
    for method, path in [("POST", "restart/inst1"), ("GET", "instances")]:
        reply = await rs_api.call(method, path, token=token)
        assert reply.status == 401, attack
        assert reply.body == GENERIC
        assert reply.headers.get("WWW-Authenticate") == "Bearer"
    assert rs_api.upstream_calls("inst1") == []
    assert await rs_api.audit() == []


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"]
)
async def test_missing_or_malformed_authorization_header(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    reply = await api.call("GET", "instances", as_=None, headers=headers)
    assert reply.status == 401 and reply.body == GENERIC


async def test_valid_rs256_and_hs256_tokens_are_accepted(
    rs_api: Api, rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    await rs_api.seed("inst1")
    rs = jwt.encode(_claims(), rsa_keys[0], algorithm="RS256")
    hs = jwt.encode(_claims(), JWT_SECRET, algorithm="HS256")
    for token in (rs, hs):
        reply = await rs_api.call("GET", "instances", token=token)
        assert reply.status == 200
        assert [i["instanceName"] for i in reply.body["instances"]] == ["inst1"]


async def test_a_token_within_the_leeway_is_accepted(api: Api) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(exp=now - 5, nbf=now + 5), JWT_SECRET, algorithm="HS256")
    reply = await api.call("GET", "instances", token=token)
    assert reply.status == 200


async def test_the_query_token_is_refused_on_management_routes(api: Api) -> None:
    reply = await api.call("GET", f"instances?token={api.tokens['A']}", as_=None)
    assert reply.status == 401 and reply.body == GENERIC
