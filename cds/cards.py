"""Findings → CDS Hooks cards.

One card per rule per request (several matches of one rule are one message to the clinician;
the first match by fact id fills the placeholders and every match is kept for the "why").
Optional elements are omitted, never sent as null, "" , [] or {} (CDS Hooks JSON rule).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cds.engine import Finding
from cds.facts import FIELD_KINDS, Kind, cut_at_word, from_day
from cds.ids import new_uuid
from cds.observability import log
from cds.rules.model import GRADE_WORDS, PLACEHOLDER, Card, Indicator, SuggestionAction
from cds.rules.pack import RulePack

EXTENSION_KEY = "neurosteroid-cds"
_INDICATOR_ORDER = {Indicator.CRITICAL: 0, Indicator.WARNING: 1, Indicator.INFO: 2}


@dataclass(frozen=True)
class IssuedCard:
    """A card and what produced it (for the audit and card-memory records)."""

    card: dict[str, Any]
    rule_id: str
    rule_version: str
    finding_key: str
    matches: tuple[Finding, ...]


def render_value(field: str, value: Any) -> str:
    """A fact value as a clinician reads it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        kind = FIELD_KINDS.get(field)
        if field == "age_years":
            return str(int(value))  # completed years, as clinicians state age
        if kind is Kind.DAY:
            return from_day(value).isoformat()
        if kind is Kind.DAYS:
            return f"{value:.0f}"
        return (
            f"{value:.0f}"
            if value == int(value)
            else f"{value:.3g}"
            if value < 10
            else (f"{value:.1f}".rstrip("0").rstrip("."))
        )
    return str(value)


_BOUNDS = frozenset({"<", "<=", ">", ">="})


SUMMARY_LIMIT = 139  # CDS Hooks: a summary is "<140 characters"


def shorten_summary(text: str) -> str:
    """The summary within the spec's limit, cut at a word with "…" when a filled placeholder
    made it longer (the checker keeps templates within the limit with the widest values)."""
    return cut_at_word(text, SUMMARY_LIMIT)


def fill(template: str, bindings: Mapping[str, Mapping[str, Any]]) -> str:
    """``template`` with each ``{binding.field}`` replaced by the bound fact's value. A result
    the laboratory reported as a bound keeps its comparator: "<15", ">1500", never "15"."""

    def replace(match: Any) -> str:
        name, field = match.groups()
        fact = bindings.get(name, {})
        if field not in fact:
            return "unknown"
        text = render_value(field, fact[field])
        if field == "value" and fact.get("comparator") in _BOUNDS:
            text = f"{fact['comparator']}{text}"
        return text

    return PLACEHOLDER.sub(replace, template)


def evidence_words(pack: RulePack, rule_id: str) -> str:
    rule = pack.by_id[rule_id].rule
    grades = ", ".join(GRADE_WORDS[g] for g in rule.evidence.grades)
    quality = rule.evidence.quality.value.replace("-", " ")
    strength = rule.evidence.strength.value
    text = f"**Evidence:** {quality} quality ({grades}); {strength} recommendation."
    if rule.evidence.quality.value in ("low", "very-low"):
        text += " This is weak evidence: use clinical judgement."
    if "E" in rule.evidence.grades:
        text += " This is the project's own expert-opinion proposal, not a published guideline."
    if rule.evidence.note:
        text += " " + rule.evidence.note
    return text


def build_cards(
    findings: Sequence[Finding],
    pack: RulePack,
    *,
    draft_orders: Mapping[str, Mapping[str, Any]] | None = None,
    patient_ref: str | None = None,
) -> list[IssuedCard]:
    """Cards for the findings of rules that have a card, most urgent first."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        if pack.by_id[finding.rule_id].rule.card is not None:
            by_rule.setdefault(finding.rule_id, []).append(finding)
    issued = []
    for rule_id, matches in by_rule.items():
        matches.sort(key=lambda f: f.key)
        issued.append(_card(pack, rule_id, tuple(matches), draft_orders or {}, patient_ref))
    issued.sort(
        key=lambda c: (
            _INDICATOR_ORDER[Indicator(c.card["indicator"])],
            -pack.by_id[c.rule_id].rule.priority,
            c.rule_id,
        )
    )
    return issued


@dataclass(frozen=True)
class _FixedParts:
    """What a rule's card holds whatever the patient: built once per pack, shared (read-only)
    by every card of the rule. Rendering these per request cost as much as the engine."""

    evidence: str
    source: dict[str, Any]
    links: list[dict[str, str]]
    override_reasons: list[dict[str, str]]
    extension: dict[str, Any]


def _fixed_parts(pack: RulePack, rule_id: str) -> _FixedParts:
    key = ("card", rule_id)
    parts: _FixedParts | None = pack.memo.get(key)
    if parts is not None:
        return parts
    ir = pack.by_id[rule_id]
    template = ir.rule.card
    assert template is not None
    source = template.source
    citation = ir.rule.citations[0] if ir.rule.citations else None
    links = [{"label": link.label, "url": link.url, "type": "absolute"} for link in template.links]
    links += [
        {"label": cut_at_word(f"{c.label} — {c.section}", 100), "url": c.url, "type": "absolute"}
        for c in ir.rule.citations
    ]
    parts = _FixedParts(
        evidence="\n\n" + evidence_words(pack, rule_id),
        source=_source(
            source.label if source else (citation.label if citation else ir.id),
            source.url if source and source.url else (citation.url if citation else None),
        ),
        links=links,
        override_reasons=[
            {"system": r.system, "code": r.code, "display": r.display}
            for r in template.override_reasons
        ],
        extension={
            EXTENSION_KEY: {
                "ruleId": ir.id,
                "ruleVersion": ir.rule.version,
                "evidence": {
                    "grades": list(ir.rule.evidence.grades),
                    "quality": ir.rule.evidence.quality.value,
                    "strength": ir.rule.evidence.strength.value,
                },
            }
        },
    )
    pack.memo[key] = parts
    return parts


def _card(
    pack: RulePack,
    rule_id: str,
    matches: tuple[Finding, ...],
    draft_orders: Mapping[str, Mapping[str, Any]],
    patient_ref: str | None,
) -> IssuedCard:
    ir = pack.by_id[rule_id]
    template = ir.rule.card
    assert template is not None
    fixed = _fixed_parts(pack, rule_id)
    first = matches[0]
    detail = fill(template.detail, first.bindings).strip()
    combinations = _distinct_combinations(matches)
    if combinations > 1:
        detail += f"\n\n({combinations} matching combinations in the record.)"
    for note in first.notes:
        detail += f"\n\n**Data note:** {note}"
    card: dict[str, Any] = {
        "uuid": new_uuid(),
        "summary": shorten_summary(fill(template.summary, first.bindings)),
        "detail": detail + fixed.evidence,
        "indicator": template.indicator.value,
        "source": fixed.source,
    }
    if fixed.links:
        card["links"] = fixed.links
    suggestions = _suggestions(template, first, draft_orders, patient_ref)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = template.selection_behavior or "at-most-one"
    if fixed.override_reasons:
        card["overrideReasons"] = fixed.override_reasons
    card["extension"] = fixed.extension
    memory = ir.rule.memory
    keyed = memory.once_per if memory and memory.once_per else list(first.bindings)
    finding_key = ",".join(
        sorted({str(m.bindings[b]["id"]) for m in matches for b in keyed if b in m.bindings})
    )
    return IssuedCard(card, ir.id, ir.rule.version, finding_key, matches)


def _distinct_combinations(matches: Sequence[Finding]) -> int:
    """Matches that bind different sets of facts: a rule about two different precursors binds
    DHEA + pregnenolone both ways round, and that is one combination to the clinician."""
    return len({frozenset(str(f["id"]) for f in m.bindings.values()) for m in matches})


def _source(label: str, url: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label}
    if url:
        out["url"] = url
    return out


def _suggestions(
    template: Card,
    finding: Finding,
    draft_orders: Mapping[str, Mapping[str, Any]],
    patient_ref: str | None,
) -> list[dict[str, Any]]:
    out = []
    for suggestion in template.suggestions:
        actions = [
            a
            for a in (_action(x, finding, draft_orders, patient_ref) for x in suggestion.actions)
            if a
        ]
        if suggestion.actions and not actions:
            continue  # nothing concrete to suggest for this patient
        item: dict[str, Any] = {"label": suggestion.label, "uuid": new_uuid()}
        if suggestion.is_recommended:
            item["isRecommended"] = True
        if actions:
            item["actions"] = actions
        out.append(item)
    return out


def _action(
    action: SuggestionAction,
    finding: Finding,
    draft_orders: Mapping[str, Mapping[str, Any]],
    patient_ref: str | None,
) -> dict[str, Any] | None:
    out: dict[str, Any] = {
        "type": action.type,
        "description": fill(action.description, finding.bindings),
    }
    if action.type == "create" and action.resource:
        resource = copy.deepcopy(action.resource)
        if (
            patient_ref
            and "subject" not in resource
            and resource.get("resourceType")
            in ("ServiceRequest", "MedicationRequest", "QuestionnaireResponse", "Task")
        ):
            resource["subject"] = {"reference": patient_ref}
        out["resource"] = resource
        return out
    if action.type == "update" and action.from_binding:
        fact = finding.bindings.get(action.from_binding, {})
        original = draft_orders.get(str(fact.get("source_ref", "")))
        if original is None:
            return None
        resource = copy.deepcopy(dict(original))
        try:
            for path, value in (action.set or {}).items():
                _set_path(resource, path, value)
        except (TypeError, IndexError):
            # the draft's shape differs from the path (the checker knows FHIR's lists, not
            # every EHR's drafts): no suggestion rather than a broken order or a 500
            log.warning("suggestion_not_applicable", rule=finding.rule_id, path=path[:80])
            return None
        out["resource"] = resource
        return out
    return None


def _set_path(resource: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path with list indexes (``dosageInstruction.0.doseAndRate.0.doseQuantity``)."""
    node: Any = resource
    parts = path.split(".")
    for i, part in enumerate(parts[:-1]):
        key: Any = int(part) if part.isdigit() else part
        nxt_is_index = parts[i + 1].isdigit()
        _require_shape(node, key)
        if isinstance(node, list):
            while len(node) <= key:
                node.append([] if nxt_is_index else {})
            node = node[key]
        else:
            node = node.setdefault(key, [] if nxt_is_index else {})
    last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    _require_shape(node, last)
    node[last] = value


def _require_shape(node: Any, key: str | int) -> None:
    """TypeError unless ``node`` is a list indexed by an int or an object keyed by a name."""
    if not (isinstance(node, list) and isinstance(key, int)) and not (
        isinstance(node, dict) and isinstance(key, str)
    ):
        raise TypeError(f"the draft has no {'list' if isinstance(key, int) else 'object'} here")
