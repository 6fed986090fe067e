"""Why a card fired, and which rules came close: the explanation behind ``--explain``, the
sandbox's "why" panel and ``POST /explain/{service}``.

Near misses are found by a plain search over the same checked rules: a rule "came close" when
dropping exactly one of its patterns would let it match. The engine is not involved in that
search; it only decides what fired, and what it silenced because data a rule needs could not be
obtained in full (§5.11). Those silenced rules, and the ones that fired with a missing-data note,
are reported as such, from the engine's own decision, never as near misses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cds.context.normalise import FactSet
from cds.engine import Finding, RuleEngine, Withheld, matches_pattern, missing_inputs
from cds.facts import DataStatus, engine_view
from cds.rules.ir import PatternIR, Ref, RuleIR

FactDict = dict[str, Any]


@dataclass(frozen=True)
class NearMiss:
    rule_id: str
    rule_version: str
    title: str
    missing: str  # the one pattern that did not hold, in words
    # set when data the rule needs was not obtained in full: why it could not fire as asked anyway
    data: str = ""


@dataclass(frozen=True)
class MissingDataEffect:
    """A rule silenced (no card) or noted (card with a note) because data it needs was not
    obtained in full, as the engine decided it (§5.11)."""

    rule_id: str
    rule_version: str
    title: str
    action: str  # the rule's missing_data.if_unavailable: "silent" or "note"
    data: dict[str, str]  # category -> status, e.g. {"labs": "unavailable"}
    reason: str  # in words, e.g. "silent: lab history could not be fetched in full (...)"

    def as_json(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule_id,
            "ruleVersion": self.rule_version,
            "title": self.title,
            "action": self.action,
            "data": dict(self.data),
            "reason": self.reason,
        }


_CATEGORY_WORDS = {
    "patient": "the patient record",
    "labs": "lab history",
    "medications": "medication history",
    "conditions": "condition history",
    "observations": "observation history",
}


def missing_data_reason(missing: Mapping[str, DataStatus]) -> str:
    """What was not obtained, e.g. 'lab history could not be fetched in full (labs:
    unavailable)'."""
    what = " and ".join(_CATEGORY_WORDS.get(k, k) for k in missing)
    statuses = ", ".join(f"{k}: {DataStatus(v).value}" for k, v in missing.items())
    return f"{what} could not be fetched in full ({statuses})"


@dataclass(frozen=True)
class Explanation:
    facts: list[FactDict]
    skipped: list[dict[str, str]]
    fired: list[dict[str, Any]]
    near_misses: list[NearMiss]
    data_status: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    missing_data: list[MissingDataEffect] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "facts": self.facts,
            "skipped": self.skipped,
            "fired": self.fired,
            "nearMisses": [n.__dict__ for n in self.near_misses],
            "missingData": [m.as_json() for m in self.missing_data],
            "dataStatus": self.data_status,
        }


def describe(pattern: PatternIR) -> str:
    """A pattern in plain words, e.g. 'no medication in dhea-systemic with source = prescribed'."""
    parts = [f"{pattern.fact_type}" + (f" '{pattern.name}'" if pattern.name else "")]
    if pattern.valuesets:
        parts.append("in " + " or ".join(pattern.valuesets))
    tests = []
    for cond in pattern.conds:
        if cond.op == "exists":
            continue
        value = cond.value
        if isinstance(value, Ref):
            offset = f" {value.offset:+g} d" if value.offset else ""
            shown: Any = f"{value.binding}.{value.field}{offset}"
        else:
            shown = value
        symbol = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in"}[
            cond.op
        ]
        tests.append(f"{cond.field} {symbol} {shown}")
    if tests:
        parts.append("with " + ", ".join(tests))
    return ("no " if pattern.absent else "a ") + " ".join(parts)


def _combinations(
    patterns: Sequence[PatternIR], facts: Sequence[FactDict], bound: dict[str, FactDict]
) -> Iterator[dict[str, FactDict]]:
    if not patterns:
        yield dict(bound)
        return
    head, rest = patterns[0], patterns[1:]
    used = {id(f) for f in bound.values()}
    for fact in facts:
        if id(fact) in used or not matches_pattern(head, fact, bound):
            continue
        bound[head.binding] = fact
        yield from _combinations(rest, facts, bound)
        del bound[head.binding]


def _holds_without(ir: RuleIR, skip: int, facts: Sequence[FactDict]) -> bool:
    """Whether the rule matches when pattern ``skip`` is ignored (joins to it are dropped)."""
    dropped = ir.patterns[skip].binding
    positives = [p for i, p in enumerate(ir.patterns) if i != skip and not p.absent]
    absents = [p for i, p in enumerate(ir.patterns) if i != skip and p.absent]
    if any(_refers_to(p, dropped) for p in positives + absents):
        return False  # without it the rest is not even well defined
    for bound in _combinations(positives, facts, {}):
        if not any(matches_pattern(p, f, bound) for p in absents for f in facts):
            return True
    return False


def _refers_to(pattern: PatternIR, binding: str) -> bool:
    return any(getattr(c.value, "binding", None) == binding for c in pattern.conds)


def near_misses(
    hook_rules: Sequence[RuleIR],
    facts: Sequence[FactDict],
    fired: set[str],
    hook: str,
    data_status: Mapping[str, DataStatus] | None = None,
) -> list[NearMiss]:
    """Rules of ``hook`` (as compiled for it, order-hook variants included) that did not fire
    but would have with one pattern fewer. ``fired`` holds every rule the engine decided on,
    those it silenced for missing data included: they are explained as such, not here."""
    status = data_status or {}
    out: list[NearMiss] = []
    for variant in hook_rules:
        rule = variant.rule
        if variant.id in fired or hook not in rule.hooks or rule.card is None:
            continue
        if len(variant.patterns) < 2 or any(n.rule_id == variant.id for n in out):
            continue
        missing = next(
            (
                describe(pattern)
                for index, pattern in enumerate(variant.patterns)
                if _holds_without(variant, index, facts)
            ),
            None,
        )
        if missing is not None:
            unobtained = missing_inputs(variant, status)
            action = variant.rule.missing_data.if_unavailable
            data = (
                f"{missing_data_reason(unobtained)}; the rule declares "
                f"missing_data.if_unavailable: {action}"
                if unobtained
                else ""
            )
            out.append(NearMiss(variant.id, rule.version, rule.title, missing, data))
    return out


def explain(engine: RuleEngine, fact_set: FactSet, *, hook: str, now: datetime) -> Explanation:
    outcome = engine.outcome(fact_set.facts, hook=hook, now=now, data_status=fact_set.data_status)
    findings = outcome.findings
    views = [engine_view(f) for f in fact_set.facts]
    rules = {ir.id: ir for ir in engine.pack.hook_rules[hook]}
    effects: dict[str, MissingDataEffect] = {}
    decided: list[Withheld | Finding] = [*outcome.withheld, *(f for f in findings if f.missing)]
    for item in decided:
        ir = rules[item.rule_id]
        if item.rule_id not in effects:  # one entry per rule, however many matches
            action = "silent" if isinstance(item, Withheld) else "note"
            effects[item.rule_id] = MissingDataEffect(
                item.rule_id,
                item.rule_version,
                ir.rule.title,
                action,
                {k: DataStatus(v).value for k, v in item.missing.items()},
                f"{action}: {missing_data_reason(item.missing)}",
            )
    decided_ids = {f.rule_id for f in findings} | set(effects)
    return Explanation(
        facts=views,
        skipped=[{"ref": s.ref, "reason": s.reason} for s in fact_set.skipped],
        fired=[_fired(f) for f in findings],
        near_misses=near_misses(
            engine.pack.hook_rules[hook], views, decided_ids, hook, fact_set.data_status
        ),
        data_status={k: v.value for k, v in fact_set.data_status.items()},
        findings=findings,
        missing_data=list(effects.values()),
    )


def _fired(finding: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleVersion": finding.rule_version,
        "matched": {b: dict(f) for b, f in finding.bindings.items()},
    }
    if finding.notes:
        out["notes"] = list(finding.notes)
    return out


def matched_by_rule(explanation: Explanation) -> Mapping[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in explanation.fired:
        out.setdefault(item["ruleId"], []).append(item["matched"])
    return out
