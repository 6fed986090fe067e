"""Tests of the trusted-issuers file loader (cds.auth.issuers)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from cds.auth import TrustedIssuers, load_trusted_issuers

DATA = Path(__file__).parent / "data" / "auth"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"

_SANDBOX_KEY = json.loads((DATA / "sandbox-jwks.json").read_text())["keys"][0]
_SANDBOX_KEY_YAML = json.dumps(_SANDBOX_KEY)  # JSON is YAML


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "issuers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(path: Path) -> str:
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked below
        load_trusted_issuers(path)
    assert type(caught.value) is ValueError, "pydantic/YAML errors must be wrapped"
    assert not isinstance(caught.value, ValidationError)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


def test_loads_the_example_file() -> None:
    issuers = load_trusted_issuers(DATA / "trusted-issuers.yaml")

    assert isinstance(issuers, TrustedIssuers)
    assert [issuer.iss for issuer in issuers.issuers] == [SANDBOX_ISS, "https://ehr.example.org"]
    sandbox = issuers.get(SANDBOX_ISS)
    assert sandbox is not None
    assert sandbox.jwks is not None
    assert sandbox.jwks.by_kid()[SANDBOX_KID]["crv"] == "P-384"
    assert sandbox.jwks_url is None
    assert sandbox.jku == ["https://sandbox.cds-hooks.org/.well-known/jwks.json"]
    assert sandbox.tenant is None
    ehr = issuers.get("https://ehr.example.org")
    assert ehr is not None
    assert ehr.jwks is None
    assert ehr.jwks_url == "https://ehr.example.org/.well-known/jwks.json"
    assert ehr.jku == []
    assert ehr.tenant == "example-tenant"


def test_issuer_lookup_is_exact() -> None:
    issuers = load_trusted_issuers(DATA / "trusted-issuers.yaml")

    assert issuers.get(SANDBOX_ISS + "/") is None
    assert issuers.get(SANDBOX_ISS.upper()) is None
    assert issuers.get("") is None


def test_spec_example_jwks_loads_inline(tmp_path: Path) -> None:
    vector = json.loads((DATA / "cds-hooks-spec-es384-example.json").read_text())
    path = _write(
        tmp_path,
        f"issuers:\n  - iss: {vector['payload']['iss']}\n"
        f"    jwks: {json.dumps(vector['jwks_public'])}\n",
    )

    issuer = load_trusted_issuers(path).get("https://fhir-ehr.example.com/")

    assert issuer is not None
    assert issuer.jwks is not None
    assert list(issuer.jwks.by_kid()) == ["example-kid"]


def test_both_jwks_and_jwks_url_is_an_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"issuers:\n  - iss: {SANDBOX_ISS}\n    jwks: {{keys: [{_SANDBOX_KEY_YAML}]}}\n"
        "    jwks_url: https://sandbox.cds-hooks.org/.well-known/jwks.json\n",
    )

    message = _load_error(path)

    assert "issuers[0]" in message
    assert "exactly one of 'jwks'" in message


def test_neither_jwks_nor_jwks_url_is_an_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"issuers:\n  - iss: {SANDBOX_ISS}\n    jwks: {{keys: [{_SANDBOX_KEY_YAML}]}}\n"
        "  - iss: https://ehr.example.org\n    tenant: t1\n",
    )

    message = _load_error(path)

    assert "issuers[1]: needs exactly one of 'jwks'" in message
    assert "issuers[0]" not in message
    assert "at least one issuer" not in message


def test_missing_iss_names_the_entry_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "issuers:\n  - jwks_url: https://ehr.example.org/jwks.json\n")

    message = _load_error(path)

    assert "issuers[0].iss" in message


def test_unknown_field_is_an_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "issuers:\n  - iss: https://ehr.example.org\n    jwks_uri: https://x.test/j\n"
    )

    message = _load_error(path)

    assert "issuers[0].jwks_uri" in message


def test_jwks_url_must_be_http(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "issuers:\n  - iss: https://ehr.example.org\n    jwks_url: /etc/jwks.json\n"
    )

    message = _load_error(path)

    assert "issuers[0].jwks_url" in message
    assert "absolute http(s) URL" in message


def test_jku_must_be_a_list_of_urls(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "issuers:\n  - iss: https://ehr.example.org\n    jwks_url: https://ehr.example.org/j\n"
        "    jku: https://ehr.example.org/j\n",
    )

    message = _load_error(path)

    assert "issuers[0].jku: Input should be a valid list" in message


def test_symmetric_key_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "issuers:\n  - iss: https://ehr.example.org\n"
        "    jwks: {keys: [{kty: oct, kid: shared, k: c2VjcmV0}]}\n",
    )

    message = _load_error(path)

    assert "issuers[0].jwks.keys" in message
    assert "'shared'" in message
    assert "'kty'" in message


def test_private_key_material_is_refused(tmp_path: Path) -> None:
    vector = json.loads((DATA / "cds-hooks-spec-es384-example.json").read_text())
    path = _write(
        tmp_path,
        "issuers:\n  - iss: https://fhir-ehr.example.com/\n"
        f"    jwks: {{keys: [{json.dumps(vector['jwk_private'])}]}}\n",
    )

    message = _load_error(path)

    assert "private key material ['d']" in message


def test_key_without_kid_is_refused(tmp_path: Path) -> None:
    key = {k: v for k, v in _SANDBOX_KEY.items() if k != "kid"}
    path = _write(
        tmp_path, f"issuers:\n  - iss: {SANDBOX_ISS}\n    jwks: {{keys: [{json.dumps(key)}]}}\n"
    )

    message = _load_error(path)

    assert "issuers[0].jwks.keys" in message
    assert "'kid' is required" in message


def test_unusable_key_is_refused(tmp_path: Path) -> None:
    key = {**_SANDBOX_KEY, "x": "not-a-coordinate"}
    path = _write(
        tmp_path, f"issuers:\n  - iss: {SANDBOX_ISS}\n    jwks: {{keys: [{json.dumps(key)}]}}\n"
    )

    message = _load_error(path)

    assert re.search(r"keys\[0\] \(kid '44823f3d[^)]*\): not a usable key", message), message


def test_duplicate_iss_is_an_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "issuers:\n  - iss: https://ehr.example.org\n    jwks_url: https://ehr.example.org/a\n"
        "  - iss: https://ehr.example.org\n    jwks_url: https://ehr.example.org/b\n",
    )

    message = _load_error(path)

    assert "issuers[1]: duplicate iss" in message


def test_empty_issuer_list_is_an_error(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, "issuers: []\n"))

    assert "issuers: at least one issuer is required" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, "- iss: https://ehr.example.org\n"))

    assert "'issuers' list" in message


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, ""))

    assert "'issuers' list" in message


def test_invalid_yaml_is_an_error(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, "issuers: [\n  - iss: {\n"))

    assert "not valid YAML" in message


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    message = _load_error(tmp_path / "absent.yaml")

    assert "cannot read" in message
