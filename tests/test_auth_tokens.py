"""Tests of the CDS Hooks bearer-JWT validator (cds.auth.tokens).

Vectors: the CDS Hooks 2.0 spec's own ES384 example and sandbox-shaped tokens signed with the
cds-hooks sandbox's public-on-purpose key (see tests/data/auth/SOURCE.md). ``jwks_url`` and ``jku``
fetches go to a real HTTP server on 127.0.0.1; every other test uses an HTTP client that fails the
test if the validator touches the network.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds.auth import TokenValidator, TrustedIssuers, load_trusted_issuers
from cds.errors import AuthError

DATA = Path(__file__).parent / "data" / "auth"
SPEC = json.loads((DATA / "cds-hooks-spec-es384-example.json").read_text())
SANDBOX_JWKS: dict[str, Any] = json.loads((DATA / "sandbox-jwks.json").read_text())
SANDBOX_KEY = serialization.load_pem_private_key(
    (DATA / "sandbox-ecprivkey.pem").read_bytes(), password=None
)
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SERVICE_URL = "http://127.0.0.1:8080/cds-services/neurosteroid-patient-view"
NOW = 1_750_000_000.0
LEEWAY = 5.0


# -- helpers ----------------------------------------------------------------------------------


class FrozenClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _refuse_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected network access: {request.method} {request.url}")


def _run(
    issuers: TrustedIssuers,
    scenario: Callable[[TokenValidator, FrozenClock], Awaitable[None]],
    *,
    now: float = NOW,
    network: bool = False,
    **options: float,
) -> None:
    """Run ``scenario`` with one validator on one event loop and a frozen clock."""

    async def main() -> None:
        if network:
            http = httpx.AsyncClient(timeout=5.0, trust_env=False)
        else:
            http = httpx.AsyncClient(transport=httpx.MockTransport(_refuse_network))
        clock = FrozenClock(now)
        async with http:
            validator = TokenValidator(issuers, http=http, clock=clock, **options)
            await scenario(validator, clock)

    asyncio.run(main())


def _validate(
    issuers: TrustedIssuers,
    authorization: str | None,
    audience_url: str = SERVICE_URL,
    *,
    now: float = NOW,
) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        result.update(await validator.validate(authorization, audience_url))

    _run(issuers, scenario, now=now)
    return result


def _issuers(*entries: dict[str, Any]) -> TrustedIssuers:
    return TrustedIssuers.model_validate({"issuers": list(entries)})


def _sandbox_issuer(**extra: Any) -> TrustedIssuers:
    return _issuers({"iss": SANDBOX_ISS, "jwks": SANDBOX_JWKS, "jku": [SANDBOX_JKU], **extra})


_DROP = object()


def _claims(now: float = NOW, **overrides: object) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": SANDBOX_ISS,
        "aud": SERVICE_URL,
        "exp": round(now) + 300,
        "iat": round(now),
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not _DROP}


def _sign(
    claims: dict[str, Any],
    key: Any = SANDBOX_KEY,
    *,
    alg: str = "ES384",
    kid: str | None = SANDBOX_KID,
    jku: str | None = SANDBOX_JKU,
) -> str:
    headers: dict[str, Any] = {"typ": "JWT"}
    if kid is not None:
        headers["kid"] = kid
    if jku is not None:
        headers["jku"] = jku
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def _sandbox_token(now: float = NOW, **overrides: object) -> str:
    return _sign(_claims(now, **overrides))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_parts(header: dict[str, Any], claims: dict[str, Any]) -> str:
    encode = json.dumps
    return f"{_b64(encode(header).encode())}.{_b64(encode(claims).encode())}"


def _ec_key(kid: str, curve: ec.EllipticCurve, alg: str) -> tuple[Any, dict[str, Any]]:
    private = ec.generate_private_key(curve)
    public_jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, {**public_jwk, "kid": kid, "use": "sig", "alg": alg}


def _rsa_key(kid: str, alg: str) -> tuple[Any, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, {**public_jwk, "kid": kid, "use": "sig", "alg": alg}


class JWKSServer:
    """A real HTTP server on 127.0.0.1 (port 0) serving ``self.jwks``, counting GETs."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.status = 200
        self.hits = 0
        self.delay_s = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                time.sleep(owner.delay_s)
                body = json.dumps(owner.jwks).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}/.well-known/jwks.json"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)


@pytest.fixture
def jwks_server() -> Iterator[JWKSServer]:
    server = JWKSServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dead_url() -> str:
    """The URL of a server that was started and stopped: connections are refused."""
    server = JWKSServer()
    server.stop()
    return server.url


# -- the CDS Hooks 2.0 spec's ES384 example -----------------------------------------------------


def _spec_issuers() -> TrustedIssuers:
    return _issuers(
        {
            "iss": SPEC["payload"]["iss"],
            "jwks": SPEC["jwks_public"],
            "jku": [SPEC["header"]["jku"]],
            "tenant": SPEC["payload"]["tenant"],
        }
    )


def test_spec_example_validates_inside_its_validity() -> None:
    exp = SPEC["payload"]["exp"]

    claims = _validate(
        _spec_issuers(), f"Bearer {SPEC['token']}", SPEC["payload"]["aud"], now=exp - 60
    )

    assert claims == SPEC["payload"]


def test_spec_example_still_valid_at_exp_plus_leeway() -> None:
    exp = SPEC["payload"]["exp"]

    claims = _validate(
        _spec_issuers(), f"Bearer {SPEC['token']}", SPEC["payload"]["aud"], now=exp + LEEWAY
    )

    assert claims["jti"] == SPEC["payload"]["jti"]


def test_spec_example_fails_one_second_after_exp_plus_leeway() -> None:
    exp = SPEC["payload"]["exp"]

    with pytest.raises(AuthError, match="expired"):
        _validate(
            _spec_issuers(),
            f"Bearer {SPEC['token']}",
            SPEC["payload"]["aud"],
            now=exp + LEEWAY + 1,
        )


def test_spec_example_private_jwk_signs_tokens_we_accept() -> None:
    private = jwt.PyJWK(SPEC["jwk_private"]).key
    claims = {**SPEC["payload"], "jti": str(uuid.uuid4())}
    token = _sign(claims, private, kid="example-kid", jku=SPEC["header"]["jku"])

    result = _validate(
        _spec_issuers(), f"Bearer {token}", SPEC["payload"]["aud"], now=claims["exp"] - 1
    )

    assert result == claims


def test_spec_example_with_another_aud_is_refused() -> None:
    with pytest.raises(AuthError, match="aud"):
        _validate(
            _spec_issuers(),
            f"Bearer {SPEC['token']}",
            "https://cds.example.org/cds-services/other-service",
            now=SPEC["payload"]["exp"] - 60,
        )


# -- sandbox-shaped tokens -----------------------------------------------------------------------


def test_sandbox_token_accepted_with_issuers_file() -> None:
    issuers = load_trusted_issuers(DATA / "trusted-issuers.yaml")
    claims = _claims()

    result = _validate(issuers, f"Bearer {_sign(claims)}")

    assert result == claims


def test_sandbox_token_accepted_with_inline_jwks() -> None:
    claims = _claims()

    result = _validate(_sandbox_issuer(), f"Bearer {_sign(claims)}")

    assert result == claims


def test_sandbox_token_for_feedback_url() -> None:
    url = SERVICE_URL + "/feedback"

    result = _validate(_sandbox_issuer(), f"Bearer {_sandbox_token(aud=url)}", url)

    assert result["aud"] == url


def test_bearer_scheme_is_case_insensitive() -> None:
    result = _validate(_sandbox_issuer(), f"bearer   {_sandbox_token()}")

    assert result["iss"] == SANDBOX_ISS


def test_aud_list_containing_the_url_passes() -> None:
    aud = ["https://other.example/cds-services", SERVICE_URL]

    result = _validate(_sandbox_issuer(), f"Bearer {_sandbox_token(aud=aud)}")

    assert result["aud"] == aud


def test_aud_compares_default_port_and_host_case() -> None:
    url = "https://cds.example.org/cds-services/neurosteroid-order-sign"
    aud = "HTTPS://CDS.Example.org:443/cds-services/neurosteroid-order-sign"

    result = _validate(_sandbox_issuer(), f"Bearer {_sandbox_token(aud=aud)}", url)

    assert result["aud"] == aud


def test_iat_slightly_in_the_future_within_leeway_passes() -> None:
    token = _sandbox_token(iat=NOW + LEEWAY)

    assert _validate(_sandbox_issuer(), f"Bearer {token}")["iat"] == NOW + LEEWAY


def test_rs384_token_accepted() -> None:
    private, public_jwk = _rsa_key("rsa-1", "RS384")
    issuers = _issuers({"iss": "https://ehr.example.org", "jwks": {"keys": [public_jwk]}})
    token = _sign(
        _claims(iss="https://ehr.example.org"), private, alg="RS384", kid="rsa-1", jku=None
    )

    assert _validate(issuers, f"Bearer {token}")["iss"] == "https://ehr.example.org"


# -- negative cases ------------------------------------------------------------------------------


def test_missing_header_is_refused() -> None:
    with pytest.raises(AuthError, match="missing Authorization"):
        _validate(_sandbox_issuer(), None)
    with pytest.raises(AuthError, match="missing Authorization"):
        _validate(_sandbox_issuer(), "  ")


def test_not_bearer_is_refused() -> None:
    with pytest.raises(AuthError, match="not Bearer"):
        _validate(_sandbox_issuer(), f"Basic {_sandbox_token()}")
    with pytest.raises(AuthError, match="malformed Bearer"):
        _validate(_sandbox_issuer(), "Bearer")


def test_garbage_token_is_refused() -> None:
    with pytest.raises(AuthError, match="malformed JWT"):
        _validate(_sandbox_issuer(), "Bearer not.a.jwt")


def test_wrong_iss_is_refused() -> None:
    token = _sandbox_token(iss="https://evil.example")

    with pytest.raises(AuthError, match="not a trusted issuer"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_wrong_aud_is_refused() -> None:
    token = _sandbox_token(aud="http://127.0.0.1:8080/cds-services/neurosteroid-order-sign")

    with pytest.raises(AuthError, match="does not name the called URL"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_aud_list_without_the_url_is_refused() -> None:
    token = _sandbox_token(aud=["http://127.0.0.1:8080/cds-services"])

    with pytest.raises(AuthError, match="does not name the called URL"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_aud_with_another_port_is_refused() -> None:
    token = _sandbox_token(aud=SERVICE_URL.replace(":8080", ":8081"))

    with pytest.raises(AuthError, match="does not name the called URL"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


# Found by the security review: an aud with a query or user info matched the service URL.
@pytest.mark.parametrize(
    "aud",
    [
        SERVICE_URL + "?x=1",
        SERVICE_URL + "#frag",
        SERVICE_URL.replace("http://", "http://user@"),
    ],
)
def test_aud_with_a_query_fragment_or_user_info_is_refused(aud: str) -> None:
    with pytest.raises(AuthError, match="does not name the called URL"):
        _validate(_sandbox_issuer(), f"Bearer {_sandbox_token(aud=aud)}")


def test_expired_is_refused() -> None:
    token = _sandbox_token(exp=round(NOW) - LEEWAY - 1)

    with pytest.raises(AuthError, match="expired"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_missing_exp_is_refused() -> None:
    with pytest.raises(AuthError, match="exp"):
        _validate(_sandbox_issuer(), f"Bearer {_sandbox_token(exp=_DROP)}")


def test_iat_in_the_future_beyond_leeway_is_refused() -> None:
    token = _sandbox_token(iat=round(NOW) + LEEWAY + 1)

    with pytest.raises(AuthError, match=r"iat .* is in the future"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_tenant_mismatch_is_refused() -> None:
    issuers = _sandbox_issuer(tenant="example-tenant")
    token = _sandbox_token(tenant="another-tenant")

    with pytest.raises(AuthError, match="tenant"):
        _validate(issuers, f"Bearer {token}")


def test_tenant_missing_when_configured_is_refused() -> None:
    with pytest.raises(AuthError, match="tenant"):
        _validate(_sandbox_issuer(tenant="example-tenant"), f"Bearer {_sandbox_token()}")


def test_tenant_matching_passes() -> None:
    token = _sandbox_token(tenant="example-tenant")

    result = _validate(_sandbox_issuer(tenant="example-tenant"), f"Bearer {token}")

    assert result["tenant"] == "example-tenant"


def test_bad_signature_from_another_key_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    token = _sign(_claims(), other)

    with pytest.raises(AuthError, match="signature not verified"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_tampered_payload_is_refused() -> None:
    header, _, signature = _sandbox_token().split(".")
    forged = _unsigned_parts({"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID}, _claims())
    token = f"{header}.{forged.split('.')[1]}.{signature}"

    with pytest.raises(AuthError, match="signature not verified"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_alg_none_is_refused() -> None:
    token = _unsigned_parts({"alg": "none", "typ": "JWT", "kid": SANDBOX_KID}, _claims()) + "."

    with pytest.raises(AuthError, match="not an accepted asymmetric algorithm"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_hs256_signed_with_the_public_key_bytes_is_refused() -> None:
    public_pem = SANDBOX_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_pem, json.dumps(SANDBOX_JWKS["keys"][0]).encode()):
        signing_input = _unsigned_parts(
            {"alg": "HS256", "typ": "JWT", "kid": SANDBOX_KID}, _claims()
        )
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64(mac)}"

        with pytest.raises(AuthError, match="not an accepted asymmetric algorithm"):
            _validate(_sandbox_issuer(), f"Bearer {token}")


def test_alg_not_matching_the_key_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    token = _sign(_claims(), other, alg="ES256")

    with pytest.raises(AuthError, match="does not match key"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_missing_kid_is_refused() -> None:
    token = _sign(_claims(), kid=None)

    with pytest.raises(AuthError, match="no kid"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_unknown_kid_with_inline_keys_is_refused() -> None:
    token = _sign(_claims(), kid="unknown-kid", jku=None)

    with pytest.raises(AuthError, match="no key 'unknown-kid'"):
        _validate(_sandbox_issuer(), f"Bearer {token}")


def test_missing_jti_is_refused() -> None:
    with pytest.raises(AuthError, match="no jti"):
        _validate(_sandbox_issuer(), f"Bearer {_sandbox_token(jti=_DROP)}")


def test_jti_replay_is_refused() -> None:
    header = f"Bearer {_sandbox_token()}"

    async def scenario(validator: TokenValidator, clock: FrozenClock) -> None:
        await validator.validate(header, SERVICE_URL)
        clock.now += 10
        with pytest.raises(AuthError, match="already used"):
            await validator.validate(header, SERVICE_URL)

    _run(_sandbox_issuer(), scenario)


def test_replay_cache_is_pruned_when_tokens_expire() -> None:
    async def scenario(validator: TokenValidator, clock: FrozenClock) -> None:
        await validator.validate(f"Bearer {_sandbox_token(exp=NOW + 60)}", SERVICE_URL)
        await validator.validate(f"Bearer {_sandbox_token(exp=NOW + 3000)}", SERVICE_URL)
        assert validator.replay_cache_size == 2
        clock.now = NOW + 60 + LEEWAY + 1  # the first token has expired: its jti is dropped
        await validator.validate(f"Bearer {_sandbox_token(clock.now)}", SERVICE_URL)
        assert validator.replay_cache_size == 2
        clock.now = NOW + 3000 + LEEWAY + 1
        await validator.validate(f"Bearer {_sandbox_token(clock.now)}", SERVICE_URL)
        assert validator.replay_cache_size == 1

    _run(_sandbox_issuer(), scenario, max_token_lifetime_s=3600)


# Found by a security review: a token with exp ten years ahead was accepted, and accepted again
# once the replay cache (which keeps a jti at most an hour) had forgotten it.
def test_a_token_valid_for_longer_than_the_replay_cache_is_refused() -> None:
    async def scenario(validator: TokenValidator, clock: FrozenClock) -> None:
        near = _sandbox_token(exp=NOW + 3600)
        await validator.validate(f"Bearer {near}", SERVICE_URL)
        with pytest.raises(AuthError, match="more than 3600s ahead"):
            await validator.validate(f"Bearer {_sandbox_token(exp=NOW + 3600 * 24)}", SERVICE_URL)
        clock.now = NOW + 3600 + LEEWAY  # still inside its validity: still a replay
        with pytest.raises(AuthError, match="already used"):
            await validator.validate(f"Bearer {near}", SERVICE_URL)

    _run(_sandbox_issuer(), scenario, max_token_lifetime_s=3600)


def test_failed_validation_does_not_burn_the_jti() -> None:
    claims = _claims()

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        forged = _sign(claims, ec.generate_private_key(ec.SECP384R1()))
        with pytest.raises(AuthError, match="signature"):
            await validator.validate(f"Bearer {forged}", SERVICE_URL)
        assert validator.replay_cache_size == 0
        await validator.validate(f"Bearer {_sign(claims)}", SERVICE_URL)

    _run(_sandbox_issuer(), scenario)


# -- jku -----------------------------------------------------------------------------------------


def test_jku_not_allow_listed_is_refused_and_never_fetched(jwks_server: JWKSServer) -> None:
    attacker, attacker_jwk = _ec_key("attacker", ec.SECP384R1(), "ES384")
    jwks_server.jwks = {"keys": [attacker_jwk]}
    token = _sign(_claims(), attacker, kid="attacker", jku=jwks_server.url)

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        with pytest.raises(AuthError, match=r"jku .* is not allow-listed"):
            await validator.validate(f"Bearer {token}", SERVICE_URL)

    _run(_sandbox_issuer(), scenario, network=True)
    assert jwks_server.hits == 0


def test_allow_listed_jku_unreachable_but_inline_keys_verify(dead_url: str) -> None:
    issuers = _issuers({"iss": SANDBOX_ISS, "jwks": SANDBOX_JWKS, "jku": [dead_url]})
    claims = _claims()
    token = _sign(claims, jku=dead_url)

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        assert await validator.validate(f"Bearer {token}", SERVICE_URL) == claims

    _run(issuers, scenario, network=True)


def test_allow_listed_jku_supplies_a_key_not_inline(jwks_server: JWKSServer) -> None:
    rotated, rotated_jwk = _ec_key("rotated", ec.SECP384R1(), "ES384")
    jwks_server.jwks = {"keys": [rotated_jwk]}
    issuers = _issuers({"iss": SANDBOX_ISS, "jwks": SANDBOX_JWKS, "jku": [jwks_server.url]})

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        token = _sign(_claims(), rotated, kid="rotated", jku=jwks_server.url)
        assert (await validator.validate(f"Bearer {token}", SERVICE_URL))["iss"] == SANDBOX_ISS
        token = _sign(_claims(), rotated, kid="rotated", jku=jwks_server.url)
        await validator.validate(f"Bearer {token}", SERVICE_URL)

    _run(issuers, scenario, network=True)
    assert jwks_server.hits == 1


def test_allow_listed_jku_unreachable_and_key_not_inline_is_refused(dead_url: str) -> None:
    issuers = _issuers({"iss": SANDBOX_ISS, "jwks": SANDBOX_JWKS, "jku": [dead_url]})
    rotated, _ = _ec_key("rotated", ec.SECP384R1(), "ES384")
    token = _sign(_claims(), rotated, kid="rotated", jku=dead_url)

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        with pytest.raises(AuthError, match="key fetch failed"):
            await validator.validate(f"Bearer {token}", SERVICE_URL)

    _run(issuers, scenario, network=True)


# -- jwks_url ------------------------------------------------------------------------------------

EHR_ISS = "https://ehr.example.org"


def _ehr_token(key: Any, kid: str, now: float = NOW) -> str:
    return _sign(_claims(now, iss=EHR_ISS), key, alg="ES256", kid=kid, jku=None)


def test_jwks_url_fetched_lazily_on_first_use(jwks_server: JWKSServer) -> None:
    key, public_jwk = _ec_key("k1", ec.SECP256R1(), "ES256")
    jwks_server.jwks = {"keys": [public_jwk]}
    issuers = _issuers({"iss": EHR_ISS, "jwks_url": jwks_server.url})

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        assert jwks_server.hits == 0
        await validator.validate(f"Bearer {_ehr_token(key, 'k1')}", SERVICE_URL)
        assert jwks_server.hits == 1
        await validator.validate(f"Bearer {_ehr_token(key, 'k1')}", SERVICE_URL)
        assert jwks_server.hits == 1

    _run(issuers, scenario, network=True)


def test_jwks_url_refetched_on_unknown_kid(jwks_server: JWKSServer) -> None:
    key1, jwk1 = _ec_key("k1", ec.SECP256R1(), "ES256")
    key2, jwk2 = _ec_key("k2", ec.SECP256R1(), "ES256")
    jwks_server.jwks = {"keys": [jwk1]}
    issuers = _issuers({"iss": EHR_ISS, "jwks_url": jwks_server.url})

    async def scenario(validator: TokenValidator, clock: FrozenClock) -> None:
        await validator.validate(f"Bearer {_ehr_token(key1, 'k1')}", SERVICE_URL)
        jwks_server.jwks = {"keys": [jwk1, jwk2]}  # the EHR rotates its keys
        clock.now += 60
        await validator.validate(f"Bearer {_ehr_token(key2, 'k2')}", SERVICE_URL)
        assert jwks_server.hits == 2
        await validator.validate(f"Bearer {_ehr_token(key1, 'k1')}", SERVICE_URL)
        assert jwks_server.hits == 2

    _run(issuers, scenario, network=True, jwks_refresh_min_interval_s=60)


def test_jwks_url_refetch_is_rate_limited(jwks_server: JWKSServer) -> None:
    key1, jwk1 = _ec_key("k1", ec.SECP256R1(), "ES256")
    key2, jwk2 = _ec_key("k2", ec.SECP256R1(), "ES256")
    jwks_server.jwks = {"keys": [jwk1]}
    issuers = _issuers({"iss": EHR_ISS, "jwks_url": jwks_server.url})

    async def scenario(validator: TokenValidator, clock: FrozenClock) -> None:
        await validator.validate(f"Bearer {_ehr_token(key1, 'k1')}", SERVICE_URL)
        assert jwks_server.hits == 1
        jwks_server.jwks = {"keys": [jwk1, jwk2]}
        for kid in ("k2", "unknown-1", "unknown-2"):
            clock.now += 10
            with pytest.raises(AuthError, match="no key"):
                await validator.validate(f"Bearer {_ehr_token(key2, kid)}", SERVICE_URL)
        assert jwks_server.hits == 1
        clock.now += 30  # 60 s after the first fetch
        await validator.validate(f"Bearer {_ehr_token(key2, 'k2')}", SERVICE_URL)
        assert jwks_server.hits == 2

    _run(issuers, scenario, network=True, jwks_refresh_min_interval_s=60)


def test_concurrent_first_use_fetches_once(jwks_server: JWKSServer) -> None:
    key, public_jwk = _ec_key("k1", ec.SECP256R1(), "ES256")
    jwks_server.jwks = {"keys": [public_jwk]}
    issuers = _issuers({"iss": EHR_ISS, "jwks_url": jwks_server.url})

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        headers = [f"Bearer {_ehr_token(key, 'k1')}" for _ in range(5)]
        await asyncio.gather(*(validator.validate(h, SERVICE_URL) for h in headers))

    _run(issuers, scenario, network=True)
    assert jwks_server.hits == 1


def test_jwks_url_server_down_is_refused(dead_url: str) -> None:
    key, _ = _ec_key("k1", ec.SECP256R1(), "ES256")
    issuers = _issuers({"iss": EHR_ISS, "jwks_url": dead_url})

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        with pytest.raises(AuthError, match=r"key fetch failed: GET .*ConnectError"):
            await validator.validate(f"Bearer {_ehr_token(key, 'k1')}", SERVICE_URL)

    _run(issuers, scenario, network=True)


def test_jwks_url_http_error_is_refused_then_recovers(jwks_server: JWKSServer) -> None:
    key, public_jwk = _ec_key("k1", ec.SECP256R1(), "ES256")
    jwks_server.jwks = {"keys": [public_jwk]}
    jwks_server.status = 503
    issuers = _issuers({"iss": EHR_ISS, "jwks_url": jwks_server.url})

    async def scenario(validator: TokenValidator, clock: FrozenClock) -> None:
        with pytest.raises(AuthError, match="HTTP 503"):
            await validator.validate(f"Bearer {_ehr_token(key, 'k1')}", SERVICE_URL)
        jwks_server.status = 200
        with pytest.raises(AuthError, match="HTTP 503"):  # rate-limited: no retry yet
            await validator.validate(f"Bearer {_ehr_token(key, 'k1')}", SERVICE_URL)
        assert jwks_server.hits == 1
        clock.now += 60
        await validator.validate(f"Bearer {_ehr_token(key, 'k1')}", SERVICE_URL)
        assert jwks_server.hits == 2

    _run(issuers, scenario, network=True, jwks_refresh_min_interval_s=60)


# Found by a security review: cached keys never expired (a withdrawn key worked until a
# restart), and a server answering slowly held validation past every timeout.
def _ehr_serving_k1(jwks_server: JWKSServer) -> tuple[Any, TrustedIssuers]:
    """An EHR issuer whose JWK Set (on ``jwks_server``) holds key k1; its private key."""
    key, public_jwk = _ec_key("k1", ec.SECP256R1(), "ES256")
    jwks_server.jwks = {"keys": [public_jwk]}
    return key, _issuers({"iss": EHR_ISS, "jwks_url": jwks_server.url})


def test_a_withdrawn_key_stops_working_once_the_set_is_old(jwks_server: JWKSServer) -> None:
    key, issuers = _ehr_serving_k1(jwks_server)

    async def scenario(validator: TokenValidator, clock: FrozenClock) -> None:
        await validator.validate(f"Bearer {_ehr_token(key, 'k1', clock.now)}", SERVICE_URL)
        jwks_server.jwks = {"keys": []}  # the EHR withdraws the key
        clock.now += 3599
        await validator.validate(f"Bearer {_ehr_token(key, 'k1', clock.now)}", SERVICE_URL)
        assert jwks_server.hits == 1
        clock.now += 1
        with pytest.raises(AuthError, match="no key"):
            await validator.validate(f"Bearer {_ehr_token(key, 'k1', clock.now)}", SERVICE_URL)
        assert jwks_server.hits == 2

    _run(issuers, scenario, network=True, jwks_max_age_s=3600, jwks_refresh_min_interval_s=60)


def test_an_old_set_is_kept_when_its_refresh_fails(jwks_server: JWKSServer) -> None:
    key, issuers = _ehr_serving_k1(jwks_server)

    async def scenario(validator: TokenValidator, clock: FrozenClock) -> None:
        await validator.validate(f"Bearer {_ehr_token(key, 'k1', clock.now)}", SERVICE_URL)
        jwks_server.status = 503
        clock.now += 3600
        await validator.validate(f"Bearer {_ehr_token(key, 'k1', clock.now)}", SERVICE_URL)
        clock.now += 10  # not retried at every call: once per refresh interval
        await validator.validate(f"Bearer {_ehr_token(key, 'k1', clock.now)}", SERVICE_URL)
        assert jwks_server.hits == 2

    _run(issuers, scenario, network=True, jwks_max_age_s=3600, jwks_refresh_min_interval_s=60)


def test_a_slow_jwks_server_is_cut_at_the_deadline(jwks_server: JWKSServer) -> None:
    key, issuers = _ehr_serving_k1(jwks_server)
    jwks_server.delay_s = 3.0

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        started = time.monotonic()
        with pytest.raises(AuthError, match="no answer within"):
            await validator.validate(f"Bearer {_ehr_token(key, 'k1')}", SERVICE_URL)
        assert time.monotonic() - started < 2.5

    _run(issuers, scenario, network=True, jwks_fetch_deadline_s=0.5)


def test_jwks_url_not_a_jwk_set_is_refused(jwks_server: JWKSServer) -> None:
    key, _ = _ec_key("k1", ec.SECP256R1(), "ES256")
    jwks_server.jwks = {"not": "a jwk set"}
    issuers = _issuers({"iss": EHR_ISS, "jwks_url": jwks_server.url})

    async def scenario(validator: TokenValidator, _: FrozenClock) -> None:
        with pytest.raises(AuthError, match="not a JWK Set"):
            await validator.validate(f"Bearer {_ehr_token(key, 'k1')}", SERVICE_URL)

    _run(issuers, scenario, network=True)


def test_token_never_appears_in_error_messages(caplog: pytest.LogCaptureFixture) -> None:
    token = _sandbox_token(iss="https://evil.example")
    other_token = _sign(_claims(), ec.generate_private_key(ec.SECP384R1()))

    for header in (f"Bearer {token}", f"Bearer {other_token}", f"Basic {token}"):
        with pytest.raises(AuthError) as caught:
            _validate(_sandbox_issuer(), header)
        for part in header.split(" ")[1].split("."):
            assert part not in str(caught.value)
    for record in caplog.records:
        assert token not in record.getMessage()
