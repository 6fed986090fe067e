"""Validation of the CDS Hooks 2.0 bearer JWT that a CDS Client sends with every call.

The checks run in the order of the CDS Hooks best practices, cheapest and network-free first:

1. ``Authorization: Bearer <jwt>``; the header (``alg`` asymmetric, ``kid`` present) and the
   claims are parsed without verification;
2. ``iss`` is on the allow-list;
3. ``aud`` is the URL being called (a list containing it is fine);
4. ``exp`` / ``iat`` (and ``nbf`` if present) against the clock, with leeway;
5. ``tenant`` matches, when the issuer is configured with one;
6. the signature, with the issuer's key found by ``kid``: inline JWK Set first, then the issuer's
   ``jwks_url`` (fetched lazily, refetched on an unknown ``kid`` at most once per
   ``jwks_refresh_min_interval_s``), then the token's ``jku``. A token whose ``jku`` is not
   allow-listed for its issuer is refused outright (that URL is never fetched); an allow-listed
   ``jku`` is only fetched when the other sources lack the ``kid``, so its being unreachable is
   not fatal when the issuer's keys are inline;
7. ``jti`` is present and has not been seen before (in memory, for the token's lifetime capped at
   ``max_token_lifetime_s``).

Every failure raises :class:`cds.errors.AuthError`. Its message is for the log: it never contains
the token itself.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from cds.auth.issuers import ASYMMETRIC_KEY_TYPES, TrustedIssuer, TrustedIssuers
from cds.errors import AuthError

__all__ = ["ALLOWED_ALGORITHMS", "TokenValidator"]

logger = logging.getLogger(__name__)

#: The only signature algorithms accepted; ``none`` and HMAC (HS*) are refused by the spec.
ALLOWED_ALGORITHMS = frozenset(
    {
        "ES256",
        "ES384",
        "ES512",
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "EdDSA",
    }
)

#: Key type (and curve, for EC and OKP) each algorithm needs.
_KEY_TYPE_FOR_ALG: dict[str, tuple[str, frozenset[str] | None]] = {
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

_MAX_TOKEN_CHARS = 16_384
_MAX_JWKS_BYTES = 1_048_576
_MAX_JTI_CHARS = 256

_DECODE_OPTIONS: jwt.types.Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_jti": False,
    "verify_sub": False,
    "require": [],
}


def _short(value: object) -> str:
    """A bounded repr of an attacker-controlled value, for log messages."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _normalise_url(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, path) with case and default ports normalised; None if unparsable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.query or parts.fragment or parts.username is not None:
        return None  # a service URL has none of these: such an aud names some other URL
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, parts.hostname.lower(), port, parts.path or "/"


@dataclass
class _KeySource:
    """Keys fetched from one URL (an issuer's ``jwks_url`` or an allow-listed ``jku``)."""

    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None
    last_attempt: float | None = None
    last_error: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class TokenValidator:
    """Validates CDS Hooks bearer JWTs against the trusted issuers.

    ``clock`` returns the current Unix time; it drives ``exp``/``iat`` checks, the replay cache and
    the JWKS refetch rate limit. ``http`` is used for ``jwks_url`` and allow-listed ``jku`` fetches
    (its timeouts apply). One instance is meant to live as long as the application, on one event
    loop.
    """

    def __init__(
        self,
        issuers: TrustedIssuers,
        *,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        leeway_s: float = 5.0,
        jwks_refresh_min_interval_s: float = 60.0,
        jwks_max_age_s: float = 3600.0,
        jwks_fetch_deadline_s: float = 5.0,
        max_token_lifetime_s: float = 3600,
    ) -> None:
        self._issuers = issuers
        self._http = http
        self._clock = clock
        self._leeway_s = leeway_s
        self._refresh_interval_s = jwks_refresh_min_interval_s
        self._max_age_s = jwks_max_age_s
        self._fetch_deadline_s = jwks_fetch_deadline_s
        self._max_lifetime_s = max_token_lifetime_s
        self._inline_keys: dict[str, dict[str, dict[str, Any]]] = {
            issuer.iss: issuer.jwks.by_kid() for issuer in issuers.issuers if issuer.jwks
        }
        self._sources: dict[str, _KeySource] = {}
        self._seen_jti: dict[tuple[str, str], float] = {}
        self._jti_expiry_heap: list[tuple[float, tuple[str, str]]] = []

    async def validate(self, authorization: str | None, audience_url: str) -> dict[str, Any]:
        """Validate the ``Authorization`` header of a call to ``audience_url``; return the claims.

        Raises :class:`AuthError` for a missing, malformed, untrusted, expired, replayed or badly
        signed token, and when the issuer's keys cannot be fetched.
        """
        token = self._bearer_token(authorization)
        header, claims = self._parse_unverified(token)
        alg: str = header["alg"]
        kid: str = header["kid"]

        issuer = self._check_issuer(claims)
        self._check_audience(claims, audience_url)
        now = self._clock()
        exp = self._check_times(claims, now)
        self._check_tenant(issuer, claims)
        jwk = await self._find_key(issuer, kid, header.get("jku"))
        verified = self._verify_signature(token, jwk, alg, kid)
        self._check_and_remember_jti(issuer, verified, exp, now)
        return verified

    # -- 1. header and unverified parse ----------------------------------------------------------

    @staticmethod
    def _bearer_token(authorization: str | None) -> str:
        if authorization is None or not authorization.strip():
            raise AuthError("missing Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            # no part of the header in the message: without a scheme, it is the credential
            raise AuthError("Authorization scheme is not Bearer")
        token = token.strip()
        if not token or " " in token:
            raise AuthError("malformed Bearer credentials")
        if len(token) > _MAX_TOKEN_CHARS:
            raise AuthError(f"bearer token longer than {_MAX_TOKEN_CHARS} characters")
        return token

    @staticmethod
    def _parse_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed JWT: {exc}") from None
        if not isinstance(claims, dict):
            raise AuthError("JWT payload is not a JSON object")
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"JWT alg {_short(alg)} is not an accepted asymmetric algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("JWT header has no kid")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthError(f"JWT typ {_short(typ)} is not JWT")
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise AuthError("JWT jku is not a string")
        if "crit" in header:
            raise AuthError("JWT header has crit extensions, none of which are understood")
        return header, claims

    # -- 2-5. claims -------------------------------------------------------------------------------

    def _check_issuer(self, claims: dict[str, Any]) -> TrustedIssuer:
        iss = claims.get("iss")
        if not isinstance(iss, str):
            raise AuthError("JWT has no iss")
        issuer = self._issuers.get(iss)
        if issuer is None:
            raise AuthError(f"JWT iss {_short(iss)} is not a trusted issuer")
        return issuer

    @staticmethod
    def _check_audience(claims: dict[str, Any], audience_url: str) -> None:
        aud = claims.get("aud")
        audiences: list[object]
        if isinstance(aud, str):
            audiences = [aud]
        elif isinstance(aud, list) and aud:
            audiences = list(aud)
        else:
            raise AuthError("JWT has no aud")
        expected = _normalise_url(audience_url)
        if expected is None:
            raise AuthError(f"called URL {_short(audience_url)} cannot be compared with aud")
        for value in audiences:
            if isinstance(value, str) and _normalise_url(value) == expected:
                return
        raise AuthError(f"JWT aud {_short(aud)} does not name the called URL {audience_url}")

    def _check_times(self, claims: dict[str, Any], now: float) -> float:
        exp = claims.get("exp")
        iat = claims.get("iat")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise AuthError("JWT has no numeric exp")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise AuthError("JWT has no numeric iat")
        if now > exp + self._leeway_s:
            raise AuthError(f"JWT expired at {exp} (now {now:.0f}, leeway {self._leeway_s}s)")
        if iat > now + self._leeway_s:
            raise AuthError(f"JWT iat {iat} is in the future (now {now:.0f})")
        # A token still valid after the jti replay cache has forgotten it could be replayed
        # then: its exp may be at most the cache's span ahead. (Not bounded by iat: the spec's
        # own example token was issued years before it expires.)
        if exp > now + self._max_lifetime_s + self._leeway_s:
            raise AuthError(f"JWT exp {exp} is more than {self._max_lifetime_s:.0f}s ahead")
        nbf = claims.get("nbf")
        if nbf is not None:
            if not isinstance(nbf, int | float) or isinstance(nbf, bool):
                raise AuthError("JWT nbf is not numeric")
            if nbf > now + self._leeway_s:
                raise AuthError(f"JWT not valid before {nbf} (now {now:.0f})")
        return float(exp)

    @staticmethod
    def _check_tenant(issuer: TrustedIssuer, claims: dict[str, Any]) -> None:
        if issuer.tenant is None:
            return
        tenant = claims.get("tenant")
        if tenant != issuer.tenant:
            raise AuthError(
                f"JWT tenant {_short(tenant)} does not match {issuer.tenant!r} "
                f"configured for {issuer.iss}"
            )

    # -- 6. signature ------------------------------------------------------------------------------

    async def _find_key(self, issuer: TrustedIssuer, kid: str, jku: str | None) -> dict[str, Any]:
        if jku is not None and jku not in issuer.jku:
            raise AuthError(f"JWT jku {_short(jku)} is not allow-listed for {issuer.iss}")
        inline = self._inline_keys.get(issuer.iss, {})
        if kid in inline:
            return inline[kid]
        failures: list[str] = []
        for url in dict.fromkeys(url for url in (issuer.jwks_url, jku) if url is not None):
            key, error = await self._key_from_url(url, kid)
            if key is not None:
                return key
            if error is not None:
                failures.append(error)
        if failures:
            raise AuthError(
                f"no key {_short(kid)} for {issuer.iss}; key fetch failed: {'; '.join(failures)}"
            )
        raise AuthError(f"no key {_short(kid)} for {issuer.iss}")

    async def _key_from_url(self, url: str, kid: str) -> tuple[dict[str, Any] | None, str | None]:
        """The key ``kid`` from the JWK Set at ``url``: cached, fetched on first use, refetched
        on an unknown kid when the last attempt is older than the refresh interval, and once the
        set is older than its maximum age (a key the issuer withdrew stops working then; if that
        fetch fails, the cached set stays in use).

        Returns (key, None), or (None, the last fetch error or None if the set lacks the kid).
        """
        source = self._sources.get(url)
        if source is None:
            source = self._sources[url] = _KeySource()
        if kid in source.keys and not self._stale(source):
            return source.keys[kid], None
        async with source.lock:
            if kid in source.keys and not self._stale(source):  # fetched while we waited
                return source.keys[kid], None
            now = self._clock()
            # a stale set's last attempt is at least its maximum age ago (> the interval),
            # unless a refresh just failed: then the cached keys serve until the next attempt
            due = (
                source.last_attempt is None or now - source.last_attempt >= self._refresh_interval_s
            )
            if due:
                source.last_attempt = now
                try:
                    source.keys = await self._fetch_jwks(url)
                    source.fetched_at = now
                    source.last_error = None
                except AuthError as exc:
                    source.last_error = str(exc)
                    logger.warning("JWKS fetch failed: %s", exc)
            return source.keys.get(kid), source.last_error

    def _stale(self, source: _KeySource) -> bool:
        return (
            source.fetched_at is not None and self._clock() - source.fetched_at >= self._max_age_s
        )

    async def _fetch_jwks(self, url: str) -> dict[str, dict[str, Any]]:
        try:
            # one deadline for the whole fetch: a server dripping bytes would otherwise hold
            # every validation that waits on this set's lock
            response = await asyncio.wait_for(
                self._http.get(url, headers={"Accept": "application/json"}),
                self._fetch_deadline_s,
            )
        except TimeoutError:
            raise AuthError(f"GET {url}: no answer within {self._fetch_deadline_s:.0f}s") from None
        except httpx.HTTPError as exc:
            raise AuthError(f"GET {url}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise AuthError(f"GET {url}: HTTP {response.status_code}")
        if len(response.content) > _MAX_JWKS_BYTES:
            raise AuthError(f"GET {url}: JWK Set larger than {_MAX_JWKS_BYTES} bytes")
        try:
            body = response.json()
        except ValueError:
            raise AuthError(f"GET {url}: body is not JSON") from None
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list):
            raise AuthError(f"GET {url}: body is not a JWK Set")
        usable: dict[str, dict[str, Any]] = {}
        for key in keys:
            if not isinstance(key, dict):
                continue
            kid = key.get("kid")
            if (
                isinstance(kid, str)
                and key.get("kty") in ASYMMETRIC_KEY_TYPES
                and key.get("use", "sig") == "sig"
            ):
                usable[kid] = key
        logger.info("fetched JWK Set from %s: %d usable key(s)", url, len(usable))
        return usable

    @staticmethod
    def _verify_signature(token: str, jwk: dict[str, Any], alg: str, kid: str) -> dict[str, Any]:
        declared = jwk.get("alg")
        if declared is not None and declared != alg:
            raise AuthError(f"JWT alg {alg} does not match key {_short(kid)} (alg {declared})")
        kty, curves = _KEY_TYPE_FOR_ALG[alg]
        if jwk.get("kty") != kty or (curves is not None and jwk.get("crv") not in curves):
            raise AuthError(f"key {_short(kid)} cannot verify {alg}")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims = jwt.decode(token, key=key, algorithms=[alg], options=_DECODE_OPTIONS)
        except jwt.PyJWTError as exc:
            raise AuthError(f"JWT signature not verified with key {_short(kid)}: {exc}") from None
        if not isinstance(claims, dict):  # pragma: no cover - parsed the same way above
            raise AuthError("JWT payload is not a JSON object")
        return claims

    # -- 7. replay ---------------------------------------------------------------------------------

    def _check_and_remember_jti(
        self, issuer: TrustedIssuer, claims: dict[str, Any], exp: float, now: float
    ) -> None:
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise AuthError("JWT has no jti")
        if len(jti) > _MAX_JTI_CHARS:
            raise AuthError(f"JWT jti longer than {_MAX_JTI_CHARS} characters")
        self._prune_jti(now)
        cache_key = (issuer.iss, jti)
        if cache_key in self._seen_jti:
            raise AuthError(f"JWT jti {_short(jti)} from {issuer.iss} was already used")
        until = exp + self._leeway_s  # as long as the token is valid (bounded in _check_times)
        self._seen_jti[cache_key] = until
        heapq.heappush(self._jti_expiry_heap, (until, cache_key))

    def _prune_jti(self, now: float) -> None:
        heap = self._jti_expiry_heap
        while heap and heap[0][0] < now:  # a token is valid up to exp + leeway included
            until, cache_key = heapq.heappop(heap)
            if self._seen_jti.get(cache_key) == until:
                del self._seen_jti[cache_key]

    @property
    def replay_cache_size(self) -> int:
        """How many jtis are remembered right now (for metrics and tests)."""
        return len(self._seen_jti)
