"""Token verification: every way a bearer token can be wrong is a 401, decided without the database."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from crowdify.auth import backend_tokens
from crowdify.auth.callers import bearer_token, verify_token
from crowdify.config.settings import Settings
from crowdify.core.errors import NotAuthenticated

JWT_SECRET = "unit-test-backend-secret-long-enough-32b"
SUPABASE_SECRET = "unit-test-supabase-secret-long-enough-32"


def supabase_claims(issuer: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": "authenticated",
        "sub": str(uuid.uuid4()),
        "email": "buyer@example.test",
        "iat": now,
        "exp": now + 600,
        "role": "authenticated",
        "app_metadata": {"provider": "email"},
        "user_metadata": {},
    }
    claims.update(overrides)
    return claims


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def jwks_server(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    """A Supabase project's JWKS endpoint on loopback: the real network path of PyJWKClient."""
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    document = json.dumps(
        {"keys": [{**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"}, {**ec_jwk, "kid": "ec-1", "alg": "ES256"}]}
    ).encode()

    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/auth/v1/.well-known/jwks.json":
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def settings(jwks_server: str) -> Settings:
    return Settings(jwt_secret=JWT_SECRET, supabase_jwt_secret=SUPABASE_SECRET, supabase_url=jwks_server)


def issuer_of(settings: Settings) -> str:
    return f"{settings.supabase_url}/auth/v1"


def assert_refused(token: str, settings: Settings, message: str = "") -> None:
    with pytest.raises(NotAuthenticated) as refused:
        verify_token(token, settings)
    assert message in refused.value.detail


def test_backend_user_token_is_accepted(settings: Settings) -> None:
    user_id = uuid.uuid4()
    verified = verify_token(backend_tokens.issue_user_token(str(user_id), JWT_SECRET), settings)
    assert verified.subject == user_id and verified.kind == "user"


def test_backend_device_token_carries_its_events(settings: Settings) -> None:
    device_id, event_id = uuid.uuid4(), uuid.uuid4()
    token = backend_tokens.issue_device_token(str(device_id), [str(event_id)], JWT_SECRET, 3600)
    verified = verify_token(token, settings)
    assert verified.kind == "device" and verified.device_event_ids == frozenset({event_id})


def test_download_tokens_are_not_accepted_as_bearer_tokens(settings: Settings) -> None:
    assert_refused(backend_tokens.issue_download_token(str(uuid.uuid4()), JWT_SECRET), settings)


def test_supabase_hs256_token_is_accepted(settings: Settings) -> None:
    claims = supabase_claims(issuer_of(settings), app_metadata={"role": "coordinator"})
    verified = verify_token(jwt.encode(claims, SUPABASE_SECRET, algorithm="HS256"), settings)
    assert str(verified.subject) == claims["sub"] and verified.role_for_new_user == "coordinator"
    assert verified.email == "buyer@example.test"


@pytest.mark.parametrize(("algorithm", "kid"), [("RS256", "rsa-1"), ("ES256", "ec-1")])
def test_supabase_asymmetric_tokens_are_verified_with_the_projects_jwks(
    settings: Settings, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, algorithm: str, kid: str
) -> None:
    key = rsa_key if algorithm == "RS256" else ec_key
    token = jwt.encode(supabase_claims(issuer_of(settings)), key, algorithm=algorithm, headers={"kid": kid})
    assert verify_token(token, settings).kind == "user"


def test_user_metadata_never_grants_a_role(settings: Settings) -> None:
    claims = supabase_claims(issuer_of(settings), user_metadata={"role": "admin"})
    verified = verify_token(jwt.encode(claims, SUPABASE_SECRET, algorithm="HS256"), settings)
    assert verified.role_for_new_user == "user"


def test_expired_token(settings: Settings) -> None:
    claims = supabase_claims(issuer_of(settings), exp=int(time.time()) - 5)
    assert_refused(jwt.encode(claims, SUPABASE_SECRET, algorithm="HS256"), settings, "expired")


def test_not_yet_valid_token(settings: Settings) -> None:
    claims = supabase_claims(issuer_of(settings), nbf=int(time.time()) + 600)
    assert_refused(jwt.encode(claims, SUPABASE_SECRET, algorithm="HS256"), settings)


def test_backend_token_not_yet_valid(settings: Settings) -> None:
    now = int(time.time())
    claims = {
        "iss": "crowdify",
        "aud": "crowdify",
        "sub": str(uuid.uuid4()),
        "iat": now,
        "nbf": now + 600,
        "exp": now + 1200,
        "jti": "x",
        "typ": "user",
    }
    assert_refused(jwt.encode(claims, JWT_SECRET, algorithm="HS256"), settings)


def test_wrong_signature(settings: Settings) -> None:
    claims = supabase_claims(issuer_of(settings))
    assert_refused(jwt.encode(claims, "another-secret-that-is-also-long-enough", algorithm="HS256"), settings)
    assert_refused(backend_tokens.issue_user_token(str(uuid.uuid4()), "not-the-backend-secret-long-enough"), settings)


def test_tampered_payload(settings: Settings) -> None:
    token = backend_tokens.issue_user_token(str(uuid.uuid4()), JWT_SECRET)
    header, _payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps({**jwt.decode(token, options={"verify_signature": False}), "sub": str(uuid.uuid4())}).encode()
    ).decode()
    assert_refused(f"{header}.{forged_payload}.{signature}", settings)


def test_alg_none_is_refused(settings: Settings) -> None:
    for claims in (
        supabase_claims(issuer_of(settings)),
        {"iss": "crowdify", "aud": "crowdify", "sub": str(uuid.uuid4()), "typ": "user", "exp": time.time() + 60},
    ):
        unsigned = jwt.encode(claims, None, algorithm="none")
        assert_refused(unsigned, settings)


def test_hs256_signed_with_the_public_key_is_refused(settings: Settings, rsa_key: rsa.RSAPrivateKey) -> None:
    """Algorithm confusion: the attacker knows the JWKS public key and uses it as an HMAC secret."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(supabase_claims(issuer_of(settings))).encode())
    import hashlib
    import hmac

    signing_input = header + b"." + payload
    signature = jwt.utils.base64url_encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    assert_refused((signing_input + b"." + signature).decode(), settings)


def test_rs256_token_claiming_the_backend_issuer_is_refused(settings: Settings, rsa_key: rsa.RSAPrivateKey) -> None:
    claims = {"iss": "crowdify", "aud": "crowdify", "sub": str(uuid.uuid4()), "typ": "user", "jti": "j"}
    claims.update({"iat": int(time.time()), "exp": int(time.time()) + 60})
    assert_refused(jwt.encode(claims, rsa_key, algorithm="RS256"), settings)


def test_wrong_audience_and_issuer(settings: Settings) -> None:
    wrong_audience = supabase_claims(issuer_of(settings), aud="service_role")
    assert_refused(jwt.encode(wrong_audience, SUPABASE_SECRET, algorithm="HS256"), settings)
    other_project = supabase_claims("https://other-project.supabase.co/auth/v1")
    assert_refused(jwt.encode(other_project, SUPABASE_SECRET, algorithm="HS256"), settings)
    unknown_issuer = supabase_claims("https://accounts.example.com")
    assert_refused(jwt.encode(unknown_issuer, SUPABASE_SECRET, algorithm="HS256"), settings, "issuer")


def test_unknown_jwks_key_id_is_refused(settings: Settings) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(supabase_claims(issuer_of(settings)), stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    assert_refused(token, settings)
    token = jwt.encode(supabase_claims(issuer_of(settings)), stranger, algorithm="RS256", headers={"kid": "nope"})
    assert_refused(token, settings)


def test_garbage_and_malformed_headers() -> None:
    settings = Settings(jwt_secret=JWT_SECRET)
    for garbage in ("", "abc", "a.b.c", "....", "Bearer"):
        assert_refused(garbage, settings)
    with pytest.raises(NotAuthenticated):
        bearer_token({"Authorization": "Basic dXNlcjpwYXNz"})
    assert bearer_token({}) is None
    assert bearer_token({"authorization": "Bearer abc.def.ghi"}) == "abc.def.ghi"
