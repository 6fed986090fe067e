"""An independent, deliberately naive interpreter of checked rules — used only by tests.

It shares nothing with the durable-rules compiler or the engine adapter except the checked rule
form (``cds.rules.ir``): it enumerates every combination of distinct facts, evaluates each test
itself, and forward-chains derived facts to a fixpoint. If the compiler or the adapter ever
translates a rule wrongly, the two disagree and the property tests fail.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Sequence
from typing import Any

from cds.rules.ir import Cond, PatternIR, Ref, RuleIR

Fact = dict[str, Any]
MatchKey = tuple[str, tuple[tuple[str, str], ...]]

_OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _flag(valueset: str) -> str:
    return "vs_" + valueset.replace("-", "_")


def _test(cond: Cond, fact: Fact, bound: dict[str, Fact]) -> bool:
    present = cond.field in fact
    if cond.op == "exists":
        return present == cond.value
    if not present:
        return False
    value = fact[cond.field]
    if cond.op == "in":
        assert isinstance(cond.value, tuple)
        return any(value == item for item in cond.value)
    target: Any = cond.value
    if isinstance(target, Ref):
        other = bound[target.binding]
        if target.field not in other:
            return False
        target = other[target.field] + target.offset if target.offset else other[target.field]
    if isinstance(value, bool) != isinstance(target, bool):
        return cond.op == "ne"
    if isinstance(value, str) != isinstance(target, str):
        return cond.op == "ne"
    return bool(_OPS[cond.op](value, target))


def _matches(pattern: PatternIR, fact: Fact, bound: dict[str, Fact]) -> bool:
    if fact.get("type") != pattern.fact_type:
        return False
    if pattern.name is not None and fact.get("name") != pattern.name:
        return False
    if pattern.valuesets and not any(fact.get(_flag(v)) is True for v in pattern.valuesets):
        return False
    return all(_test(c, fact, bound) for c in pattern.conds)


def _combinations(
    patterns: Sequence[PatternIR], facts: Sequence[Fact], bound: dict[str, Fact]
) -> Iterator[dict[str, Fact]]:
    if not patterns:
        yield dict(bound)
        return
    head, rest = patterns[0], patterns[1:]
    used = {id(f) for f in bound.values()}
    for fact in facts:
        if id(fact) in used or not _matches(head, fact, bound):
            continue
        bound[head.binding] = fact
        yield from _combinations(rest, facts, bound)
        del bound[head.binding]


def evaluate(rules: Sequence[RuleIR], facts: Sequence[Fact]) -> dict[MatchKey, dict[str, Fact]]:
    """Every match of every rule, forward-chained to a fixpoint."""
    base = list(facts)
    working = list(facts)
    fired: dict[MatchKey, dict[str, Fact]] = {}
    for _ in itertools.count():
        before = len(fired)
        for rule in rules:
            for bound in list(_combinations(rule.positive, working, {})):
                if any(_matches(p, f, bound) for p in rule.absent for f in base):
                    continue
                key: MatchKey = (
                    rule.id,
                    tuple(sorted((b, str(f["id"])) for b, f in bound.items())),
                )
                if key in fired:
                    continue
                fired[key] = bound
                if rule.derive is not None:
                    sources = ",".join(str(bound[p.binding]["id"]) for p in rule.positive)
                    new: Fact = {
                        "type": "derived",
                        "name": rule.derive.name,
                        "id": f"{rule.derive.name}({sources})",
                    }
                    for out, binding, src in rule.derive.fields:
                        if src in bound[binding]:
                            new[out] = bound[binding][src]
                    if all(f["id"] != new["id"] for f in working):
                        working.append(new)
        if len(fired) == before:
            return fired
    raise AssertionError("unreachable")
