"""Fetching prefetch data from a FHIR server (cds.fhir.fetch) against the fake FHIR server."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpcore
import httpx
import pytest
from fhir_server import FhirServer, Route, running_fhir_server, searchset

from cds.fhir.egress import CheckedBackend
from cds.fhir.fetch import (
    FetchedResources,
    FetchFailed,
    FetchOutcome,
    fetch_all,
    make_fhir_client,
)

TOKEN = "s3cr3t-access-token-XYZ"
PATIENT = {"resourceType": "Patient", "id": "123"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_fhir_client() as fhir_client:
        yield fhir_client


def obs(n: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"o{n}"}


def ids(outcome: FetchOutcome) -> list[str]:
    assert isinstance(outcome, FetchedResources), outcome
    return [r["id"] for r in outcome.resources]


def failed(outcome: FetchOutcome) -> FetchFailed:
    assert isinstance(outcome, FetchFailed), outcome
    return outcome


async def fetch(
    client: httpx.AsyncClient,
    routes: Mapping[str, Route],
    queries: Mapping[str, str],
    **kwargs: Any,
) -> tuple[dict[str, FetchOutcome], FhirServer]:
    kwargs.setdefault("access_token", TOKEN)
    with running_fhir_server(routes) as fake:
        result = await fetch_all(client, fake.base_url, queries, **kwargs)
    return result, fake


pytestmark = pytest.mark.anyio


# --- normal answers --------------------------------------------------------------------------


async def test_read_and_search(client: httpx.AsyncClient) -> None:
    routes = {
        "Patient/123": Route.json(PATIENT),
        "Observation?patient=123&code=http://loinc.org|2191-5": Route.bundle([obs(1), obs(2)]),
    }
    queries = {
        "patient": "Patient/123",
        "dhea": "Observation?patient=123&code=http://loinc.org|2191-5",
    }
    result, _ = await fetch(client, routes, queries)
    assert list(result) == ["patient", "dhea"]
    assert result["patient"] == FetchedResources("patient", [PATIENT], complete=True)
    assert ids(result["dhea"]) == ["o1", "o2"]
    assert isinstance(result["dhea"], FetchedResources)
    assert result["dhea"].complete


async def test_token_and_accept_header_are_sent(client: httpx.AsyncClient) -> None:
    _, fake = await fetch(client, {"Patient/123": Route.json(PATIENT)}, {"p": "Patient/123"})
    (request,) = fake.requests
    assert request.authorization == f"Bearer {TOKEN}"
    assert request.accept == "application/fhir+json"
    assert request.path == "Patient/123"


@pytest.mark.parametrize("token", [None, ""])
async def test_no_authorization_header_without_token(
    client: httpx.AsyncClient, token: str | None
) -> None:
    _, fake = await fetch(
        client, {"Patient/123": Route.json(PATIENT)}, {"p": "Patient/123"}, access_token=token
    )
    assert fake.requests[0].authorization is None


async def test_base_url_with_trailing_slash(client: httpx.AsyncClient) -> None:
    with running_fhir_server({"Patient/123": Route.json(PATIENT)}) as fake:
        result = await fetch_all(
            client, fake.base_url + "/", {"p": "Patient/123"}, access_token=None
        )
    assert ids(result["p"]) == ["123"]


async def test_empty_queries(client: httpx.AsyncClient) -> None:
    with running_fhir_server({}) as fake:
        assert await fetch_all(client, fake.base_url, {}, access_token=TOKEN) == {}


async def test_outcome_entries_are_dropped_and_includes_kept(client: httpx.AsyncClient) -> None:
    bundle = searchset([obs(1)])
    bundle["entry"].append(
        {"resource": {"resourceType": "Patient", "id": "123"}, "search": {"mode": "include"}}
    )
    bundle["entry"].append(
        {
            "resource": {"resourceType": "OperationOutcome", "issue": []},
            "search": {"mode": "outcome"},
        }
    )
    bundle["entry"].append({"fullUrl": "urn:uuid:no-resource"})
    result, _ = await fetch(client, {"Observation": Route.json(bundle)}, {"o": "Observation"})
    assert ids(result["o"]) == ["o1", "123"]


def _page_with_outcome(resources: list[dict[str, Any]], severity: str) -> dict[str, Any]:
    page = searchset(resources)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": "x"}]}
    page["entry"] = [*page.get("entry", []), {"resource": outcome, "search": {"mode": "outcome"}}]
    return page


async def test_a_search_reporting_an_error_keeps_its_results_as_incomplete(
    client: httpx.AsyncClient,
) -> None:
    page = _page_with_outcome([obs(1)], "error")
    page["link"] = [{"relation": "next", "url": "Observation?page=2"}]
    result, fake = await fetch(client, {"Observation": Route.json(page)}, {"k": "Observation"})
    outcome = result["k"]
    assert isinstance(outcome, FetchedResources)
    assert ids(outcome) == ["o1"]
    assert outcome.complete is False
    assert len(fake.requests) == 1  # the next page is not asked for


async def test_a_search_reporting_only_an_error_fails(client: httpx.AsyncClient) -> None:
    page = _page_with_outcome([], "fatal")
    result, _ = await fetch(client, {"Observation": Route.json(page)}, {"k": "Observation"})
    assert "reported an error" in failed(result["k"]).reason


async def test_empty_search_bundle(client: httpx.AsyncClient) -> None:
    routes = {"Observation": Route.json({"resourceType": "Bundle", "type": "searchset"})}
    result, _ = await fetch(client, routes, {"o": "Observation"})
    assert result["o"] == FetchedResources("o", [], complete=True)


# --- 404 -------------------------------------------------------------------------------------


async def test_read_with_parameters_is_still_a_read(client: httpx.AsyncClient) -> None:
    routes = {"Patient/123": Route.json(PATIENT)}
    result, fake = await fetch(client, routes, {"p": "Patient/123?_elements=id"})
    assert ids(result["p"]) == ["123"]
    assert fake.requests[0].query == {"_elements": "id"}


async def test_read_of_a_missing_resource_is_no_data(client: httpx.AsyncClient) -> None:
    result, _ = await fetch(client, {}, {"p": "Patient/999", "v": "Patient/999/_history/2"})
    assert result["p"] == FetchedResources("p", [], complete=True)
    assert result["v"] == FetchedResources("v", [], complete=True)


async def test_read_of_a_gone_resource_is_no_data(client: httpx.AsyncClient) -> None:
    result, _ = await fetch(client, {"Patient/9": Route.status(410)}, {"p": "Patient/9"})
    assert result["p"] == FetchedResources("p", [], complete=True)


async def test_search_404_is_a_failure(client: httpx.AsyncClient) -> None:
    result, _ = await fetch(client, {}, {"o": "Observation?patient=123"})
    assert failed(result["o"]) == FetchFailed("o", "FHIR server answered 404", 404)


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 500, 503])
async def test_error_status_is_a_failure(client: httpx.AsyncClient, status: int) -> None:
    routes = {"Patient/123": Route.status(status), "Observation": Route.status(status)}
    result, _ = await fetch(client, routes, {"p": "Patient/123", "o": "Observation"})
    for key in ("p", "o"):
        outcome = failed(result[key])
        assert outcome.status == status
        assert outcome.reason == f"FHIR server answered {status}"


async def test_redirect_is_not_followed(client: httpx.AsyncClient) -> None:
    result, fake = await fetch(client, {"Patient/123": Route.json(None, 302)}, {"p": "Patient/123"})
    outcome = failed(result["p"])
    assert outcome.status == 302
    assert "redirect" in outcome.reason
    assert len(fake.requests) == 1


@pytest.mark.parametrize("query", ["Patient/123", "Observation?patient=123"])
async def test_operation_outcome_with_200_is_a_failure(
    client: httpx.AsyncClient, query: str
) -> None:
    result, _ = await fetch(client, {query: Route.outcome()}, {"k": query})
    outcome = failed(result["k"])
    assert "OperationOutcome" in outcome.reason
    assert "error: not-supported" in outcome.reason
    assert "fake server says no" not in outcome.reason  # diagnostics are not copied


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b"", b"\xff\xfe\x00", b'{"a": '])
async def test_garbage_is_a_failure(client: httpx.AsyncClient, raw: bytes) -> None:
    result, _ = await fetch(client, {"Observation": Route.garbage(raw)}, {"o": "Observation"})
    assert failed(result["o"]).reason == "response is not JSON"


@pytest.mark.parametrize("body", [[1, 2], "Patient", {"id": "1"}, {"resourceType": 7}, None, 42])
async def test_json_that_is_not_a_resource_is_a_failure(
    client: httpx.AsyncClient, body: object
) -> None:
    result, _ = await fetch(client, {"Patient/1": Route.json(body)}, {"p": "Patient/1"})
    assert failed(result["p"]).reason == "response is JSON but not a FHIR resource"


async def test_search_must_answer_a_bundle(client: httpx.AsyncClient) -> None:
    result, _ = await fetch(client, {"Observation": Route.json(obs(1))}, {"o": "Observation"})
    assert "not a Bundle" in failed(result["o"]).reason


async def test_read_must_answer_the_type_it_asked_for(client: httpx.AsyncClient) -> None:
    result, _ = await fetch(client, {"Patient/1": Route.json(obs(1))}, {"p": "Patient/1"})
    assert failed(result["p"]).reason == "a read of Patient answered a Observation"


@pytest.mark.parametrize(
    "bundle",
    [
        {"resourceType": "Bundle", "entry": {"resource": {}}},
        {"resourceType": "Bundle", "entry": ["x"]},
        {"resourceType": "Bundle", "entry": [{"resource": {"id": "1"}}]},
        {"resourceType": "Bundle", "link": "next"},
        {"resourceType": "Bundle", "link": [{"relation": "next"}]},
    ],
)
async def test_malformed_bundle_is_a_failure(
    client: httpx.AsyncClient, bundle: dict[str, Any]
) -> None:
    result, _ = await fetch(client, {"Observation": Route.json(bundle)}, {"o": "Observation"})
    assert "Bundle" in failed(result["o"]).reason


async def test_connection_reset_is_a_failure(client: httpx.AsyncClient) -> None:
    routes = {"Patient/123": Route.reset(), "Observation": Route.bundle([obs(1)])}
    result, _ = await fetch(client, routes, {"p": "Patient/123", "o": "Observation"})
    assert failed(result["p"]).reason.startswith("connection to the FHIR server failed")
    assert ids(result["o"]) == ["o1"]


async def test_connection_refused_is_a_failure(client: httpx.AsyncClient) -> None:
    with running_fhir_server({}) as fake:
        base_url = fake.base_url
    result = await fetch_all(client, base_url, {"p": "Patient/123"}, access_token=TOKEN)
    assert failed(result["p"]).reason == "connection to the FHIR server failed (ConnectError)"


async def test_one_failure_does_not_spoil_the_others(client: httpx.AsyncClient) -> None:
    routes = {
        "Patient/123": Route.json(PATIENT),
        "Condition": Route.status(500),
        "Observation": Route.garbage(),
    }
    queries = {"p": "Patient/123", "c": "Condition", "o": "Observation"}
    result, _ = await fetch(client, routes, queries)
    assert ids(result["p"]) == ["123"]
    assert failed(result["c"]).status == 500
    assert failed(result["o"]).status is None


# --- deadline and concurrency ----------------------------------------------------------------


async def test_deadline_turns_unfinished_keys_into_failures(client: httpx.AsyncClient) -> None:
    routes = {"Observation": Route.slow(30.0), "Patient/123": Route.json(PATIENT)}
    with running_fhir_server(routes) as fake:
        started = time.monotonic()
        result = await fetch_all(
            client,
            fake.base_url,
            {"o": "Observation", "p": "Patient/123"},
            access_token=TOKEN,
            deadline_s=0.5,
        )
        elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 0.8
    assert failed(result["o"]) == FetchFailed("o", "deadline of 0.5 s passed")
    assert ids(result["p"]) == ["123"]  # finished keys keep their result


async def test_deadline_covers_the_whole_call_not_each_page(client: httpx.AsyncClient) -> None:
    # Four pages of 0.15 s each: every page is well within 0.4 s, the whole search is not.
    routes = {"Observation": Route.slow(0.15, searchset([obs(1)], "Observation?x=1"))}
    routes["Observation?x=1"] = Route.slow(0.15, searchset([obs(2)], "Observation?x=2"))
    routes["Observation?x=2"] = Route.slow(0.15, searchset([obs(3)], "Observation?x=3"))
    routes["Observation?x=3"] = Route.slow(0.15, searchset([obs(4)]))
    with running_fhir_server(routes) as fake:
        started = time.monotonic()
        result = await fetch_all(
            client, fake.base_url, {"o": "Observation"}, access_token=TOKEN, deadline_s=0.4
        )
        elapsed = time.monotonic() - started
    assert elapsed < 0.7
    assert failed(result["o"]).reason == "deadline of 0.4 s passed"


async def test_keys_are_fetched_concurrently(client: httpx.AsyncClient) -> None:
    routes = {
        "Patient/123": Route.slow(0.3, PATIENT),
        "Observation": Route.slow(0.3, searchset([obs(1)])),
        "Condition": Route.slow(0.3, searchset([])),
    }
    queries = {"p": "Patient/123", "o": "Observation", "c": "Condition"}
    with running_fhir_server(routes) as fake:
        started = time.monotonic()
        result = await fetch_all(client, fake.base_url, queries, access_token=TOKEN)
        elapsed = time.monotonic() - started
    assert all(isinstance(outcome, FetchedResources) for outcome in result.values()), result
    assert elapsed < 0.6


# --- paging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("relative_links", [False, True])
async def test_paging_merges_entries_in_order(
    client: httpx.AsyncClient, relative_links: bool
) -> None:
    pages = [[obs(1), obs(2)], [obs(3)], [obs(4), obs(5)]]
    routes = {"Observation?patient=123": Route.paged(pages, relative_links=relative_links)}
    result, fake = await fetch(client, routes, {"o": "Observation?patient=123"})
    assert ids(result["o"]) == ["o1", "o2", "o3", "o4", "o5"]
    assert isinstance(result["o"], FetchedResources)
    assert result["o"].complete
    assert [r.query.get("_page") for r in fake.requests] == [None, "2", "3"]
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake.requests)


async def test_page_cap_leaves_the_result_incomplete(client: httpx.AsyncClient) -> None:
    pages = [[obs(1)], [obs(2)], [obs(3)], [obs(4)]]
    result, fake = await fetch(
        client, {"Observation": Route.paged(pages)}, {"o": "Observation"}, page_cap=2
    )
    assert ids(result["o"]) == ["o1", "o2"]
    assert isinstance(result["o"], FetchedResources)
    assert not result["o"].complete
    assert len(fake.requests) == 2


async def test_page_cap_exactly_reached_is_complete(client: httpx.AsyncClient) -> None:
    pages = [[obs(1)], [obs(2)]]
    result, _ = await fetch(
        client, {"Observation": Route.paged(pages)}, {"o": "Observation"}, page_cap=2
    )
    assert isinstance(result["o"], FetchedResources)
    assert result["o"].complete


async def test_endless_paging_stops_at_the_cap(client: httpx.AsyncClient) -> None:
    result, fake = await fetch(client, {"Observation": Route.endless()}, {"o": "Observation"})
    assert ids(result["o"]) == [f"p{n}" for n in range(1, 11)]
    assert isinstance(result["o"], FetchedResources)
    assert not result["o"].complete
    assert len(fake.requests) == 10


@pytest.mark.parametrize(
    "next_url",
    [
        "http://evil.example/fhir/Observation?_page=2",
        "https://127.0.0.1/fhir/Observation?_page=2",
        "//evil.example/fhir/Observation?_page=2",
    ],
)
async def test_next_link_to_another_host_is_refused(
    client: httpx.AsyncClient, next_url: str
) -> None:
    routes = {"Observation": Route.bundle([obs(1)], next_url=next_url)}
    result, fake = await fetch(client, routes, {"o": "Observation"})
    assert "another host" in failed(result["o"]).reason
    assert len(fake.requests) == 1


async def test_next_link_to_another_port_is_refused(client: httpx.AsyncClient) -> None:
    with running_fhir_server({"Observation": Route.bundle([obs(2)])}) as other:
        routes = {"Observation": Route.bundle([obs(1)], next_url=f"{other.base_url}/Observation")}
        result, _ = await fetch(client, routes, {"o": "Observation"})
        assert other.requests == []
    assert "another host" in failed(result["o"]).reason


async def test_next_link_loop_is_refused(client: httpx.AsyncClient) -> None:
    routes = {"Observation": Route.bundle([obs(1)], next_url="Observation")}
    result, fake = await fetch(client, routes, {"o": "Observation"})
    assert "loops" in failed(result["o"]).reason
    assert len(fake.requests) == 1


async def test_failure_on_a_later_page_fails_the_key(client: httpx.AsyncClient) -> None:
    routes = {
        "Observation": Route.bundle([obs(1)], next_url="Observation?_page=2&x=1"),
        "Observation?x=1": Route.status(500),
    }
    result, _ = await fetch(client, routes, {"o": "Observation"})
    assert failed(result["o"]).status == 500


# --- secrets stay out of logs and reasons ----------------------------------------------------


async def test_token_and_urls_stay_out_of_logs_and_reasons(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    routes = {
        "Patient/123": Route.json(PATIENT),
        "Observation?patient=123": Route.paged([[obs(1)], [obs(2)]]),
        "Condition?patient=123": Route.status(401),
        "MedicationRequest?patient=123": Route.garbage(),
        "AllergyIntolerance?patient=123": Route.reset(),
        "Encounter?patient=123": Route.slow(5.0),
        "Procedure?patient=123": Route.bundle([], next_url="http://evil.example/x"),
    }
    queries = {key.split("?")[0].lower(): key for key in routes}
    result, fake = await fetch(client, routes, queries, deadline_s=0.5)
    assert len(fake.requests) >= len(routes)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake.requests)
    assert sum(isinstance(o, FetchFailed) for o in result.values()) == 5
    for outcome in result.values():
        if isinstance(outcome, FetchFailed):
            assert TOKEN not in outcome.reason
            assert "123" not in outcome.reason
            assert "127.0.0.1" not in outcome.reason
    # httpx's per-request line is there, demoted to DEBUG; our warnings name only the keys.
    assert any(r.name == "httpx" and r.levelno == logging.DEBUG for r in caplog.records)
    assert any(r.name == "cds.fhir.fetch" and r.levelno == logging.WARNING for r in caplog.records)
    for record in caplog.records:
        message = record.getMessage()
        assert TOKEN not in message
        if record.levelno > logging.DEBUG:
            assert "patient=123" not in message, record
            assert "Patient/123" not in message, record
            assert fake.base_url not in message, record


# --- programmer errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "http://evil.example/Patient/1",
        "/Patient/1",
        "//evil.example/Patient/1",
        "Patient/../../admin",
        "./Patient",
        "",
    ],
)
async def test_query_must_be_relative(client: httpx.AsyncClient, query: str) -> None:
    # the key fails, not the call: such a query can come from a next link a client sent
    outcomes = await fetch_all(
        client, "http://127.0.0.1:9/fhir", {"k": query, "ok": "Patient/1"}, access_token=None
    )
    failed = outcomes["k"]
    assert isinstance(failed, FetchFailed)
    assert re.search(r"relative|dot segments|stay under|valid URL", failed.reason)


async def test_a_query_httpx_cannot_make_a_url_of_fails_its_key(
    client: httpx.AsyncClient,
) -> None:
    outcomes = await fetch_all(
        client, "http://127.0.0.1:9/fhir", {"k": "Patient/" + "x" * 70_000}, access_token=None
    )
    assert isinstance(outcomes["k"], FetchFailed)


@pytest.mark.parametrize("fhir_server", ["fhir.example", "ftp://x/fhir", "http://x/fhir?a=1"])
async def test_fhir_server_must_be_an_http_url(client: httpx.AsyncClient, fhir_server: str) -> None:
    with pytest.raises(ValueError, match="fhir_server"):
        await fetch_all(client, fhir_server, {"k": "Patient/1"}, access_token=None)


# Found by the security review: fhirServer could name a cloud metadata endpoint, and the
# request's access token would be sent there.
@pytest.mark.parametrize(
    "fhir_server",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/fhir",
        "http://0.0.0.0:8080/fhir",
        "http://[::ffff:169.254.169.254]/fhir",
        "http://metadata.google.internal/computeMetadata",
        "http://[fd00:ec2::254]/latest/meta-data",
        "http://100.100.100.200/latest/meta-data",
    ],
)
async def test_fhir_server_must_not_be_link_local(
    client: httpx.AsyncClient, fhir_server: str
) -> None:
    with pytest.raises(ValueError, match="link-local"):
        await fetch_all(client, fhir_server, {"k": "Patient/1"}, access_token="t")


# Left by session 4's security review, closed in session 6: a host NAME can point at the
# metadata service too. The client resolves names itself, checks every address and connects
# to the one it checked (the fake resolver stands in for a DNS server the attacker runs).
def _resolver(answers: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return resolve


async def _fetch_by_name(
    host: str, addresses: list[str]
) -> tuple[dict[str, FetchOutcome], FhirServer, str]:
    """Patient/123 from the fake server, named ``host``, which the fake resolver answers with
    ``addresses``: (outcomes, the server, its port)."""
    async with make_fhir_client(resolve=_resolver({host: addresses})) as named_client:
        with running_fhir_server({"Patient/123": Route.json(PATIENT)}) as fake:
            port = fake.base_url.split(":")[2].split("/")[0]
            outcomes = await fetch_all(
                named_client, f"http://{host}:{port}/fhir", {"p": "Patient/123"}, access_token=TOKEN
            )
    return outcomes, fake, port


@pytest.mark.parametrize(
    "addresses",
    [
        ["169.254.169.254"],
        ["fe80::1"],
        ["127.0.0.1", "169.254.169.254"],
        ["::ffff:169.254.169.254"],
        # found by the review of session 6: metadata outside link-local, and 169.254.x written
        # inside IPv6 (NAT64, IPv4-compatible)
        ["fd00:ec2::254"],
        ["100.100.100.200"],
        ["64:ff9b::a9fe:a9fe"],
        ["::a9fe:a9fe"],
    ],
)
async def test_a_name_resolving_to_a_metadata_address_is_refused(addresses: list[str]) -> None:
    outcomes, fake, _ = await _fetch_by_name("fhir.attacker.example", addresses)
    assert "resolves to an address no FHIR server has" in failed(outcomes["p"]).reason
    assert fake.requests == []  # the token went nowhere, not even to the allowed address


async def test_a_name_is_connected_at_the_address_that_was_checked() -> None:
    # the fake server listens on 127.0.0.1 only: the request reaches it only if the client
    # connects to the address the resolver gave, and the Host header keeps the name
    outcomes, fake, port = await _fetch_by_name("fhir.hospital.example", ["127.0.0.1"])
    assert ids(outcomes["p"]) == ["123"]
    assert fake.requests[0].host == f"fhir.hospital.example:{port}"


async def test_a_name_that_does_not_resolve_fails_its_keys() -> None:
    async with make_fhir_client(resolve=_resolver({})) as named_client:
        outcomes = await fetch_all(
            named_client, "http://nowhere.example/fhir", {"p": "Patient/1"}, access_token=None
        )
    assert failed(outcomes["p"]).reason == "the FHIR server's host name does not resolve"


# Found by the review of session 6: a name IDNA refuses ("a..b") raised UnicodeError out of
# the fetch, a 500 for the hook call.
@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".example"])
async def test_a_host_name_that_cannot_be_encoded_fails_its_keys(
    client: httpx.AsyncClient, host: str
) -> None:
    outcomes = await fetch_all(client, f"http://{host}/fhir", {"p": "Patient/1"}, access_token=None)
    assert failed(outcomes["p"]).reason == "the FHIR server's host name does not resolve"


# Found by the review of session 6: giving the client its own transport made httpx ignore
# HTTP(S)_PROXY. The fake server stands in for the proxy: it receives the absolute-form
# request for a name that does not resolve here (the proxy resolves names, not us).
async def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    with running_fhir_server({"Patient/123": Route.json(PATIENT)}) as proxy:
        origin = proxy.base_url.rsplit("/fhir", 1)[0]
        monkeypatch.setenv("HTTP_PROXY", origin)
        async with make_fhir_client() as proxied:
            outcomes = await fetch_all(
                proxied,
                "http://fhir.hospital.invalid/fhir",
                {"p": "Patient/123"},
                access_token=None,
            )
    assert ids(outcomes["p"]) == ["123"]
    assert proxy.requests[0].host == "fhir.hospital.invalid"


# Found by the review of session 6: the addresses of a name were tried one after another,
# each with the 3 s connect timeout, so an IPv6 path that drops packets cost the whole 2 s
# deadline. Attempts now start 250 ms apart (RFC 8305), as httpx's own backend does.
async def test_a_silent_address_does_not_hold_up_the_next() -> None:
    class Inner(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, port: int, *args: Any) -> Any:
            if host == "2001:db8::1":
                await asyncio.sleep(30)  # packets dropped: no answer, no refusal
            return f"stream to {host}"

    async def resolve(host: str, port: int) -> list[str]:
        return ["2001:db8::1", "192.0.2.10"]

    backend = CheckedBackend(Inner(), resolve)
    started = time.monotonic()
    stream: Any = await backend.connect_tcp("fhir.hospital.example", 443, 3.0)
    assert stream == "stream to 192.0.2.10"
    assert time.monotonic() - started < 1.0


async def test_localhost_goes_through_the_system_resolver(client: httpx.AsyncClient) -> None:
    with running_fhir_server({"Patient/123": Route.json(PATIENT)}) as fake:
        named = fake.base_url.replace("127.0.0.1", "localhost")
        outcomes = await fetch_all(client, named, {"p": "Patient/123"}, access_token=None)
    assert ids(outcomes["p"]) == ["123"]


@pytest.mark.parametrize(("deadline_s", "page_cap"), [(0.0, 10), (-1.0, 10), (1.0, 0)])
async def test_bad_limits_are_refused(
    client: httpx.AsyncClient, deadline_s: float, page_cap: int
) -> None:
    with pytest.raises(ValueError, match=r"deadline_s|page_cap"):
        await fetch_all(
            client,
            "http://127.0.0.1:9/fhir",
            {"k": "Patient/1"},
            access_token=None,
            deadline_s=deadline_s,
            page_cap=page_cap,
        )


async def test_httpx_request_line_is_dropped_at_info(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _, fake = await fetch(client, {"Patient/123": Route.json(PATIENT)}, {"p": "Patient/123"})
    assert len(fake.requests) == 1
    assert not [r for r in caplog.records if r.name.startswith("httpx")]


async def test_make_fhir_client_settings() -> None:
    async with make_fhir_client(max_connections=5) as fhir_client:
        assert fhir_client.follow_redirects is False
        assert fhir_client.headers["Accept"] == "application/fhir+json"
    with pytest.raises(ValueError, match="max_connections"):
        make_fhir_client(max_connections=0)
