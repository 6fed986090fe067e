"""The workbench pages in a real browser (Debian's Chromium via Playwright) against a real server:
/sandbox runs hooks through the real endpoints and sends real feedback, /analytics counts it.

Screenshots land in each test's tmp_path and in test-results/screenshots/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import Browsing, browsing, require_chromium
from hookrequests import sample
from playwright.sync_api import expect
from service import running_service

from cds.hooks import HookRequest
from cds.rules.pack import RulePack, load_pack

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
RULES = Path(__file__).resolve().parent.parent / "rules"
AUTH_DATA = Path(__file__).parent / "data" / "auth"


def fixed_clock() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(RULES)


@pytest.fixture
def service(tmp_path: Path, pack: RulePack) -> Iterator[str]:
    with running_service(tmp_path, pack=pack, clock=fixed_clock) as url:
        yield url


@pytest.fixture
def browser_page(service: str, tmp_path: Path) -> Iterator[Browsing]:
    with browsing(service, tmp_path, now=NOW) as state:
        yield state
        state.assert_clean()


def run_sample(state: Browsing, name: str, hook: str, draft: str | None = None) -> None:
    page = state.page
    page.goto("/sandbox")
    page.select_option("#sb-sample", name)
    page.select_option("#sb-hook", hook)
    if draft is not None:
        page.select_option("#sb-draft", draft)
    page.click("#sb-run")
    expect(page.locator("#sb-status")).to_contain_text("card(s)")


# --------------------------------------------------------------------------------------------
# The scenario: sandbox → feedback → analytics
# --------------------------------------------------------------------------------------------


def test_chromium_is_installed() -> None:
    require_chromium()


def test_sandbox_feedback_shows_in_analytics(browser_page: Browsing, service: str) -> None:
    state, page = browser_page, browser_page.page
    page.goto("/sandbox")
    expect(page.locator("#auth-warning")).to_be_visible()  # served with CDS_AUTH=off
    expect(page.locator("#sb-sample-desc")).to_contain_text("DHEA + sertraline")
    run_sample(state, "dhea-ssri-woman", "patient-view")

    cards = page.locator("article.cds-card")
    high = page.locator('article[data-rule="dhea-s-high"]')
    expect(high).to_have_count(1)
    expect(high).to_have_class(re.compile(r"indicator-warning"))
    expect(high.locator(".card-detail strong").first).to_contain_text("410")
    expect(high.locator(".card-source a")).to_have_attribute("href", re.compile(r"^https://"))
    expect(page.locator('article[data-rule="dhea-unsupervised"]')).to_have_count(1)
    expect(page.locator('article[data-rule="dhea-psychotropic"]')).to_have_count(1)
    assert cards.count() >= 3
    # Markdown rendered as HTML, not shown as source
    assert "**" not in (high.locator(".card-detail").text_content() or "")
    expect(high.locator(".card-detail li").first).to_be_visible()

    # the "why" of the DHEA-S card: the matched DHEA-S fact with its value
    why = high.locator(".why")
    expect(why).to_be_hidden()
    high.locator(".btn-why").click()
    expect(why).to_be_visible()
    expect(why).to_contain_text("DHEA-S 410")
    expect(why).to_contain_text("Observation/obs-dheas-2026-11")
    expect(page.locator("#sb-global")).to_be_visible()
    expect(page.locator("#sb-nearmiss-count")).to_have_text(re.compile(r"\(\d+\)"))
    page.evaluate("window.scrollTo(0, 0)")
    state.screenshot("sandbox")
    why.locator("details.why-fact", has_text="DHEA-S").locator("summary").click()
    expect(why.locator("table.fact-table").last).to_be_visible()
    high.evaluate("node => node.scrollIntoView()")
    state.screenshot("sandbox-why")

    # accept the DHEA-S card's suggestion, override the psychotropic card with a reason
    high.locator(".btn-suggestion").first.click()
    expect(high.locator(".card-feedback")).to_contain_text("Accepted")
    expect(high.locator(".card-feedback")).to_contain_text("Feedback sent")
    psy = page.locator('article[data-rule="dhea-psychotropic"]')
    psy.locator("select.override-reason").select_option(index=1)
    reason = psy.locator("select.override-reason option").nth(1).text_content() or ""
    psy.locator("input.override-comment").fill("Psychiatrist aware")
    psy.locator(".btn-override").click()
    expect(psy.locator(".card-feedback")).to_contain_text(f"Overridden: {reason}")
    high.evaluate("node => node.scrollIntoView()")
    state.screenshot("sandbox-feedback", full_page=True)

    # analytics: both counted, the overridden rule on top (override rate 100 %)
    page.goto("/analytics")
    rows = page.locator("#an-table tbody tr")
    expect(rows.first).to_have_attribute("data-rule", "dhea-psychotropic")
    high_row = page.locator('#an-table tr[data-rule="dhea-s-high"]')
    expect(high_row.locator(".accepted")).to_have_text("1")
    expect(high_row.locator(".overridden")).to_have_text("0")
    expect(high_row.locator(".cards-issued")).to_have_text("1")
    psy_row = page.locator('#an-table tr[data-rule="dhea-psychotropic"]')
    expect(psy_row.locator(".overridden")).to_have_text("1")
    expect(psy_row.locator(".override-rate")).to_contain_text("100 %")
    expect(psy_row.locator(".reasons")).to_contain_text(reason.strip())
    expect(page.locator("#an-svg g.bar")).to_have_count(rows.count())
    state.screenshot("analytics")

    data = httpx.get(f"{service}/analytics/data").json()
    by_rule = {r["ruleId"]: r for r in data["rules"]}
    assert by_rule["dhea-s-high"]["accepted"] == 1
    assert by_rule["dhea-psychotropic"]["overridden"] == 1
    assert by_rule["dhea-psychotropic"]["overrideRate"] == 1.0
    assert by_rule["dhea-psychotropic"]["overrideReasons"][0]["count"] == 1
    assert data["rules"][0]["ruleId"] == "dhea-psychotropic"

    # a period before the feedback shows nothing
    page.goto("/analytics?from=2026-01-01&to=2026-01-31")
    expect(page.locator("#an-empty")).to_be_visible()


def test_rules_page_responds(browser_page: Browsing) -> None:
    response = browser_page.page.goto("/rules")
    assert response is not None
    assert response.status == 200
    browser_page.screenshot("rules")


# --------------------------------------------------------------------------------------------
# Sandbox details
# --------------------------------------------------------------------------------------------


def test_order_sign_with_the_bundles_draft(browser_page: Browsing) -> None:
    page = browser_page.page
    page.goto("/sandbox")
    page.select_option("#sb-sample", "postpartum-zuranolone-benzo")
    page.select_option("#sb-hook", "order-sign")
    expect(page.locator("#sb-draft-box")).to_be_visible()
    expect(page.locator("#sb-draft")).to_have_value("bundle:MedicationRequest/mr-zuranolone-draft")
    page.click("#sb-run")
    expect(page.locator("#sb-status")).to_contain_text("neurosteroid-order-sign")
    expect(page.locator('article[data-rule="zur-driving"]')).to_have_count(1)
    expect(page.locator('article[data-rule="zur-cns-depressant"]')).to_have_count(1)
    request = json.loads(page.locator("#sb-request").text_content() or "{}")
    assert request["context"]["draftOrders"]["entry"][0]["resource"]["status"] == "draft"
    browser_page.screenshot("sandbox-order-sign")


def test_order_select_with_a_common_draft(browser_page: Browsing) -> None:
    run_sample(browser_page, "prostate-cancer-dhea", "order-select", "common:dhea-25")
    request = json.loads(browser_page.page.locator("#sb-request").text_content() or "{}")
    assert request["context"]["selections"] == ["MedicationRequest/sandbox-draft-dhea-25"]
    expect(browser_page.page.locator('article[data-rule="dhea-hormone-cancer"]')).to_have_count(1)


def test_pasted_bundle_and_pasted_request(browser_page: Browsing, service: str) -> None:
    page = browser_page.page
    page.goto("/sandbox")
    page.check("input[name=source][value=paste]")
    page.fill("#sb-paste", json.dumps(sample("normal-nothing-to-flag")))
    expect(page.locator("#sb-paste-kind")).to_contain_text("FHIR Bundle")
    page.click("#sb-run")
    expect(page.locator("#sb-status")).to_contain_text("0 card(s)")
    expect(page.locator("#sb-empty")).to_contain_text("No cards")

    built = httpx.get(f"{service}/sandbox/samples/dhea-ssri-woman?hook=patient-view").json()
    page.fill("#sb-paste", json.dumps(built))
    expect(page.locator("#sb-paste-kind")).to_contain_text("CDS Hooks request")
    page.click("#sb-run")
    expect(page.locator('article[data-rule="dhea-s-high"]')).to_have_count(1)

    # a lab history the EHR could not send: the "why" says which rule that silenced
    unsent = httpx.get(f"{service}/sandbox/samples/prostate-cancer-dhea?hook=patient-view").json()
    unsent["prefetch"]["labs"] = {"resourceType": "OperationOutcome", "issue": []}
    page.fill("#sb-paste", json.dumps(unsent))
    page.click("#sb-run")
    expect(page.locator("#sb-status")).to_contain_text("card(s)")
    silenced = page.locator("#sb-missing li", has_text="dhea-recheck-due")
    expect(silenced).to_contain_text("labs: unavailable")
    expect(page.locator("#sb-nearmisses li", has_text="dhea-recheck-due")).to_have_count(0)

    page.fill("#sb-paste", "{not json")
    page.click("#sb-run")
    expect(page.locator("#sb-error")).to_contain_text("not valid JSON")


def test_markdown_renderer_is_safe(browser_page: Browsing) -> None:
    page = browser_page.page
    page.goto("/sandbox")
    html = page.evaluate(
        """() => window.sandboxMarkdown(
            "<script>alert(1)</script> **bold** and *it*\\n\\n"
            + "- [ok](https://example.org/a?b=1&c=2)\\n- [bad](javascript:alert(1))\\n"
            + "- <img src=x onerror=alert(1)>")"""
    )
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html
    assert "<em>it</em>" in html
    assert '<a href="https://example.org/a?b=1&amp;c=2"' in html
    assert 'href="javascript' not in html
    assert "<li>bad</li>" in html
    assert html.count("<a ") == 1
    assert html.count("<li>") == 3


# --------------------------------------------------------------------------------------------
# CDS_AUTH=jwt: the sandbox cannot sign tokens
# --------------------------------------------------------------------------------------------


def test_sandbox_explains_a_401_under_jwt(tmp_path: Path, pack: RulePack) -> None:
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(
        (AUTH_DATA / "trusted-issuers.yaml")
        .read_text()
        .split("  - iss: https://ehr.example.org")[0]
    )
    with (
        running_service(
            tmp_path, pack=pack, clock=fixed_clock, auth="jwt", trusted_issuers_file=issuers
        ) as url,
        browsing(url, tmp_path) as state,
    ):
        page = state.page
        page.goto("/sandbox")
        expect(page.locator("#auth-warning")).to_be_hidden()
        expect(page.locator("#auth-jwt")).to_be_visible()
        page.click("#sb-run")
        expect(page.locator("#sb-error")).to_contain_text("401")
        expect(page.locator("#sb-error")).to_contain_text("cannot make")
        state.screenshot("sandbox-jwt-401")
        state.assert_clean()


# --------------------------------------------------------------------------------------------
# The JSON endpoints (no browser)
# --------------------------------------------------------------------------------------------


def test_sample_requests_are_valid_hook_requests(service: str) -> None:
    listing = httpx.get(f"{service}/sandbox/samples").json()["samples"]
    names = {s["name"] for s in listing}
    assert {"dhea-ssri-woman", "postpartum-zuranolone-benzo"} <= names
    assert all(s["description"] for s in listing)
    for hook in ("patient-view", "order-select", "order-sign"):
        body = httpx.get(
            f"{service}/sandbox/samples/postpartum-zuranolone-benzo", params={"hook": hook}
        ).json()
        request = HookRequest.model_validate(body)
        assert request.hook == hook
        assert body["prefetch"]["patient"]["resourceType"] == "Patient"
        drafts = [
            e["resource"]
            for key, value in body["prefetch"].items()
            if key != "patient"
            for e in value.get("entry", [])
            if e["resource"].get("status") == "draft"
        ]
        assert drafts == []  # draft orders travel in the context only
    assert httpx.get(f"{service}/sandbox/samples/nope").status_code == 404
    assert httpx.get(f"{service}/sandbox/samples/..%2Fsecret").status_code == 404
    bad = httpx.get(f"{service}/sandbox/samples/dhea-ssri-woman", params={"hook": "x"})
    assert bad.status_code == 400


def test_pasted_bundle_endpoint(service: str) -> None:
    bundle = sample("dhea-ssri-woman")
    ok = httpx.post(
        f"{service}/sandbox/request",
        json={"bundle": bundle, "hook": "order-sign", "draft": "common:zuranolone-50"},
    )
    assert ok.status_code == 200
    order = ok.json()["context"]["draftOrders"]["entry"][0]["resource"]
    assert order["subject"] == {"reference": "Patient/dhea-ssri-woman"}
    bad: list[dict[str, Any]] = [
        {"bundle": {"resourceType": "Patient"}, "hook": "order-sign"},
        {"bundle": bundle, "hook": "order-sign", "draft": "x:y"},
        {"bundle": bundle, "hook": "no-such-hook"},
    ]
    for body in bad:
        assert httpx.post(f"{service}/sandbox/request", json=body).status_code == 400


def test_analytics_data_periods(service: str) -> None:
    default = httpx.get(f"{service}/analytics/data").json()
    assert default["until"] == "2026-11-30T00:00:00+00:00"
    assert default["since"] == "2026-10-31T00:00:00+00:00"
    assert default["rules"] == []
    day = httpx.get(f"{service}/analytics/data?since=2026-11-01&until=2026-11-01").json()
    assert (day["since"], day["until"]) == (
        "2026-11-01T00:00:00+00:00",
        "2026-11-02T00:00:00+00:00",
    )
    assert httpx.get(f"{service}/analytics/data?since=yesterday").status_code == 400
    assert (
        httpx.get(f"{service}/analytics/data?since=2026-12-01&until=2026-11-01").status_code == 400
    )
    page = httpx.get(f"{service}/analytics?from=2026-12-01&to=2026-11-01")
    assert page.status_code == 400
    assert "must come before" in page.text
