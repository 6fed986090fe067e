"""CDS_AUTH=jwt end to end: a sandbox-shaped ES384 token is accepted, anything else gets 401."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from hookrequests import hook_request, sample
from service import running_service

AUTH_DATA = Path(__file__).parent / "data" / "auth"
PV = "/cds-services/neurosteroid-patient-view"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("auth")
    issuers = tmp / "issuers.yaml"
    issuers.write_text(
        (AUTH_DATA / "trusted-issuers.yaml")
        .read_text()
        .split("  - iss: https://ehr.example.org")[0]
    )
    with running_service(tmp, auth="jwt", trusted_issuers_file=issuers) as url:
        yield url


def sandbox_token(aud: str, *, iss: str = SANDBOX_ISS, jti: str | None = None) -> str:
    """Signed the way the cds-hooks sandbox signs (ES384, kid, jku, typ JWT)."""
    now = int(time.time())
    return jwt.encode(
        {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": jti or str(uuid.uuid4())},
        (AUTH_DATA / "sandbox-ecprivkey.pem").read_bytes(),
        algorithm="ES384",
        headers={"kid": KID, "typ": "JWT", "jku": f"{SANDBOX_ISS}/.well-known/jwks.json"},
    )


def test_a_sandbox_token_is_accepted(secured: str) -> None:
    body = hook_request("patient-view", sample("dhea-ssri-woman"))
    headers = {"Authorization": f"Bearer {sandbox_token(secured + PV)}"}
    response = httpx.post(secured + PV, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert "X-CDS-Auth-Warning" not in response.headers


def test_discovery_needs_a_token_too(secured: str) -> None:
    assert httpx.get(secured + "/cds-services").status_code == 401
    token = sandbox_token(secured + "/cds-services")
    ok = httpx.get(secured + "/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic abc",
        "Bearer not-a-jwt",
        "WRONG_AUD",
        "WRONG_ISS",
    ],
)
def test_bad_or_missing_tokens_get_401_with_no_detail(
    secured: str, authorization: str | None
) -> None:
    if authorization == "WRONG_AUD":
        authorization = f"Bearer {sandbox_token(secured + '/cds-services/other')}"
    elif authorization == "WRONG_ISS":
        authorization = f"Bearer {sandbox_token(secured + PV, iss='https://evil.example')}"
    headers = {"Authorization": authorization} if authorization else {}
    body = hook_request("patient-view", sample("dhea-ssri-woman"))
    response = httpx.post(secured + PV, json=body, headers=headers)
    assert response.status_code == 401
    assert response.content == b""


def test_a_replayed_token_is_refused(secured: str) -> None:
    token = sandbox_token(secured + PV, jti="replay-me")
    headers = {"Authorization": f"Bearer {token}"}
    body = hook_request("patient-view", sample("normal-nothing-to-flag"))
    assert httpx.post(secured + PV, json=body, headers=headers).status_code == 200
    assert httpx.post(secured + PV, json=body, headers=headers).status_code == 401


def test_operations_endpoints_need_no_token(secured: str) -> None:
    for path in ("/livez", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert httpx.get(secured + path).status_code == 200, path


def test_an_unknown_service_is_not_revealed_without_a_token(secured: str) -> None:
    body = hook_request("patient-view", sample("dhea-ssri-woman"))
    nope = "/cds-services/nope"
    assert httpx.post(secured + nope, json=body).status_code == 401
    assert httpx.post(secured + nope + "/feedback", json={"feedback": []}).status_code == 401
    headers = {"Authorization": f"Bearer {sandbox_token(secured + nope)}"}
    assert httpx.post(secured + nope, json=body, headers=headers).status_code == 404
