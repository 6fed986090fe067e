"""The rule catalogue: the static export (``cds rules catalog``) and the live ``/rules`` pages."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from markupsafe import escape
from packbuilder import make_pack, rule
from service import running_service

from cds.catalog import build_catalog, duration_words, markdown_html
from cds.coverage import read_scenarios
from cds.rules.pack import RulePack, load_pack

ROOT = Path(__file__).parent.parent
RULES = ROOT / "rules"
FEATURES = ROOT / "features"
HOSTILE = '<script>alert("pwned")</script>'


@pytest.fixture(scope="module")
def real_pack() -> RulePack:
    return load_pack(RULES, include_drafts=True)


@pytest.fixture(scope="module")
def static_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The real pack's catalogue, written by the CLI; (directory, stderr)."""
    out = tmp_path_factory.mktemp("catalog") / "site"
    done = subprocess.run(
        [sys.executable, "-m", "cds.cli", "rules", "catalog", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out, done.stderr


def _hrefs(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"]*)"', page)


def test_static_catalog_has_a_page_per_rule_and_relative_links(
    static_catalog: tuple[Path, str], real_pack: RulePack
) -> None:
    out, stderr = static_catalog
    assert (out / "index.html").is_file()
    assert (out / "site.css").is_file()
    assert (out / "rules.js").is_file()
    for ir in real_pack.live_rules:
        assert (out / "rules" / f"{ir.id}.html").is_file(), ir.id
    total = len(real_pack.rules)
    assert f"[1/{total}] " in stderr
    assert f"[{total}/{total}] " in stderr
    index = (out / "index.html").read_text("utf-8")
    for ir in real_pack.live_rules:
        assert f'href="rules/{ir.id}.html"' in index
    # opens from disk: no absolute or external asset links, nothing from a CDN
    for page in (index, (out / "rules" / "dhea-s-high.html").read_text("utf-8")):
        for href in _hrefs(page):
            assert not href.startswith("/"), href
        assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="https?://', page)
    rule_page = (out / "rules" / "dhea-s-high.html").read_text("utf-8")
    assert 'href="../site.css"' in rule_page
    assert 'href="../index.html"' in rule_page


def test_rule_page_shows_citations_value_sets_card_and_scenarios(
    static_catalog: tuple[Path, str], real_pack: RulePack
) -> None:
    out, _ = static_catalog
    page = (out / "rules" / "dhea-s-high.html").read_text("utf-8")
    rule_ = real_pack.by_id["dhea-s-high"].rule
    for citation in rule_.citations:
        assert f'href="{html.escape(citation.url)}"' in page
        assert html.escape(citation.section) in page
    # value sets with their codes, verification marked
    assert "dhea-systemic" in page
    assert "2191-5" in page  # the DHEA-S LOINC code of value set dhea-s
    assert "3143" in page  # RxNorm prasterone
    assert "✓ verified" in page
    # evidence in plain words, logic, card
    assert "monograph or expert opinion" in page
    assert "a lab in dhea-s" in page
    assert "within the last 12 months (P12M)" in page
    assert "<li>lowering the dose or stopping DHEA;</li>" in page  # Markdown rendered
    assert '<code class="placeholder">{lab.value}</code>' in page
    assert "Order a morning serum DHEA-S" in page


def test_every_covering_scenario_is_listed(
    static_catalog: tuple[Path, str], real_pack: RulePack
) -> None:
    out, _ = static_catalog
    scenarios = read_scenarios(FEATURES)
    checked = 0
    for ir in real_pack.live_rules:
        page = (out / "rules" / f"{ir.id}.html").read_text("utf-8")
        for s in scenarios:
            if ir.id in s.fires or ir.id in s.silent:
                where = f"{s.path.relative_to(ROOT)}:{s.line}"
                assert where in page, (ir.id, where)
                assert str(escape(s.name)) in page
                checked += 1
    assert checked > 0  # the features folder does cover rules


def test_unverified_codes_are_marked(real_pack: RulePack) -> None:
    entries = build_catalog(real_pack, FEATURES)
    unverified = [
        (e.id, vs.id)
        for e in entries
        for vs in e.valuesets
        for code in vs.codes
        if not code.verified
    ]
    if not unverified:
        pytest.fail("the real pack has no unverified code to check the ✗ mark with")
    rule_id, _ = unverified[0]
    from cds.catalog import STATIC_RULE_LINKS, render_rule

    entry = next(e for e in entries if e.id == rule_id)
    assert "✗ not verified" in render_rule(entry, real_pack, STATIC_RULE_LINKS, static=True)


def _hostile_pack(tmp: Path) -> RulePack:
    doc = rule(
        "hostile-rule",
        [{"fact": "medication", "as": "dhea", "in": "dhea-systemic", "where": {"active": True}}],
        title=f"Hostile {HOSTILE} title",
        description=f"When: {HOSTILE}\nThen: <img src=x onerror=alert(1)>",
        area="test-area",
        citations=[
            {"label": f"Label {HOSTILE}", "url": "https://example.org/x", "section": HOSTILE}
        ],
        card={
            "indicator": "warning",
            "summary": "Hostile <b>summary</b>.",
            "detail": f"**Bold** {HOSTILE} and [click](javascript:alert(1)) "
            "<iframe src='https://evil.example'></iframe>",
        },
    )
    return load_pack(make_pack(tmp, [doc], real_terminology=True))


def _assert_escaped(page: str) -> None:
    assert HOSTILE not in page
    assert "<img src=x" not in page
    assert "<iframe" not in page
    assert "<b>summary</b>" not in page
    assert 'href="javascript:' not in page
    assert "&lt;script&gt;" in page


def test_hostile_rule_text_is_escaped(tmp_path: Path) -> None:
    from cds.catalog import write_static

    pack = _hostile_pack(tmp_path)
    out = tmp_path / "site"
    write_static(pack, out)
    page = (out / "rules" / "hostile-rule.html").read_text("utf-8")
    _assert_escaped(page)
    assert "<strong>Bold</strong>" in page  # Markdown still works
    assert "3143" in page  # value-set codes from the real terminology
    index = (out / "index.html").read_text("utf-8")
    assert HOSTILE not in index
    assert "&lt;script&gt;" in index


def test_markdown_is_rendered_without_raw_html() -> None:
    rendered = markdown_html("- a <script>x</script>\n- [l](javascript:alert(1))\n- {lab.value}")
    assert "<script>" not in rendered
    assert "javascript:" not in rendered.replace("[l](javascript:alert(1))", "")
    assert '<code class="placeholder">{lab.value}</code>' in rendered


def test_duration_words() -> None:
    assert duration_words("P12M") == "12 months"
    assert duration_words("P1Y2W") == "1 year 2 weeks"
    assert duration_words("-P90D") == "90 days before"
    assert duration_words("nonsense") == "nonsense"


def test_live_rules_pages_through_a_real_server(tmp_path: Path) -> None:
    pack = _hostile_pack(tmp_path)
    with running_service(tmp_path, pack=pack) as base:
        index = httpx.get(f"{base}/rules", timeout=10)
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert 'href="/rules/hostile-rule"' in index.text
        assert 'href="/static/site.css"' in index.text
        assert 'src="/static/rules.js"' in index.text
        assert "Authentication is off" in index.text  # the auth-off banner
        for facet in ("area", "indicator", "grade", "status"):
            assert f'id="filter-{facet}"' in index.text
        assert 'data-area="test-area"' in index.text
        assert HOSTILE not in index.text

        detail = httpx.get(f"{base}/rules/hostile-rule", timeout=10)
        assert detail.status_code == 200
        _assert_escaped(detail.text)
        assert "https://example.org/x" in detail.text

        missing = httpx.get(f"{base}/rules/no-such-rule", timeout=10)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "no-such-rule" in missing.text

        for asset in ("site.css", "rules.js"):
            assert httpx.get(f"{base}/static/{asset}", timeout=10).status_code == 200


def test_live_catalog_of_the_real_pack_lists_every_live_rule(
    tmp_path: Path, real_pack: RulePack
) -> None:
    pack = load_pack(RULES)
    with running_service(tmp_path, pack=pack) as base:
        page = httpx.get(f"{base}/rules", timeout=10).text
        for ir in pack.live_rules:
            assert f'href="/rules/{ir.id}"' in page
        detail = httpx.get(f"{base}/rules/dhea-s-high", timeout=10)
        assert detail.status_code == 200
        assert "2191-5" in detail.text
        assert "features/laboratory-monitoring/" in detail.text or not FEATURES.is_dir()
