"""Where the FHIR client may connect: no cloud metadata service, however it is named.

A request's ``fhirServer`` receives the request's access token, so a ``fhirServer`` that
points at a cloud metadata service (``http://169.254.169.254/…``, or a host name that
resolves there) would hand the token, and the service's own reach, to whoever sent it.

- :func:`forbidden_address` names the addresses no FHIR server has: link-local (169.254/16,
  fe80::/10: AWS, Azure, GCP, Oracle and ECS metadata answer there), unspecified (0.0.0.0,
  ::), the metadata addresses outside link-local (AWS's IPv6 ``fd00:ec2::254`` and
  ``fd00:ec2::23``, Alibaba's ``100.100.100.200``), and each of those written inside an IPv6
  address (IPv4-mapped, IPv4-compatible, NAT64 ``64:ff9b::/96``). Private and loopback
  addresses are allowed: hospital FHIR servers live there (README: limit egress too).
- :class:`CheckedBackend` sits under httpx's connection pool: it resolves the host itself,
  refuses the connection when any address is forbidden, and connects to an address it
  checked (the name is not looked up again, so a DNS server that answers differently the
  second time gains nothing). Several addresses are tried as httpx itself would, a new
  attempt every 250 ms while earlier ones are pending ("Happy Eyeballs", RFC 8305): a
  dual-stack server whose IPv6 path drops packets must not cost the whole fetch deadline.
- :func:`checked_client_transports` builds the client's transport with that backend, and the
  proxy transports httpx would build from the environment (``HTTPS_PROXY``, ``NO_PROXY``…):
  a proxy resolves names itself, so through a proxy the check applies to literal addresses
  only, and egress is the proxy's job.

httpx has no public way to hand its pool a network backend or to read the environment's
proxies: this module sets ``transport._pool._network_backend`` and calls
``httpx._utils.get_environment_proxies`` (what httpx calls itself). If a future httpx moves
either, :func:`checked_client_transports` fails at start-up, and ``tests/test_fhir_fetch.py``
checks that a name resolving to 169.254.169.254 is refused and that a proxy is used.
"""

from __future__ import annotations

import asyncio
import asyncio.staggered
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

import httpcore
import httpx
from httpx import _utils as httpx_utils

__all__ = [
    "CheckedBackend",
    "HostAddressError",
    "Resolver",
    "checked_client_transports",
    "forbidden_address",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Metadata services outside the link-local ranges (AWS IPv6 IMDS and EKS Pod Identity, Alibaba).
_METADATA: Final = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "fd00:ec2::23", "100.100.100.200")
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_ATTEMPT_DELAY_S: Final = 0.25


class HostAddressError(httpcore.ConnectError):
    """The FHIR server's host name did not resolve, or resolved to an address no FHIR server
    has. The message is this module's own words, fit for ``FetchFailed.reason``."""


def forbidden_address(text: str) -> bool:
    """Whether an IP address is one no FHIR server has (module docstring). Raises ValueError
    for a text that is not an IP address (a host name)."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and forbidden_address(str(embedded)):
            return True
    return address.is_link_local or address.is_unspecified or address in _METADATA


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    packed = int(address)
    if address in _NAT64 or (packed >> 32 == 0 and packed > 1):  # NAT64, IPv4-compatible
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses a FHIR server may have
    (module docstring)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, resolve: Resolver = _resolve) -> None:
        self._inner = inner
        self._resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = list(dict.fromkeys(await self._resolve(host, port)))
        except (OSError, UnicodeError) as exc:  # gaierror; a name IDNA refuses ("a..b")
            raise HostAddressError("the FHIR server's host name does not resolve") from exc
        if not addresses or any(forbidden_address(a) for a in addresses):
            raise HostAddressError(
                "the FHIR server's host name resolves to an address no FHIR server has "
                "(link-local, unspecified or a cloud metadata service)"
            )
        attempts = [
            functools.partial(
                self._inner.connect_tcp, address, port, timeout, local_address, socket_options
            )
            for address in addresses
        ]
        if len(attempts) == 1:
            return await attempts[0]()
        stream, _, errors = await asyncio.staggered.staggered_race(attempts, _ATTEMPT_DELAY_S)
        if stream is not None:
            return stream  # type: ignore[no-any-return]
        if all(isinstance(e, httpcore.ConnectTimeout) for e in errors):
            raise httpcore.ConnectTimeout("every address of the FHIR server timed out")
        raise httpcore.ConnectError("no address of the FHIR server accepted a connection")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def checked_client_transports(
    limits: httpx.Limits, resolve: Resolver | None = None
) -> tuple[httpx.AsyncHTTPTransport, dict[str, httpx.AsyncBaseTransport | None]]:
    """The client's transport (with :class:`CheckedBackend`; ``resolve``: the system resolver
    unless a test gives one) and its ``mounts``: the proxy transports the environment asks
    for, as httpx builds them when given no transport."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool
    if not isinstance(pool, httpcore.AsyncConnectionPool):
        raise TypeError(f"unexpected httpx connection pool {type(pool).__name__}")
    pool._network_backend = CheckedBackend(pool._network_backend, resolve or _resolve)
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        pattern: None if proxy is None else httpx.AsyncHTTPTransport(limits=limits, proxy=proxy)
        for pattern, proxy in httpx_utils.get_environment_proxies().items()
    }
    return transport, mounts
