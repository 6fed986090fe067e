"""Which facts of a request can take part in a match: the engine asserts only those.

durable-rules matches each pattern's own tests; every join (``window: after: rx.episode_start_day
- 90 d``) is checked afterwards by the adapter, on each combination durable-rules reports
(compiled joins crash it, see ``cds.engine``). With three years of questionnaires that is one
combination per old score: 240 scores made 160 actions for two rules, and the engine spent 19x
the usual patient's time on them.

Before asserting, this module keeps a fact only when some positive pattern could bind it:

1. the pattern's own tests hold (type, value sets, derived name, conditions without a join);
2. each join condition of the pattern holds against at least one fact that passes the own tests
   of the pattern it refers to (a semi-join: ``day >= rx.episode_start_day - 90`` for some
   candidate ``rx`` is ``day >= min(candidates' episode_start_day) - 90``).

A fact that fails both for every pattern is in no match, so leaving it out changes no result
(the property tests compare the engine with an independent interpreter on random packs). The
absence checks still see every fact (:class:`FactIndex`). Joins that refer to a derived fact do not
filter: derived facts exist only once rules fire. Facts are tested as objects, not as engine
views: a request builds views only for the facts it asserts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cds.facts import Fact
from cds.rules.ir import COMPARE, Cond, PatternIR, Ref, RuleIR

SlotKey = tuple[str, str]  # (engine rule name, binding)

_OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class _Test:
    """A pattern's own tests as one generated function (as ``dataclasses`` generates
    ``__init__``): every fact of a request meets a few of these, and a loop over condition
    tuples cost five times as much. Field names and operands are passed as constants, never
    pasted into the source. Equal conditions make equal (hashable) tests."""

    __slots__ = ("conds", "function")

    def __init__(self, conds: tuple[tuple[str, str, Any], ...]) -> None:
        self.conds = conds
        namespace: dict[str, Any] = {}
        lines = ["def test(fact):", "    try:"]
        for i, (field, op, value) in enumerate(conds):
            namespace[f"F{i}"], namespace[f"C{i}"] = field, value
            lines.append(f"        v{i} = getattr(fact, F{i}, None)")
            if op == "exists":
                lines.append(f"        if (v{i} is not None) is not bool(C{i}): return False")
                continue
            lines.append(f"        if v{i} is None: return False")
            if op == "in":
                lines.append(f"        if v{i} not in C{i}: return False")
            else:
                lines.append(f"        if not (v{i} {_OPERATORS[op]} C{i}): return False")
        if not conds:
            lines.append("        pass")
        lines += ["    except TypeError:", "        return False", "    return True"]
        exec("\n".join(lines), namespace)  # the source holds operators and indexes only
        self.function: Callable[[Fact], bool] = namespace["test"]

    def __call__(self, fact: Fact) -> bool:
        return self.function(fact)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Test) and other.conds == self.conds

    def __hash__(self) -> int:
        return hash(self.conds)


@dataclass(frozen=True, slots=True)
class _Slot:
    """One positive pattern of one rule."""

    key: SlotKey
    test: _Test
    joins: tuple[tuple[Cond, SlotKey], ...]  # join condition, slot of the fact it refers to

    @property
    def selective(self) -> bool:
        """Whether the own tests do more than ask for fields (``latest: true`` passes one fact
        in a history; ``value: {exists: true}`` all of them): they run before the join bounds."""
        return any(op != "exists" for _, op, _ in self.test.conds)


def _bound(cond: Cond, referred: Sequence[Fact]) -> tuple[str, Any] | None:
    """The one test on the fact's own field that "``cond`` holds for some fact in ``referred``"
    comes down to, or None when it cannot hold for any."""
    ref = cond.value
    assert isinstance(ref, Ref)
    values = [v for f in referred if (v := getattr(f, ref.field, None)) is not None]
    if ref.offset:
        values = [v + ref.offset for v in values]
    if not values:
        return None
    op = cond.op
    try:
        if op in ("gt", "gte"):
            return op, min(values)
        if op in ("lt", "lte"):
            return op, max(values)
    except TypeError:  # mixed kinds: do not filter on it
        return "exists", True
    if op == "eq":
        return "in", tuple(values)
    if op == "ne" and len(set(values)) == 1:
        return "ne", values[0]
    return "exists", True  # ne against two distinct values always holds for one of them


def _check(field: str, op: str, value: Any) -> Callable[[Fact], bool]:
    """One fixed test on a fact object, as the engine tests it on the fact's view (a ``None``
    field is absent from the view), as a closure: join bounds run on many facts."""
    if op == "exists":
        want = bool(value)
        return lambda fact: (getattr(fact, field, None) is not None) is want
    if op == "in":
        return lambda fact: (v := getattr(fact, field, None)) is not None and v in value
    compare = COMPARE[op]

    def check(fact: Fact) -> bool:
        actual = getattr(fact, field, None)
        if actual is None:
            return False
        try:
            return bool(compare(actual, value))
        except TypeError:
            return False

    return check


def _all_of(tests: tuple[tuple[str, str, Any], ...]) -> Callable[[Fact], bool]:
    """One closure for a few (field, op, value) tests (join bounds: usually one or two, and a
    window is two comparisons on one field: read once, compared twice)."""
    if len(tests) == 2 and tests[0][0] == tests[1][0]:
        (field, op1, value1), (_, op2, value2) = tests
        if op1 in COMPARE and op2 in COMPARE:
            first, second = COMPARE[op1], COMPARE[op2]

            def window(fact: Fact) -> bool:
                actual = getattr(fact, field, None)
                if actual is None:
                    return False
                try:
                    return bool(first(actual, value1) and second(actual, value2))
                except TypeError:
                    return False

            return window
    checks = [_check(*t) for t in tests]
    if len(checks) == 1:
        return checks[0]
    return lambda fact: all(c(fact) for c in checks)


class Relevance:
    """The positive patterns of one hook's rules, indexed by fact type and value set."""

    def __init__(self, rules: Sequence[RuleIR]) -> None:
        by_signature: dict[tuple[Any, ...], _Test] = {}
        self._patterns: dict[SlotKey, PatternIR] = {}
        self._tests: dict[SlotKey, _Test] = {}
        table: dict[tuple[str, str], list[_Slot]] = {}
        for ir in rules:
            derived = {p.binding for p in ir.positive if p.fact_type == "derived"}
            for pattern in ir.positive:
                if pattern.fact_type == "derived":
                    continue  # derived facts are asserted by the adapter as rules fire
                own = tuple(
                    (c.field, c.op, c.value) for c in pattern.conds if not isinstance(c.value, Ref)
                )
                joins = tuple(
                    (c, (ir.engine_name, c.value.binding))
                    for c in pattern.conds
                    if isinstance(c.value, Ref) and c.value.binding not in derived
                )
                test = by_signature.get(own) or by_signature.setdefault(own, _Test(own))
                slot = _Slot((ir.engine_name, pattern.binding), test, joins)
                self._patterns[slot.key] = pattern
                self._tests[slot.key] = test
                for vs in pattern.valuesets or ("",):
                    table.setdefault((pattern.fact_type, vs), []).append(slot)
        self._table = table
        self._group_slots: dict[tuple[str, tuple[str, ...]], list[_Slot]] = {}

    def select(self, facts: Sequence[Fact]) -> tuple[list[int], FactIndex]:
        """Positions (in order) of the facts some positive pattern could bind, and the index of
        all facts by type and value set (for the absence checks).

        Facts are grouped by (type, value sets) first: the facts of one group meet the same
        patterns, so each pattern's test runs over a whole group in one comprehension, and the
        join bounds are known before any group is tested (they need the index)."""
        index = FactIndex(facts)
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for position, fact in enumerate(facts):
            key = (fact.fact_type, fact.valuesets)  # DerivedFact.fact_type is "derived"
            group = groups.get(key)
            if group is None:
                groups[key] = [position]
            else:
                group.append(position)
        by_key = index.by_key
        for (fact_type, valuesets), positions in groups.items():
            by_key.setdefault((fact_type, ""), []).extend(positions)
            for vs in valuesets:
                by_key.setdefault((fact_type, vs), []).extend(positions)
        kept: list[int] = []
        bounds: dict[SlotKey, Callable[[Fact], bool] | None] = {}
        referred: dict[tuple[str, tuple[str, ...], _Test], list[Fact]] = {}
        for (fact_type, valuesets), positions in groups.items():
            if fact_type == "derived":
                kept += positions
                continue
            remaining = [(p, facts[p]) for p in positions]
            for slot in self._slots_for(fact_type, valuesets):
                test = slot.test.function
                if slot.joins:
                    if slot.key not in bounds:
                        bounds[slot.key] = self._join_bounds(slot, index, referred)
                    within = bounds[slot.key]
                    if within is None:
                        continue
                    if slot.selective:
                        passed = [p for p, f in remaining if test(f) and within(f)]
                    else:
                        passed = [p for p, f in remaining if within(f) and test(f)]
                else:
                    passed = [p for p, f in remaining if test(f)]
                if passed:
                    kept += passed
                    if len(passed) == len(remaining):
                        break
                    done = set(passed)
                    remaining = [(p, f) for p, f in remaining if p not in done]
        kept.sort()
        return kept, index

    def _slots_for(self, fact_type: str, valuesets: tuple[str, ...]) -> list[_Slot]:
        """The slots a fact of this type and these value sets meets (cached: the combinations
        are few and fixed by the pack and the terminology)."""
        key = (fact_type, valuesets)
        slots = self._group_slots.get(key)
        if slots is None:
            found = list(self._table.get((fact_type, ""), ()))
            for vs in valuesets:
                found += [s for s in self._table.get((fact_type, vs), ()) if s not in found]
            slots = self._group_slots[key] = _without_repeated_tests(found)
        return slots

    def _join_bounds(
        self,
        slot: _Slot,
        index: FactIndex,
        referred: dict[tuple[str, tuple[str, ...], _Test], list[Fact]],
    ) -> Callable[[Fact], bool] | None:
        """The join conditions of ``slot`` as one test on the fact's own fields, against the
        facts that pass the own tests of the patterns they refer to; None when one cannot
        hold for any fact. ``referred`` caches those facts for this request (many rules refer
        to an "active DHEA" pattern with the same tests)."""
        tests = []
        for cond, other in slot.joins:
            pattern, test = self._patterns[other], self._tests[other]
            key = (pattern.fact_type, pattern.valuesets, test)
            candidates = referred.get(key)
            if candidates is None:
                passes = test.function
                found = index.facts(pattern.fact_type, pattern.valuesets)
                candidates = referred[key] = [f for f in found if passes(f)]
            bound = _bound(cond, candidates)
            if bound is None:
                return None
            tests.append((cond.field, *bound))
        return _all_of(tuple(tests))


def _without_repeated_tests(slots: list[_Slot]) -> list[_Slot]:
    """Slots without joins whose own tests another slot of the list already has are dropped
    (the same tests keep the same facts: 34 DHEA patterns have 8 distinct tests); slots without
    joins come first, being the cheaper."""
    seen: set[_Test] = set()
    plain, joined = [], []
    for slot in slots:
        if slot.joins:
            joined.append(slot)
        elif slot.test not in seen:
            seen.add(slot.test)
            plain.append(slot)
    return plain + joined


class FactIndex:
    """Every fact of a request by type and value set: what the absence checks search (``no
    DHEA-S in the last 12 months`` looks at DHEA-S results only, as fact objects)."""

    def __init__(self, facts: Sequence[Fact]) -> None:
        """An empty index over ``facts``: :meth:`Relevance.select` fills ``by_key``."""
        self._facts = facts
        self.by_key: dict[tuple[str, str], list[int]] = {}

    def facts(self, fact_type: str, valuesets: Sequence[str]) -> Iterator[Fact]:
        """The facts of ``fact_type`` in any of ``valuesets`` (all of the type when none is
        given; a fact in several of them may come twice)."""
        for vs in valuesets or ("",):
            for index in self.by_key.get((fact_type, vs), ()):
                yield self._facts[index]
