"""Compilation of checked rules into durable-rules rulesets (the dict/JSON format).

One ruleset per hook holds the rules that run on that hook and, transitively, the rules deriving
the facts they consume. Each present pattern becomes one ``all`` entry (durable-rules binds a
separate fact per entry); its tests are ordered type → value set → name → fields, so that facts
are partitioned by their most discriminating test before anything else. Absent patterns are not
compiled: durable-rules' ``$not`` depends on the order facts arrive in a batch, so the adapter
checks absence against the complete set of asserted facts instead (see :mod:`cds.engine`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from cds.facts import valueset_flag
from cds.rules.ir import Cond, PatternIR, Ref, RuleIR

SENTINEL_RULE = "_sentinel"
SENTINEL_FIELD = "_sentinel"
# durable-rules hangs on a condition node with 512 or more children (measured): refuse far below.
MAX_FAN_OUT = 400

_OPS = {"eq": None, "ne": "$neq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


@dataclass(frozen=True)
class FanOut:
    """A condition node with too many children, and the rules that put them there."""

    node: str
    children: int
    rule_ids: tuple[str, ...]


ORDER_HOOKS = ("order-select", "order-sign")


def for_hook(ir: RuleIR, hook: str) -> list[RuleIR]:
    """The rule as it runs on ``hook``. On order hooks, ``on_order_hooks.draft`` requires the
    named medication to be the draft order; with several names, one variant per name (any one
    of them being the draft is enough; variants that fire together make one card)."""
    order = ir.rule.on_order_hooks
    if order is None or hook not in ORDER_HOOKS:
        return [ir]
    names = [order.draft] if isinstance(order.draft, str) else list(order.draft)
    variants = []
    for name in names:
        patterns = tuple(
            replace(p, conds=(*p.conds, Cond("draft", "eq", True))) if p.binding == name else p
            for p in ir.patterns
        )
        variants.append(replace(ir, patterns=patterns, variant=name if len(names) > 1 else ""))
    return variants


def rules_for_hook(rules: Iterable[RuleIR], hook: str) -> list[RuleIR]:
    """Rules that run on ``hook`` (as they run there, order-hook variants included) plus every
    rule deriving a fact they consume."""
    rules = list(rules)
    producers: dict[str, list[RuleIR]] = defaultdict(list)
    for ir in rules:
        if ir.derive:
            producers[ir.derive.name].append(ir)
    chosen: dict[str, RuleIR] = {}
    todo = [ir for ir in rules if hook in ir.rule.hooks]
    while todo:
        ir = todo.pop()
        if ir.id in chosen:
            continue
        chosen[ir.id] = ir
        for name in ir.consumes:
            todo.extend(producers[name])
    variants = [v for ir in chosen.values() for v in for_hook(ir, hook)]
    return sorted(variants, key=lambda ir: ir.engine_name)


def compile_ruleset(rules: Iterable[RuleIR]) -> dict[str, dict[str, Any]]:
    """The durable-rules definition of a set of rules (plus the sentinel rule)."""
    out: dict[str, dict[str, Any]] = {
        SENTINEL_RULE: {"all": [{"s": {SENTINEL_FIELD: True}}], "run": SENTINEL_RULE}
    }
    for ir in rules:
        deferred = set(deferred_joins(ir))
        out[ir.engine_name] = {
            "all": [{p.binding: compile_pattern(p, deferred)} for p in ir.positive],
            "run": ir.engine_name,
        }
    return out


def deferred_joins(ir: RuleIR) -> list[tuple[str, Cond]]:
    """Every join (a test whose operand is another bound fact's field), as (binding, condition).

    Joins are never compiled into durable-rules: it segfaults inside ``assert_facts`` when a
    join fails in some network shapes (measured: two patterns, a join from the second to the
    first that does not hold, crashes or not depending only on how many tests the two patterns
    have; a join between two patterns on the same fact type crashes every time). durable-rules
    finds the combinations of facts that pass each pattern's own tests; the adapter checks the
    joins on each combination, as it checks absence. ``tests/test_engine_hazards.py`` keeps the
    crashing shapes.
    """
    return [
        (pattern.binding, cond)
        for pattern in ir.positive
        for cond in pattern.conds
        if isinstance(cond.value, Ref)
    ]


def compile_pattern(
    pattern: PatternIR, deferred: set[tuple[str, Cond]] | None = None
) -> dict[str, Any]:
    tests: list[dict[str, Any]] = [{"type": pattern.fact_type}]
    if pattern.valuesets:
        flags = [{valueset_flag(vs): True} for vs in pattern.valuesets]
        tests.append(flags[0] if len(flags) == 1 else {"$or": flags})
    if pattern.name:
        tests.append({"name": pattern.name})
    # existence first, then the field tests, in a stable order
    skip = deferred or set()
    kept = [c for c in pattern.conds if (pattern.binding, c) not in skip]
    ordered = sorted(kept, key=lambda c: (c.op != "exists", c.field, c.op))
    tests.extend(compile_cond(c) for c in ordered)
    return {"$and": tests}


def compile_cond(cond: Cond) -> dict[str, Any]:
    if cond.op == "exists":
        return {"$ex" if cond.value else "$nex": {cond.field: 1}}
    if cond.op == "in":
        assert isinstance(cond.value, tuple)
        return {"$or": [{cond.field: _literal(v)} for v in cond.value]}
    operand = _operand(cond.value)
    op = _OPS[cond.op]
    return {cond.field: operand} if op is None else {op: {cond.field: operand}}


def _operand(value: Any) -> Any:
    if isinstance(value, Ref):
        ref: dict[str, Any] = {value.binding: value.field}
        if value.offset:
            return {"$add": {"$l": ref, "$r": float(value.offset)}}
        return ref
    return _literal(value)


def _literal(value: Any) -> Any:
    # durable-rules compares "10" < 3.5 as strings and 5 == "5" as equal: numbers are floats
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def fan_outs(definition: dict[str, dict[str, Any]], limit: int = MAX_FAN_OUT) -> list[FanOut]:
    """Condition nodes whose children exceed ``limit``, estimated like durable-rules builds them:
    a pattern's tests form a path; identical prefixes share nodes."""
    children: dict[str, set[str]] = defaultdict(set)
    owners: dict[str, set[str]] = defaultdict(set)
    for rule_id, rule in definition.items():
        for entry in rule.get("all", []):
            for pattern in entry.values():
                tests = pattern.get("$and", [pattern])
                prefix = ""
                for test in tests:
                    key = json.dumps(test, sort_keys=True)
                    children[prefix].add(key)
                    owners[prefix].add(rule_id)
                    prefix = prefix + "\x1f" + key
    return [
        FanOut(node or "(root)", len(kids), tuple(sorted(owners[node])))
        for node, kids in children.items()
        if len(kids) > limit
    ]


# durable-rules corrupts its heap when one fact is matched by more than 64 patterns in one
# session ("double free or corruption", measured: 64 works, 65 crashes). Refuse packs where that
# could happen, with a margin.
MAX_PATTERNS_PER_FACT = 60


@dataclass(frozen=True)
class Overlap:
    """Patterns that could all match one fact, and the kind of fact."""

    fact: str
    patterns: int
    rule_ids: tuple[str, ...]


def _concept_eq(pattern: PatternIR) -> str | None:
    for cond in pattern.conds:
        if cond.field == "concept" and cond.op == "eq" and isinstance(cond.value, str):
            return cond.value
    return None


def fact_overlaps(
    rules: Iterable[RuleIR],
    code_signatures: Iterable[frozenset[str]],
    limit: int = MAX_PATTERNS_PER_FACT,
) -> list[Overlap]:
    """Kinds of fact that more than ``limit`` patterns could match at once.

    A fact is characterised by its type, the value sets one of its codes belongs to (a
    "signature" from the terminology), its concept and, for derived facts, its name. Patterns
    restricted to other value sets, concepts or names cannot match it.
    """
    patterns = [(ir.id, p) for ir in rules for p in ir.positive]
    signatures: set[frozenset[str]] = {frozenset(s) for s in code_signatures} | {frozenset()}
    worst: dict[tuple[str, str | None], Overlap] = {}
    for _, pattern in patterns:
        concept = _concept_eq(pattern)
        candidates = [s for s in signatures if not pattern.valuesets or s & set(pattern.valuesets)]
        for signature in candidates:
            owners: list[str] = []
            by_concept: dict[str, list[str]] = defaultdict(list)
            for rule_id, other in patterns:
                if other.fact_type != pattern.fact_type or other.name != pattern.name:
                    continue
                if other.valuesets and not signature & set(other.valuesets):
                    continue
                other_concept = _concept_eq(other)
                if other_concept is None:
                    owners.append(rule_id)
                elif concept is None:
                    by_concept[other_concept].append(rule_id)
                elif other_concept == concept:
                    owners.append(rule_id)
            if by_concept:
                owners.extend(max(by_concept.values(), key=lambda ids: len(list(ids))))
            label = (
                pattern.fact_type
                + (f" '{pattern.name}'" if pattern.name else "")
                + (f" in {sorted(signature)}" if signature else "")
            )
            kind = (pattern.fact_type, pattern.name)
            if len(owners) > limit and len(owners) > worst.get(kind, Overlap("", 0, ())).patterns:
                worst[kind] = Overlap(label, len(owners), tuple(sorted(set(owners))))
    return list(worst.values())
