"""Scenario coverage of the rule pack: every active rule needs a scenario where it fires and a
near miss where it must not (``cds rules coverage``).

A scenario fires rule X when one of its steps reads ``the clinician sees … card from rule "X"``;
it is a near miss for X when a step reads ``the clinician sees no card from rule "X"``, or when it
is tagged ``@rule_x`` and a step reads ``the clinician sees no cards``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SEES = re.compile(r'sees an? (?:info|warning|critical) card from rule "([a-z0-9-]+)"')
_NOT = re.compile(r'sees no card from rule "([a-z0-9-]+)"')
_SCENARIO = re.compile(r"^\s*(Scenario(?: Outline)?|Example):\s*(.*)$")


@dataclass
class Scenario:
    path: Path
    line: int
    name: str
    tags: set[str] = field(default_factory=set)
    fires: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)


@dataclass
class RuleCoverage:
    rule_id: str
    firing: list[Scenario] = field(default_factory=list)
    near_miss: list[Scenario] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.firing) and bool(self.near_miss)


def read_scenarios(features: Path) -> list[Scenario]:
    """Scenarios of every ``.feature`` file, with their tags and what they assert."""
    out: list[Scenario] = []
    for path in sorted(features.rglob("*.feature")):
        pending_tags: set[str] = set()
        feature_tags: set[str] = set()
        current: Scenario | None = None
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if line.startswith("@"):
                pending_tags |= {t.lstrip("@") for t in line.split()}
            elif line.startswith("Feature:"):
                feature_tags, pending_tags = pending_tags, set()
            elif match := _SCENARIO.match(raw):
                current = Scenario(path, number, match.group(2), pending_tags | feature_tags)
                out.append(current)
                pending_tags = set()
            elif current is not None:
                current.fires.update(_SEES.findall(line))
                current.silent.update(_NOT.findall(line))
                if "sees no cards" in line:
                    current.silent.update(
                        t[len("rule_") :].replace("_", "-")
                        for t in current.tags
                        if t.startswith("rule_")
                    )
    return out


def coverage(rule_ids: list[str], features: Path) -> list[RuleCoverage]:
    scenarios = read_scenarios(features)
    out = []
    for rule_id in sorted(rule_ids):
        entry = RuleCoverage(rule_id)
        for scenario in scenarios:
            if rule_id in scenario.fires:
                entry.firing.append(scenario)
            if rule_id in scenario.silent:
                entry.near_miss.append(scenario)
        out.append(entry)
    return out
