"""One patient's data through the rules: facts → engine → cards.

The service (``cds.api``), the explain endpoint and ``cds evaluate`` all run this same step, so
what the workbench shows is what an EHR gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.cards import IssuedCard, build_cards
from cds.context.normalise import FactSet, PatientData, build_facts
from cds.ehr import bundle_resources, by_reference
from cds.engine import Finding, RuleEngine
from cds.explain import Explanation, explain
from cds.rules.pack import RulePack


@dataclass(frozen=True)
class Assessment:
    facts: FactSet
    findings: list[Finding]
    cards: list[IssuedCard]
    explanation: Explanation | None = None  # only when asked for (near misses cost a search)


def assess(
    pack: RulePack,
    engine: RuleEngine,
    data: PatientData,
    *,
    hook: str,
    now: datetime,
    patient_id: str,
    draft_orders: Mapping[str, Any] | None = None,
    selections: Sequence[str] | None = None,
    explained: bool = False,
) -> Assessment:
    """Facts, findings and cards for one request (``draft_orders``: the context's Bundle;
    ``selections``: order-select's chosen orders, see :func:`build_facts`)."""
    drafts = bundle_resources(draft_orders)
    facts = build_facts(
        data,
        now=now,
        terminology=pack.terminology,
        draft_orders=drafts,
        selections=selections if hook == "order-select" else None,
    )
    explanation = explain(engine, facts, hook=hook, now=now) if explained else None
    findings = (
        explanation.findings
        if explanation is not None
        else engine.evaluate(facts.facts, hook=hook, now=now, data_status=facts.data_status)
    )
    cards = build_cards(
        findings, pack, draft_orders=by_reference(drafts), patient_ref=f"Patient/{patient_id}"
    )
    return Assessment(facts, findings, cards, explanation)
