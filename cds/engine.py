"""The one module that owns durable-rules.

durable-rules 2.0.28 is unmaintained C code with global state; every hazard below was measured
(see ``docs/durable-rules.md``) and is handled here, and only here:

- No ``durable.engine.Host``: its timer threads segfault under concurrent requests. We create
  rulesets with the C API and run actions ourselves, synchronously, in the calling thread.
- The C engine mutates and keeps what it is given: definitions are serialised to JSON here.
- ``delete_state`` on a session in which no action ever ran frees uninitialised memory: a
  sentinel fact and rule make one action run in every request.
- A batch containing a fact no rule matches makes the Python wrapper defer the actions to a
  background thread: we call the C ``assert_facts`` and then drive the actions ourselves.
- Strings compare as strings (``"10" < 3.5``): every number is a float before it is asserted.
- Identical facts are de-duplicated: every fact carries a request-unique ``id``.
- ``$not`` depends on the order facts arrive in a batch: absent patterns are checked here,
  against the complete batch, before an action counts as a finding.
- A join between two patterns on the same fact type segfaults: such joins are checked here.
- With no compiled joins, durable-rules reports every combination that passes each pattern's
  own tests (one per old score of a long history): only the facts some pattern could bind are
  asserted (:mod:`cds.relevance`); absence is still checked against every fact.
- One fact matched by more than 64 patterns corrupts the heap: the validator refuses such packs.
- Each session pre-allocates memory in proportion to the rule count (23 MiB and ~2.5 ms at
  2,000 rules), so a new session per request would dominate large packs. Each ruleset keeps one
  session and reuses it: after every evaluation everything asserted is retracted. A session that
  saw an error is deleted and replaced, and every session is recycled after
  ``RECYCLE_AFTER`` evaluations; 1,024 live sessions per ruleset is a hard cap we never near.
- The extension never releases the GIL and is not thread-safe: one lock per ruleset.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import durable_rules_engine as _dre
import orjson

from cds.errors import EngineError
from cds.facts import DataStatus, Fact, engine_view, valueset_flag
from cds.relevance import AbsenceTest, Bound, FactIndex, Relevance
from cds.rules.compiler import SENTINEL_FIELD, SENTINEL_RULE, deferred_joins
from cds.rules.ir import Cond, PatternIR, Ref, RuleIR
from cds.rules.pack import RulePack

FactDict = dict[str, Any]
_ruleset_names = itertools.count(1)
_sessions = itertools.count(1)


@dataclass(frozen=True)
class Finding:
    """One match of one rule: the rule, and the facts that matched (the "why")."""

    rule_id: str
    rule_version: str
    bindings: Mapping[str, FactDict]
    notes: tuple[str, ...] = ()
    # the data the rule needs that was not obtained in full (the card carries a note, §5.11)
    missing: Mapping[str, DataStatus] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Identity of a match: rule id and the ids of the bound facts."""
        return self.rule_id, tuple(sorted((b, str(f["id"])) for b, f in self.bindings.items()))


@dataclass(frozen=True)
class Withheld:
    """A match the engine dropped because data the rule needs was not obtained in full and the
    rule declares ``missing_data.if_unavailable: silent`` (§5.11)."""

    rule_id: str
    rule_version: str
    bindings: Mapping[str, FactDict]
    missing: Mapping[str, DataStatus]


@dataclass(frozen=True)
class Outcome:
    """What one evaluation decided: the findings, and the matches silenced for missing data."""

    findings: list[Finding]
    withheld: list[Withheld]


def missing_inputs(ir: RuleIR, data_status: Mapping[str, DataStatus]) -> dict[str, DataStatus]:
    """The categories of ``ir``'s ``missing_data.needs`` that were not obtained in full; a
    category with no status counts as complete. The engine's §5.11 decision rests on this."""
    out: dict[str, DataStatus] = {}
    for category in ir.rule.missing_data.needs:
        status = data_status.get(category, DataStatus.COMPLETE)
        if status is not DataStatus.COMPLETE:
            out[category] = status
    return out


RECYCLE_AFTER = 10_000


class _CompiledRuleset:
    """One durable-rules ruleset (one hook's rules) with its lock and reusable session."""

    def __init__(self, name: str, definition: Mapping[str, Any]) -> None:
        payload = {
            rule_id: {k: v for k, v in rule.items() if k != "run"}
            for rule_id, rule in definition.items()
        }
        self.name = name
        self.handle = _dre.create_ruleset(name, json.dumps(payload, ensure_ascii=False))
        self.lock = threading.Lock()
        self.sid = f"s{next(_sessions)}"
        self.uses = 0
        self.rules: dict[str, RuleIR] = {}  # by engine name (order-hook variants included)
        self.joins: dict[str, list[tuple[str, Cond]]] = {}
        self.relevance = Relevance(())
        # per rule: its absent patterns, each with a fast matcher on fact objects
        self.absences: dict[str, list[tuple[PatternIR, Callable[[Fact, Bound], bool]]]] = {}

    def renew_session(self) -> None:
        """Delete the current session (it has always run the sentinel action) and start anew."""
        with contextlib.suppress(Exception):
            _dre.delete_state(self.handle, self.sid)
        self.sid = f"s{next(_sessions)}"
        self.uses = 0


def matches_pattern(pattern: PatternIR, fact: FactDict, bound: Mapping[str, FactDict]) -> bool:
    """Whether ``fact`` matches ``pattern`` given the facts already bound (used for absence)."""
    if fact.get("type") != pattern.fact_type:
        return False
    if pattern.valuesets and not any(fact.get(valueset_flag(v)) for v in pattern.valuesets):
        return False
    if pattern.name is not None and fact.get("name") != pattern.name:
        return False
    return all(_holds(cond, fact, bound) for cond in pattern.conds)


def _absence_test(pattern: PatternIR) -> Callable[[Fact, Bound], bool]:
    def on_view(fact: Fact, bound: Bound) -> bool:
        return matches_pattern(pattern, engine_view(fact), bound)

    return AbsenceTest(pattern, on_view).matches


def _holds(cond: Cond, fact: FactDict, bound: Mapping[str, FactDict]) -> bool:
    if cond.op == "exists":
        return (cond.field in fact) is bool(cond.value)
    if cond.field not in fact:
        return False
    actual = fact[cond.field]
    if cond.op == "in":
        assert isinstance(cond.value, tuple)
        return actual in cond.value
    expected: Any = cond.value
    if isinstance(expected, Ref):
        other = bound.get(expected.binding, {})
        if expected.field not in other:
            return False
        expected = (
            other[expected.field] + expected.offset if expected.offset else other[expected.field]
        )
    try:
        return bool(_COMPARE[cond.op](actual, expected))
    except TypeError:
        return False


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def derived_fact(ir: RuleIR, bound: Mapping[str, FactDict]) -> FactDict:
    """The fact a deriving rule asserts; its id is deterministic in the facts it came from."""
    assert ir.derive is not None
    sources = ",".join(str(bound[p.binding]["id"]) for p in ir.positive)
    fact: FactDict = {
        "type": "derived",
        "name": ir.derive.name,
        "id": f"{ir.derive.name}({sources})",
    }
    for out_field, binding, src in ir.derive.fields:
        if src in bound[binding]:
            fact[out_field] = bound[binding][src]
    return fact


class RuleEngine:
    """Evaluates normalised facts against a compiled rule pack.

    Thread-safe; a process may hold several engines (hot reload builds a new one and swaps it in).
    Rulesets are never deleted: durable-rules' ``deleteRuleset`` crashes (upstream #136).
    """

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack

        serial = next(_ruleset_names)
        self._rulesets = {}
        for hook, definition in pack.rulesets.items():
            compiled = _CompiledRuleset(f"{hook}-{pack.pack_hash}-{serial}", definition)
            compiled.rules = {ir.engine_name: ir for ir in pack.hook_rules[hook]}
            compiled.joins = {name: deferred_joins(ir) for name, ir in compiled.rules.items()}
            compiled.relevance = Relevance(pack.hook_rules[hook])
            compiled.absences = {
                name: [(p, _absence_test(p)) for p in ir.absent]
                for name, ir in compiled.rules.items()
            }
            self._rulesets[hook] = compiled

    @property
    def hooks(self) -> tuple[str, ...]:
        return tuple(self._rulesets)

    def evaluate(
        self,
        facts: Sequence[Fact],
        *,
        hook: str,
        now: datetime,
        data_status: Mapping[str, DataStatus] | None = None,
    ) -> list[Finding]:
        """Every match of every live rule for ``hook`` whose effective period contains ``now``."""
        return self.outcome(facts, hook=hook, now=now, data_status=data_status).findings

    def outcome(
        self,
        facts: Sequence[Fact],
        *,
        hook: str,
        now: datetime,
        data_status: Mapping[str, DataStatus] | None = None,
    ) -> Outcome:
        """:meth:`evaluate`, and the matches it silenced because data a rule needs was missing
        (the explanation reports those)."""
        ruleset = self._rulesets.get(hook)
        if ruleset is None:
            raise EngineError(f"no ruleset for hook {hook!r}")
        kept, index = ruleset.relevance.select(facts)
        matches = self._run(ruleset, index, [engine_view(facts[i]) for i in kept])
        status = data_status or {}
        today = now.date()
        findings: list[Finding] = []
        withheld: list[Withheld] = []
        for ir, bound in matches:
            if not _effective(ir, today):
                continue
            notes: tuple[str, ...] = ()
            missing = missing_inputs(ir, status)
            if missing:
                if ir.rule.missing_data.if_unavailable == "silent":
                    withheld.append(Withheld(ir.id, ir.rule.version, bound, missing))
                    continue
                notes = (
                    ir.rule.missing_data.note
                    or "Some data this rule needs could not be obtained: "
                    + ", ".join(missing)
                    + ".",
                )
            findings.append(Finding(ir.id, ir.rule.version, bound, notes, missing))
        return Outcome(findings, withheld)

    def _run(
        self, ruleset: _CompiledRuleset, base: FactIndex, asserted: list[FactDict]
    ) -> list[tuple[RuleIR, dict[str, FactDict]]]:
        """Assert ``asserted`` (the facts some pattern can bind), run the actions, retract.
        Absence is checked against ``base``, every fact of the request."""
        out: list[tuple[RuleIR, dict[str, FactDict]]] = []
        handle = ruleset.handle
        with ruleset.lock:
            sid = ruleset.sid
            batch: list[FactDict] = [{"sid": sid, "id": "_sentinel", SENTINEL_FIELD: True}]
            for fact in asserted:
                fact["sid"] = sid
                batch.append(fact)
            derived: dict[str, FactDict] = {}
            clean = False
            try:
                _, state_offset = _dre.assert_facts(handle, _dumps(batch))
                result = _dre.start_action_for_state(handle, state_offset)
                if not result:
                    raise EngineError("the sentinel rule did not fire: the engine is broken")
                message = orjson.loads(result[1])
                while True:
                    for rule_id, bound in message.items():
                        if rule_id != SENTINEL_RULE:
                            self._act(ruleset, sid, rule_id, bound, base, out, derived)
                    next_message = _dre.complete_and_start_action(handle, state_offset)
                    if not next_message:
                        break
                    message = orjson.loads(next_message)
                # leave the session as we found it, ready for the next request
                _dre.retract_facts(handle, _dumps([*batch, *derived.values()]))
                clean = True
            except EngineError:
                raise
            except Exception as exc:  # the C extension raises bare Exception with a code
                raise EngineError(f"durable-rules failed: {exc}") from exc
            finally:
                ruleset.uses += 1
                if not clean or ruleset.uses >= RECYCLE_AFTER:
                    ruleset.renew_session()
                for fact in asserted:
                    fact.pop("sid", None)
        return out

    def _act(
        self,
        ruleset: _CompiledRuleset,
        sid: str,
        rule_id: str,
        bound: dict[str, FactDict],
        base: FactIndex,
        out: list[tuple[RuleIR, dict[str, FactDict]]],
        derived: dict[str, FactDict],
    ) -> None:
        ir = ruleset.rules[rule_id]
        for fact in bound.values():
            fact.pop("sid", None)
        for binding, cond in ruleset.joins[rule_id]:
            if not _holds(cond, bound[binding], bound):
                return
        for pattern, matches in ruleset.absences[rule_id]:
            candidates = base.facts(pattern.fact_type, pattern.valuesets)
            if any(matches(fact, bound) for fact in candidates):
                return
        out.append((ir, bound))
        if ir.derive is not None:
            fact = derived_fact(ir, bound)
            if fact["id"] in derived:
                return  # the same fact from the same sources: durable-rules would ignore it
            fact["sid"] = sid
            derived[fact["id"]] = fact
            # 1 = no rule consumes it: fine, it is still retracted with the rest
            _dre.assert_fact(ruleset.handle, _dumps(fact))


def _dumps(value: Any) -> str:
    """JSON for the C engine (orjson: several times faster than json for fact batches)."""
    return orjson.dumps(value).decode()


def _effective(ir: RuleIR, today: date) -> bool:
    period = ir.rule.effective
    return (period.start is None or period.start <= today) and (
        period.end is None or today <= period.end
    )
