"""The trusted-issuers file (``CDS_TRUSTED_ISSUERS_FILE``): who may call us, and with which keys.

The file is YAML::

    issuers:
      - iss: https://sandbox.cds-hooks.org
        jwks: {keys: [...]}            # inline JWK Set, or:
        # jwks_url: https://ehr.example.org/.well-known/jwks.json
        jku: [https://sandbox.cds-hooks.org/.well-known/jwks.json]   # optional allow-list
        tenant: example-tenant                                          # optional

Each entry needs exactly one of ``jwks`` / ``jwks_url``. Inline keys are checked when the file is
loaded (public asymmetric keys with a ``kid``), so a typo stops the service at start-up rather than
turning every request into a 401.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["JWKSet", "TrustedIssuer", "TrustedIssuers", "load_trusted_issuers"]

#: Key types usable with an asymmetric signature algorithm (``oct`` = HMAC secrets are refused).
ASYMMETRIC_KEY_TYPES = frozenset({"EC", "RSA", "OKP"})

#: JWK members that only a private key carries (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
    return value


class JWKSet(BaseModel):
    """A JWK Set (RFC 7517 §5) of public signature keys, each with a unique ``kid``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    keys: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("keys")
    @classmethod
    def _check_keys(cls, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[str] = set()
        for index, key in enumerate(keys):
            where = f"keys[{index}]"
            kid = key.get("kid")
            if not isinstance(kid, str) or not kid:
                raise ValueError(f"{where}: 'kid' is required and must be a non-empty string")
            if kid in seen:
                raise ValueError(f"{where}: duplicate kid {kid!r}")
            seen.add(kid)
            kty = key.get("kty")
            if kty not in ASYMMETRIC_KEY_TYPES:
                raise ValueError(
                    f"{where} (kid {kid!r}): 'kty' must be one of "
                    f"{sorted(ASYMMETRIC_KEY_TYPES)}, got {kty!r}"
                )
            private = sorted(_PRIVATE_MEMBERS.intersection(key))
            if private:
                raise ValueError(
                    f"{where} (kid {kid!r}): contains private key material {private}; "
                    "configure only the public key"
                )
            use = key.get("use")
            if use is not None and use != "sig":
                raise ValueError(f"{where} (kid {kid!r}): 'use' must be 'sig', got {use!r}")
            try:
                jwt.PyJWK(key)
            except jwt.PyJWTError as exc:
                raise ValueError(f"{where} (kid {kid!r}): not a usable key: {exc}") from None
        return keys

    def by_kid(self) -> dict[str, dict[str, Any]]:
        """The keys indexed by ``kid``."""
        return {str(key["kid"]): key for key in self.keys}


class TrustedIssuer(BaseModel):
    """One trusted CDS Client (token issuer) and where its public keys come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jwks: JWKSet | None = None
    jwks_url: str | None = None
    jku: list[str] = Field(default_factory=list)
    tenant: str | None = Field(default=None, min_length=1)

    @field_validator("jwks_url")
    @classmethod
    def _check_jwks_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)

    @field_validator("jku")
    @classmethod
    def _check_jku(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_http_url(value)
        return values

    @model_validator(mode="after")
    def _exactly_one_key_source(self) -> TrustedIssuer:
        if (self.jwks is None) == (self.jwks_url is None):
            raise ValueError("needs exactly one of 'jwks' (inline JWK Set) or 'jwks_url'")
        return self


class TrustedIssuers(BaseModel):
    """The allow-list of issuers, looked up by the token's ``iss`` (exact string match)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuers: list[TrustedIssuer]

    @field_validator("issuers")
    @classmethod
    def _non_empty_unique_iss(cls, issuers: list[TrustedIssuer]) -> list[TrustedIssuer]:
        if not issuers:
            raise ValueError("at least one issuer is required")
        seen: set[str] = set()
        for index, issuer in enumerate(issuers):
            if issuer.iss in seen:
                raise ValueError(f"issuers[{index}]: duplicate iss {issuer.iss!r}")
            seen.add(issuer.iss)
        return issuers

    def get(self, iss: str) -> TrustedIssuer | None:
        """The issuer whose ``iss`` equals ``iss`` exactly, or ``None``."""
        for issuer in self.issuers:
            if issuer.iss == iss:
                return issuer
        return None


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def load_trusted_issuers(path: Path) -> TrustedIssuers:
    """Read and validate the trusted-issuers YAML file.

    Raises :class:`ValueError` (never a pydantic or YAML error) whose message names the file and the
    offending entry and field, e.g. ``issuers.yaml: issuers[1]: needs exactly one of ...``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read trusted issuers file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with an 'issuers' list at the top level")
    try:
        return TrustedIssuers.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_location(tuple(error['loc']))}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors(include_url=False)
        )
        raise ValueError(f"{path}: {problems}") from None
