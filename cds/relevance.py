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
views: a request's views are built only for what is asserted or an absence check looks at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import eq, ge, gt, le, lt, ne
from typing import Any

from cds.facts import DerivedFact, Fact, engine_view
from cds.rules.ir import Cond, PatternIR, Ref, RuleIR

FactDict = dict[str, Any]
SlotKey = tuple[str, str]  # (engine rule name, binding)

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": eq,
    "ne": ne,
    "gt": gt,
    "gte": ge,
    "lt": lt,
    "lte": le,
}


def _holds_on(fact: Fact, field: str, op: str, value: Any) -> bool:
    """``cond`` on a fact object, as the engine tests it on the fact's view (a ``None`` field
    is absent from the view; numbers compare the same as ints or floats)."""
    actual = getattr(fact, field, None)
    if op == "exists":
        return (actual is not None) is bool(value)
    if actual is None:
        return False
    if op == "in":
        return bool(actual in value)
    try:
        return bool(_COMPARE[op](actual, value))
    except TypeError:
        return False


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
        self._table = {key: _without_repeated_tests(slots) for key, slots in table.items()}

    def select(self, facts: Sequence[Fact]) -> tuple[list[int], FactIndex]:
        """Positions (in order) of the facts some positive pattern could bind, and the index of
        all facts, built in the same pass. A fact that only a pattern with joins could bind
        waits until the pass has seen every fact those joins refer to."""
        index = FactIndex(facts)
        by_key = index.by_key
        kept: list[int] = []
        waiting: list[tuple[int, Fact, list[_Slot]]] = []
        table = self._table
        for position, fact in enumerate(facts):
            if isinstance(fact, DerivedFact):
                by_key.setdefault(("derived", ""), []).append(position)
                kept.append(position)
                continue
            fact_type = fact.fact_type
            by_key.setdefault((fact_type, ""), []).append(position)
            slots = table.get((fact_type, ""), [])
            for vs in fact.valuesets:
                by_key.setdefault((fact_type, vs), []).append(position)
                more = table.get((fact_type, vs))
                if more:
                    slots = slots + more
            joined: list[_Slot] = []
            for slot in slots:
                if not slot.test.function(fact):  # (no __call__ hop: the hottest line)
                    continue
                if slot.joins:
                    joined.append(slot)
                    continue
                kept.append(position)
                break
            else:
                if joined:
                    waiting.append((position, fact, joined))
        bounds: dict[SlotKey, tuple[tuple[str, str, Any], ...] | None] = {}
        for position, fact, joined in waiting:
            for slot in joined:
                if slot.key not in bounds:
                    bounds[slot.key] = self._join_bounds(slot, index)
                tests = bounds[slot.key]
                if tests is not None and all(_holds_on(fact, *t) for t in tests):
                    kept.append(position)
                    break
        kept.sort()
        return kept, index

    def _join_bounds(
        self, slot: _Slot, index: FactIndex
    ) -> tuple[tuple[str, str, Any], ...] | None:
        """The join conditions of ``slot`` as tests on the fact's own fields, against the facts
        that pass the own tests of the patterns they refer to; None when one cannot hold."""
        tests = []
        for cond, other in slot.joins:
            pattern, test = self._patterns[other], self._tests[other]
            referred = [f for f in index.facts(pattern.fact_type, pattern.valuesets) if test(f)]
            bound = _bound(cond, referred)
            if bound is None:
                return None
            tests.append((cond.field, *bound))
        return tuple(tests)


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
    """Every fact of a request, by type and value set, with views built on first use: what the
    absence checks search (``no DHEA-S in the last 12 months`` looks at DHEA-S results only)."""

    def __init__(self, facts: Sequence[Fact]) -> None:
        """An empty index over ``facts``: :meth:`Relevance.select` fills ``by_key``."""
        self._facts = facts
        self._views: dict[int, FactDict] = {}
        self.by_key: dict[tuple[str, str], list[int]] = {}

    def facts(self, fact_type: str, valuesets: Sequence[str]) -> Iterator[Fact]:
        """The facts of ``fact_type`` in any of ``valuesets`` (see :meth:`views`)."""
        for vs in valuesets or ("",):
            for index in self.by_key.get((fact_type, vs), ()):
                yield self._facts[index]

    def add_views(self, views: Mapping[int, FactDict]) -> None:
        """Views already built (the asserted facts'), so that absence checks reuse them."""
        self._views.update(views)

    def views(self, fact_type: str, valuesets: Sequence[str]) -> Iterator[FactDict]:
        """Views of the facts of ``fact_type`` in any of ``valuesets`` (all of the type when
        none is given; a fact in several of them may come twice)."""
        for vs in valuesets or ("",):
            for index in self.by_key.get((fact_type, vs), ()):
                view = self._views.get(index)
                if view is None:
                    view = self._views[index] = engine_view(self._facts[index])
                yield view
