"""Card memory: "not again within 6 months after feedback" and "once per result"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hookrequests import hook_request, sample
from packbuilder import make_pack, rule
from service import running_service

from cds.rules.pack import load_pack

PV = "/cds-services/neurosteroid-patient-view"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Clock]]:
    dhea = {"fact": "medication", "as": "dhea", "in": "dhea-systemic", "where": {"active": True}}
    lab = {"fact": "lab", "as": "lab", "in": "dhea-s", "where": {"latest": True}}
    pack = load_pack(
        make_pack(
            tmp_path,
            [
                rule("quiet-review", [dhea], memory={"quiet_after_feedback": "P6M"}),
                rule("per-result", [dhea, lab], memory={"once_per": ["lab"]}),
            ],
            real_terminology=True,
        )
    )
    clock = Clock()
    with running_service(tmp_path, pack=pack, clock=clock) as url:
        yield url, clock


def _rules(url: str) -> dict[str, str]:
    body = hook_request("patient-view", sample("dhea-ssri-woman"))
    cards = httpx.post(url + PV, json=body).json()["cards"]
    return {c["extension"]["neurosteroid-cds"]["ruleId"]: c["uuid"] for c in cards}


def _feedback(url: str, card: str, outcome: str, at: datetime) -> None:
    body = {
        "feedback": [
            {
                "card": card,
                "outcome": outcome,
                "outcomeTimestamp": at.isoformat().replace("+00:00", "Z"),
            }
        ]
    }
    assert httpx.post(url + PV + "/feedback", json=body).status_code == 200


def test_quiet_for_six_months_after_feedback(served: tuple[str, Clock]) -> None:
    url, clock = served
    first = _rules(url)
    assert "quiet-review" in first
    assert "quiet-review" in _rules(url)  # shown again: no feedback yet
    _feedback(url, first["quiet-review"], "overridden", clock.now)
    assert "quiet-review" not in _rules(url)
    clock.now += timedelta(days=150)
    assert "quiet-review" not in _rules(url)
    clock.now += timedelta(days=40)  # 190 days after the feedback
    assert "quiet-review" in _rules(url)


def test_once_per_result(served: tuple[str, Clock]) -> None:
    url, clock = served
    first = _rules(url)
    _feedback(url, first["per-result"], "accepted", clock.now)
    assert "per-result" not in _rules(url)  # same latest DHEA-S: already acknowledged
    clock.now += timedelta(days=400)
    assert "per-result" not in _rules(url)  # still the same result


def test_cards_without_feedback_are_not_remembered(served: tuple[str, Clock]) -> None:
    url, _ = served
    for _ in range(3):
        assert {"quiet-review", "per-result"} <= set(_rules(url))
