"""``cds rules coverage``: firing and near-miss scenarios per active rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from packbuilder import make_pack, rule

from cds.coverage import coverage, read_scenarios

FEATURE = """\
Feature: Supplement oversight
  Background:
    Given today is 2026-11-29

  @rule_alpha
  Scenario: Alpha fires
    When her chart is opened
    Then the clinician sees an info card from rule "alpha"

  @rule_alpha
  Scenario: Alpha stays quiet
    When her chart is opened
    Then the clinician sees no cards

  @rule_beta
  Scenario: Beta fires
    Then the clinician sees a warning card from rule "beta"
"""


def test_scenarios_are_classified_by_what_they_assert(tmp_path: Path) -> None:
    (tmp_path / "area").mkdir()
    (tmp_path / "area" / "x.feature").write_text(FEATURE)
    scenarios = read_scenarios(tmp_path)
    assert [(s.name, s.fires, s.silent) for s in scenarios] == [
        ("Alpha fires", {"alpha"}, set()),
        ("Alpha stays quiet", set(), {"alpha"}),
        ("Beta fires", {"beta"}, set()),
    ]
    report = {c.rule_id: c.complete for c in coverage(["alpha", "beta", "gamma"], tmp_path)}
    assert report == {"alpha": True, "beta": False, "gamma": False}


def test_the_command_fails_when_a_rule_lacks_a_near_miss(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path, [rule("alpha", [{"fact": "medication"}]), rule("beta", [{"fact": "medication"}])]
    )
    features = tmp_path / "features"
    features.mkdir()
    (features / "x.feature").write_text(FEATURE)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cds.cli",
            "rules",
            "coverage",
            str(pack),
            "--features",
            str(features),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert "MISSING  beta" in done.stdout
    assert "1/2 active rules fully covered" in done.stdout
