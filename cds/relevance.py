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

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from cds.facts import FACT_CLASSES, Fact
from cds.rules.ir import Cond, PatternIR, Ref, RuleIR

SlotKey = tuple[str, str]  # (engine rule name, binding)
FactDict = dict[str, Any]
Bound = Mapping[str, FactDict]  # the facts a rule's match bound, by binding, as views

_OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _reader(fact_class: type[Fact] | None) -> Callable[[str], str]:
    """Source that reads a field into ``v``: an attribute of the fact class when it has one,
    else ``getattr`` with ``None`` for a missing field (as the fact's view omits it)."""
    attributes = {f.name for f in dataclasses.fields(fact_class)} if fact_class else set()

    def read(name: str) -> str:
        if not name.isidentifier():
            raise ValueError(f"not a field name: {name!r}")
        if name in attributes:
            return f"(v := fact.{name})"
        return f"(v := getattr(fact, {name!r}, None))"

    return read


def _terms(
    conds: Sequence[tuple[str, str, Any]],
    read: Callable[[str], str],
    namespace: dict[str, Any],
    prefix: str,
) -> list[str]:
    """One boolean expression per condition (``v`` holds the field just read); operands go to
    ``namespace`` under ``prefix_n``, never into the source."""
    terms = []
    for n, (name, op, value) in enumerate(conds):
        const = f"{prefix}_{n}"
        namespace[const] = value
        if op == "exists":
            terms.append(f"({read(name)} is not None) is {bool(value)}")
        elif op == "in":
            terms.append(f"{read(name)} is not None and v in {const}")
        else:
            terms.append(f"{read(name)} is not None and v {_OPERATORS[op]} {const}")
    return terms


def _compile(name: str, source: list[str], namespace: dict[str, Any]) -> Any:
    """The function ``name`` defined by ``source`` (field names, operators and constant names
    only: see :func:`_terms`)."""
    exec("\n".join(source), namespace)
    return namespace[name]


class _Test:
    """A pattern's own tests as one generated function that picks the facts passing them from a
    list (as ``dataclasses`` generates ``__init__``: a loop over condition tuples cost five
    times as much, a call per fact twice as much). Equal conditions on the same fact class make
    equal (hashable) tests."""

    __slots__ = ("conds", "fact_class", "pick")

    def __init__(
        self, conds: tuple[tuple[str, str, Any], ...], fact_class: type[Fact] | None
    ) -> None:
        self.conds = conds
        self.fact_class = fact_class
        namespace: dict[str, Any] = {}
        terms = _terms(conds, _reader(fact_class), namespace, "c")
        expression = " and ".join(f"({t})" for t in terms) or "True"
        source = ["def pick(facts):", "    out = []", "    for fact in facts:", "        try:"]
        source += [f"            if {expression}:", "                out.append(fact)"]
        source += ["        except TypeError:", "            pass", "    return out"]
        self.pick: Callable[[Iterable[Fact]], list[Fact]] = _compile("pick", source, namespace)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Test)
            and other.conds == self.conds
            and other.fact_class is self.fact_class
        )

    def __hash__(self) -> int:
        return hash((self.conds, self.fact_class))


@dataclass(frozen=True, slots=True)
class _Slot:
    """One positive pattern of one rule."""

    key: SlotKey
    test: _Test
    joins: tuple[tuple[Cond, SlotKey], ...]  # join condition, slot of the fact it refers to


_ANY = object()
"""A join bound that filters nothing (operands of mixed kinds; ``ne`` against two values)."""


def _bound(cond: Cond, referred: Sequence[Fact]) -> Any:
    """The operand of the test on the fact's own field that "``cond`` holds for some fact in
    ``referred``" comes down to: with ``gt``/``gte`` the least value, with ``lt``/``lte`` the
    greatest, with ``eq`` the tuple of values (tested with ``in``), with ``ne`` the one value;
    ``_ANY`` when it cannot be narrowed, None when it cannot hold for any."""
    ref = cond.value
    assert isinstance(ref, Ref)
    try:  # the referred facts are of the pattern's class: read the field in C
        values = [v for v in map(attrgetter(ref.field), referred) if v is not None]
    except AttributeError:  # a field some fact lacks (its view omits it): skip that fact
        values = [v for f in referred if (v := getattr(f, ref.field, None)) is not None]
    if ref.offset:
        values = [v + ref.offset for v in values]
    if not values:
        return None
    op = cond.op
    try:
        if op in ("gt", "gte"):
            return min(values)
        if op in ("lt", "lte"):
            return max(values)
    except TypeError:  # mixed kinds: do not filter on it
        return _ANY
    if op == "eq":
        return tuple(values)
    if op == "ne" and len(set(values)) == 1:
        return values[0]
    return _ANY  # ne against two distinct values always holds for one of them


class _GroupTest:
    """Whether a fact of one (type, value sets) group could be bound by one of the group's
    slots: one generated function loops over the group's facts and keeps a fact at the first
    slot that holds (slots without joins first); a call per fact cost a third of the filter's
    time on a long history. A slot with joins also needs its join bounds, computed per
    request and passed in as ``within`` (per slot: None when a join cannot hold, else one
    operand per join condition, see :func:`_bound`). Fields are read as attributes of the fact
    class (checked identifiers); operands are passed as constants, never pasted into the source."""

    __slots__ = ("joined", "keep")

    def __init__(self, slots: Sequence[_Slot], fact_class: type[Fact] | None) -> None:
        self.joined = tuple(slot for slot in slots if slot.joins)
        namespace: dict[str, Any] = {"ANY": _ANY}
        read = _reader(fact_class)
        source = ["def keep(facts, positions, within, kept):"]
        source += [f"    w{j} = within[{j}]" for j in range(len(self.joined))]
        source += ["    for p in positions:", "        fact = facts[p]"]
        joined = 0
        for k, slot in enumerate(slots):
            terms = []
            if slot.joins:
                w = f"w{joined}"
                terms.append(f"{w} is not None")
                joined += 1
            terms += _terms(slot.test.conds, read, namespace, f"c{k}")
            for m, (cond, _) in enumerate(slot.joins):
                if cond.op not in _OPERATORS:
                    continue  # no other operator takes a field reference: no filter
                test = "in" if cond.op == "eq" else _OPERATORS[cond.op]
                terms.append(
                    f"({w}[{m}] is ANY or ({read(cond.field)} is not None and v {test} {w}[{m}]))"
                )
            expression = " and ".join(f"({t})" for t in terms) or "True"
            source += ["        try:", f"            if {expression}:"]
            source += ["                kept.append(p)", "                continue"]
            source += ["        except TypeError:", "            pass"]
        self.keep: Callable[
            [Sequence[Fact], list[int], tuple[tuple[Any, ...] | None, ...], list[int]], None
        ] = _compile("keep", source, namespace)


class Relevance:
    """The positive patterns of one hook's rules, indexed by fact type and value set."""

    def __init__(self, rules: Sequence[RuleIR]) -> None:
        by_signature: dict[tuple[Any, ...], _Test] = {}
        # what a join refers to: the pattern and its own tests, by slot
        self._referable: dict[SlotKey, tuple[PatternIR, _Test]] = {}
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
                signature = (pattern.fact_type, own)
                test = by_signature.get(signature)
                if test is None:
                    fact_class = FACT_CLASSES.get(pattern.fact_type)
                    test = by_signature[signature] = _Test(own, fact_class)
                slot = _Slot((ir.engine_name, pattern.binding), test, joins)
                self._referable[slot.key] = (pattern, test)
                for vs in pattern.valuesets or ("",):
                    table.setdefault((pattern.fact_type, vs), []).append(slot)
        self._table = table
        self._groups: dict[tuple[str, tuple[str, ...]], _GroupTest] = {}

    def select(self, facts: Sequence[Fact]) -> tuple[list[int], FactIndex]:
        """Positions (in order) of the facts some positive pattern could bind, and the index of
        all facts by type and value set (for the absence checks).

        Facts are grouped by (type, value sets) first: the facts of one group meet the same
        patterns, tested by one generated function per group (:class:`_GroupTest`), and the
        join bounds are known before any group is tested (they need the index)."""
        index = FactIndex()
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        # keyed by value sets first (a fact's type rarely differs from that of the facts with
        # the same value sets, and a tuple key per fact cost a quarter of the filter's time)
        by_valuesets: dict[tuple[str, ...], tuple[type[Fact], list[int]]] = {}
        for position, fact in enumerate(facts):
            entry = by_valuesets.get(fact.valuesets)
            if entry is not None and entry[0] is type(fact):
                entry[1].append(position)
            elif entry is None:
                by_valuesets[fact.valuesets] = (type(fact), [position])
            else:  # another type with these value sets (an order and the results of one code)
                groups.setdefault((fact.fact_type, fact.valuesets), []).append(position)
        for valuesets, (fact_class, positions) in by_valuesets.items():
            # extend, not assign: a subclass shares its base class's fact type
            groups.setdefault((fact_class.fact_type, valuesets), []).extend(positions)
        by_key = index.by_key
        for (fact_type, valuesets), positions in groups.items():
            members = [facts[p] for p in positions]
            by_key.setdefault((fact_type, ""), []).extend(members)
            for vs in valuesets:
                by_key.setdefault((fact_type, vs), []).extend(members)
        kept: list[int] = []
        bounds: dict[SlotKey, tuple[Any, ...] | None] = {}
        referred: dict[tuple[str, tuple[str, ...], _Test], list[Fact]] = {}
        for key, positions in groups.items():
            if key[0] == "derived":
                kept += positions
                continue
            tester = self._group(key)
            for slot in tester.joined:
                if slot.key not in bounds:
                    bounds[slot.key] = self._join_bounds(slot, index, referred)
            within = tuple(bounds[slot.key] for slot in tester.joined)
            tester.keep(facts, positions, within, kept)
        kept.sort()
        return kept, index

    def _group(self, key: tuple[str, tuple[str, ...]]) -> _GroupTest:
        """The generated test for facts of one (type, value sets), cached: the combinations are
        few and fixed by the pack and the terminology."""
        group = self._groups.get(key)
        if group is None:
            fact_class = FACT_CLASSES.get(key[0])
            group = self._groups[key] = _GroupTest(self._slots_for(*key), fact_class)
        return group

    def _slots_for(self, fact_type: str, valuesets: tuple[str, ...]) -> list[_Slot]:
        """The slots a fact of this type and these value sets meets (built once per group,
        by :meth:`_group`)."""
        found = list(self._table.get((fact_type, ""), ()))
        for vs in valuesets:
            found += [s for s in self._table.get((fact_type, vs), ()) if s not in found]
        return _without_repeated_tests(found)

    def _join_bounds(
        self,
        slot: _Slot,
        index: FactIndex,
        referred: dict[tuple[str, tuple[str, ...], _Test], list[Fact]],
    ) -> tuple[Any, ...] | None:
        """The operands of the join conditions of ``slot`` as tests on the fact's own fields
        (:func:`_bound`), against the facts that pass the own tests of the patterns they refer
        to; None when one cannot hold for any fact. ``referred`` caches those facts for this
        request (many rules refer to an "active DHEA" pattern with the same tests)."""
        operands = []
        for cond, other in slot.joins:
            pattern, test = self._referable[other]
            key = (pattern.fact_type, pattern.valuesets, test)
            candidates = referred.get(key)
            if candidates is None:
                found = index.facts(pattern.fact_type, pattern.valuesets)
                candidates = referred[key] = test.pick(found)
            operand = _bound(cond, candidates)
            if operand is None:
                return None
            operands.append(operand)
        return tuple(operands)


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


class AbsenceTest:
    """Whether a fact of the request matches an absent pattern, given the facts the rule bound
    (``no PHQ-9 after base.day and before rx.episode_start_day + 7 days``): one generated
    function per pattern, on the fact object. It is what :func:`cds.engine.matches_pattern`
    says of the fact's view; absence checks run over whole histories, so they get the fast
    form. Derived facts (rare as absence targets) go through their views."""

    __slots__ = ("matches",)

    def __init__(self, pattern: PatternIR, on_view: Callable[[Fact, Bound], bool]) -> None:
        self.matches: Callable[[Fact, Bound], bool] = on_view
        fact_class = FACT_CLASSES.get(pattern.fact_type)
        if fact_class is None or pattern.name is not None:
            return
        namespace: dict[str, Any] = {"EMPTY": {}}
        read = _reader(fact_class)
        own = [(c.field, c.op, c.value) for c in pattern.conds if not isinstance(c.value, Ref)]
        terms = _terms(own, read, namespace, "c")
        for n, cond in enumerate(c for c in pattern.conds if isinstance(c.value, Ref)):
            ref = cond.value
            assert isinstance(ref, Ref)
            namespace[f"b{n}"], namespace[f"r{n}"], namespace[f"o{n}"] = (
                ref.binding,
                ref.field,
                ref.offset,
            )
            # the other fact's field, plus the offset (a missing field: the test is false)
            other = f"(e := bound.get(b{n}, EMPTY).get(r{n})) is not None"
            operand = f"e + o{n}" if ref.offset else "e"
            terms.append(
                f"{read(cond.field)} is not None and {other} and v {_OPERATORS[cond.op]} {operand}"
            )
        expression = " and ".join(f"({t})" for t in terms) or "True"
        source = ["def matches(fact, bound):", "    try:", f"        return bool({expression})"]
        source += ["    except TypeError:", "        return False"]
        self.matches = _compile("matches", source, namespace)


class FactIndex:
    """Every fact of a request by type and value set: what the absence checks search (``no
    DHEA-S in the last 12 months`` looks at DHEA-S results only, as fact objects)."""

    __slots__ = ("by_key",)

    def __init__(self) -> None:
        """An empty index: :meth:`Relevance.select` fills ``by_key``."""
        self.by_key: dict[tuple[str, str], list[Fact]] = {}

    def facts(self, fact_type: str, valuesets: Sequence[str]) -> list[Fact]:
        """The facts of ``fact_type`` in any of ``valuesets`` (all of the type when none is
        given; a fact in several of them comes once per value set). With one value set this is
        the index's own list, not a copy: read it, do not change it."""
        if len(valuesets) == 1:
            return self.by_key.get((fact_type, valuesets[0]), [])
        found: list[Fact] = []
        for vs in valuesets or ("",):
            found += self.by_key.get((fact_type, vs), ())
        return found
