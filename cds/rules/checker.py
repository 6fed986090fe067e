"""Semantic checks of rule files and their translation into the resolved form (:mod:`cds.rules.ir`).

Every problem is collected, never just the first, and each points at a file, line and column,
names the rule and suggests a fix where a close name exists (zeroSteiner/rule-engine style).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from cds.facts import FACT_CLASSES, FieldSpec, Kind, field_specs, render_width, to_day
from cds.rules._yaml import LoadedYaml, Loc
from cds.rules.durations import duration_days, is_duration
from cds.rules.ir import Cond, DeriveIR, Operand, PatternIR, Ref, RuleIR
from cds.rules.model import HOOKS, OPERATORS, PLACEHOLDER, Hook, Pattern, Rule, Status
from cds.rules.problems import Code, Problem, suggest
from cds.rules.terminology import Terminology
from cds.units import KNOWN_UNITS, UnitError, convert

SUMMARY_LIMIT = 139  # CDS Hooks: "<140 characters"; cds/cards.py cuts at the same limit
WITHIN_FIELD = {
    "lab": "days_ago",
    "observation": "days_ago",
    "condition": "onset_days_ago",
    "medication": "start_days_ago",
    "order": "days_ago",
}
_QUANTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([^\s\d].*)$")
_FACT_TYPES = (*FACT_CLASSES, "derived")


@dataclass
class _Ctx:
    """State for checking one rule file."""

    doc: LoadedYaml
    rule_id: str | None
    problems: list[Problem]

    def add(
        self,
        loc: Loc,
        code: Code,
        message: str,
        suggestion: str | None = None,
        *,
        written: str | None = None,
    ) -> None:
        """``written``: text inside the value at ``loc`` to point at (a placeholder)."""
        pos = self.doc.find(loc, written) if written else self.doc.position(loc)
        self.problems.append(
            Problem(self.doc.path, pos.line, pos.col, code, message, self.rule_id, suggestion)
        )


@dataclass
class _Binding:
    fact_type: str
    specs: dict[str, FieldSpec]
    lab_unit: tuple[str, float | None] | None  # canonical unit and molar mass of its lab concept
    positive: bool
    required: set[str] = field(default_factory=set)


def parse_rule(doc: LoadedYaml, problems: list[Problem]) -> Rule | None:
    """Schema-check one rule file; translate pydantic's errors into positioned problems."""
    data = doc.data
    rule_id = data.get("id") if isinstance(data, dict) else None
    ctx = _Ctx(doc, rule_id if isinstance(rule_id, str) else None, problems)
    if not isinstance(data, dict):
        ctx.add((), Code.SCHEMA, "a rule file must be a mapping of fields (id, version, when, …)")
        return None
    try:
        return Rule.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        for error in errors:
            if not _explained_by_a_typo(error, errors):
                _report_schema_error(ctx, error, data)
        return None


def _explained_by_a_typo(error: Any, errors: list[Any]) -> bool:
    """A missing field whose misspelling sits beside it (``sumary:`` for ``summary:``): the
    unknown-field error says it all, at the line of the typo."""
    if error["type"] != "missing":
        return False
    *parent, name = error["loc"]
    for other in errors:
        if other["type"] == "extra_forbidden":
            *typo_parent, typo = other["loc"]
            if typo_parent == parent and suggest(typo, [str(name)]) == name:
                return True
    return False


def _report_schema_error(ctx: _Ctx, error: Any, data: Any) -> None:
    loc = _data_loc(tuple(error["loc"]), data)
    kind = error["type"]
    where = ".".join(str(p) for p in loc) or "(file)"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], data)
        ctx.add(loc, Code.UNKNOWN_FIELD, f"unknown field '{where}'", suggest(loc[-1], allowed))
    elif kind == "literal_error" and loc[:1] == ("hooks",):
        ctx.add(
            loc,
            Code.UNKNOWN_HOOK,
            f"unknown hook {error['input']!r}; hooks are " + ", ".join(HOOKS),
            suggest(error["input"], HOOKS),
        )
    elif kind in ("literal_error", "enum"):
        expected = re.findall(r"'([^']+)'", error.get("ctx", {}).get("expected", ""))
        ctx.add(loc, Code.SCHEMA, f"{where}: {error['msg']}", suggest(error["input"], expected))
    elif kind == "missing":
        ctx.add(loc[:-1] or loc, Code.SCHEMA, f"missing required field '{where}'")
    else:
        ctx.add(loc, Code.SCHEMA, f"{where}: {error['msg']}")


def _data_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """Drop pydantic's union-member names from a location: keep the parts that exist in the data."""
    out: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            out.append(part)
            node = node[part]
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and not part[:1].isupper()
            and ("[" not in part)
        ):
            out.append(part)  # a missing or unknown key
            node = None
    return tuple(out)


def _allowed_keys(parent: Loc, data: Any) -> list[str]:
    """Field names (with aliases) of the model at ``parent`` in the rule schema."""
    candidates: list[Any] = [Rule]
    for part in parent:
        following: list[Any] = []
        for candidate in candidates:
            following.extend(_step(candidate, part))
        candidates = following
    names: list[str] = []
    for model in (m for candidate in candidates for m in _models(candidate)):
        for name, info in model.model_fields.items():
            names.append(info.alias or name)
    return names


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (``Card | None`` → ``[Card]``)."""
    if isinstance(annotation, type):
        return [annotation] if issubclass(annotation, BaseModel) else []
    return [m for arg in get_args(annotation) for m in _models(arg)]


def _step(annotation: Any, part: str | int) -> list[Any]:
    args = get_args(annotation)
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return [info.annotation]
        return []
    if args:
        out: list[Any] = []
        origin = getattr(annotation, "__origin__", None)
        if origin is list and isinstance(part, int):
            return [args[0]]
        if origin is dict and isinstance(part, str):
            return [args[1]]
        for arg in args:
            out.extend(_step(arg, part))
        return out
    return []


def _unrestricted_patient(pattern: Pattern) -> bool:
    """Every request has exactly one patient fact: with nothing to test, it always matches."""
    return (
        pattern.fact == "patient"
        and not pattern.absent
        and not pattern.where
        and pattern.in_ is None
        and pattern.within is None
        and pattern.window is None
    )


class RuleChecker:
    """Checks parsed rules against the fact vocabulary and terminology; yields :class:`RuleIR`."""

    def __init__(self, terminology: Terminology) -> None:
        self.terminology = terminology
        self.derived_specs: dict[str, dict[str, FieldSpec]] = {}

    def check_all(
        self, parsed: list[tuple[LoadedYaml, Rule]], problems: list[Problem]
    ) -> list[RuleIR]:
        self._collect_derived(parsed)
        seen: dict[str, LoadedYaml] = {}
        out: list[RuleIR] = []
        for doc, rule in parsed:
            ctx = _Ctx(doc, rule.id, problems)
            if rule.id in seen:
                first = seen[rule.id]
                pos = first.position(("id",))
                ctx.add(
                    ("id",),
                    Code.DUPLICATE_ID,
                    f"rule id '{rule.id}' is already used by {first.path}:{pos.line}",
                )
                continue
            seen[rule.id] = doc
            if doc.path.stem != rule.id:
                ctx.add(
                    ("id",),
                    Code.ID_NOT_FILENAME,
                    f"rule id '{rule.id}' differs from its file name '{doc.path.name}'",
                    f"{doc.path.stem}",
                )
            ir = self._check_rule(ctx, rule)
            if ir is not None:
                out.append(ir)
        self._check_cycles(out, problems)
        return out

    # -- derived facts -------------------------------------------------------------------------

    def _collect_derived(self, parsed: list[tuple[LoadedYaml, Rule]]) -> None:
        """Types of derived facts' fields, from the fields they copy (resolved through chains)."""
        derives = {rule.derive.name: rule for _, rule in parsed if rule.derive}
        resolving: set[str] = set()

        def resolve(name: str) -> dict[str, FieldSpec]:
            if name in self.derived_specs:
                return self.derived_specs[name]
            if name in resolving or name not in derives:
                return {}
            resolving.add(name)
            rule = derives[name]
            assert rule.derive is not None
            bindings: dict[str, dict[str, FieldSpec]] = {}
            for i, pattern in enumerate(rule.when):
                binding = pattern.as_ or f"_p{i}"
                if pattern.fact == "derived":
                    bindings[binding] = resolve(pattern.name or "")
                else:
                    bindings[binding] = field_specs(pattern.fact)
            specs: dict[str, FieldSpec] = {"id": field_specs("patient")["id"]}
            for out_field, source in rule.derive.fields.items():
                binding, _, src_field = source.partition(".")
                spec = bindings.get(binding, {}).get(src_field)
                specs[out_field] = spec or FieldSpec(Kind.TEXT, f"copied from {source}")
            resolving.discard(name)
            self.derived_specs[name] = specs
            return specs

        for name in derives:
            resolve(name)

    def _check_cycles(self, rules: list[RuleIR], problems: list[Problem]) -> None:
        producers: dict[str, list[RuleIR]] = {}
        for ir in rules:
            if ir.derive:
                producers.setdefault(ir.derive.name, []).append(ir)
        graph = {
            ir.id: [p.id for name in ir.consumes for p in producers.get(name, [])] for ir in rules
        }
        by_id = {ir.id: ir for ir in rules}
        state: dict[str, int] = {}
        reported: set[frozenset[str]] = set()

        def visit(node: str, stack: list[str]) -> None:
            state[node] = 1
            for nxt in graph.get(node, []):
                if state.get(nxt) == 1:
                    cycle = [*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        ir = by_id[nxt]
                        doc_pos = _first_line(ir.path, "derive")
                        problems.append(
                            Problem(
                                ir.path,
                                doc_pos,
                                1,
                                Code.DERIVE_CYCLE,
                                "derived facts form a cycle: "
                                + " -> ".join(reversed(cycle))
                                + "; a rule may not (indirectly) consume what it derives",
                                ir.id,
                            )
                        )
                elif state.get(nxt) is None:
                    visit(nxt, [*stack, nxt])
            state[node] = 2

        for node in graph:
            if node not in state:
                visit(node, [node])

    # -- one rule -------------------------------------------------------------------------------

    def _check_rule(self, ctx: _Ctx, rule: Rule) -> RuleIR | None:
        before = len(ctx.problems)
        if not rule.when:
            ctx.add(
                ("when",),
                Code.EMPTY_CONDITION,
                "'when' is empty: the rule would match every patient; add at least one pattern",
            )
        elif all(p.absent for p in rule.when):
            ctx.add(
                ("when",),
                Code.EMPTY_CONDITION,
                "every pattern is 'absent': add a pattern that must be present",
            )
        elif all(_unrestricted_patient(p) for p in rule.when):
            ctx.add(
                ("when",),
                Code.EMPTY_CONDITION,
                "a bare 'fact: patient' holds for every patient: add 'where' (age, sex, "
                "pregnant…) or another pattern",
            )
        if rule.status is Status.ACTIVE and not rule.citations:
            ctx.add(
                ("citations",),
                Code.NO_CITATION,
                "an active rule needs at least one citation (url and section)",
            )
        bindings: dict[str, _Binding] = {}
        patterns: list[PatternIR] = []
        consumes: set[str] = set()
        for i, pattern in enumerate(rule.when):
            ir = self._check_pattern(ctx, ("when", i), i, pattern, bindings)
            if ir is not None:
                patterns.append(ir)
                if ir.fact_type == "derived" and ir.name:
                    consumes.add(ir.name)
        patterns = [self._with_required(p, bindings) for p in patterns]
        if rule.on_order_hooks is not None:
            names = rule.on_order_hooks.draft
            drafts = ("medication", "order")
            for name in [names] if isinstance(names, str) else names:
                bound = bindings.get(name)
                if bound is None or not bound.positive or bound.fact_type not in drafts:
                    choices = [
                        b for b, v in bindings.items() if v.positive and v.fact_type in drafts
                    ]
                    ctx.add(
                        ("on_order_hooks", "draft"),
                        Code.UNKNOWN_BINDING,
                        f"'{name}' must name a present medication or order pattern",
                        suggest(name, choices),
                    )
        derive = self._check_derive(ctx, rule, bindings)
        self._check_card(ctx, rule, bindings)
        if rule.memory:
            for j, name in enumerate(rule.memory.once_per):
                if name not in bindings:
                    ctx.add(
                        ("memory", "once_per", j),
                        Code.UNKNOWN_BINDING,
                        f"unknown binding '{name}'",
                        suggest(name, bindings),
                    )
            if rule.memory.quiet_after_feedback:
                self._duration(
                    ctx, ("memory", "quiet_after_feedback"), rule.memory.quiet_after_feedback
                )
        if len(ctx.problems) > before:
            return None
        return RuleIR(rule, ctx.doc.path, tuple(patterns), derive, frozenset(consumes))

    def _check_pattern(
        self, ctx: _Ctx, loc: Loc, index: int, pattern: Pattern, bindings: dict[str, _Binding]
    ) -> PatternIR | None:
        binding = pattern.as_ or f"_p{index}"
        if pattern.as_ and pattern.as_ in bindings:
            ctx.add(
                (*loc, "as"),
                Code.DUPLICATE_BINDING,
                f"binding '{pattern.as_}' is used by an earlier pattern; pick another name",
            )
        if pattern.fact == "derived":
            if not pattern.name:
                ctx.add(loc, Code.SCHEMA, "a pattern on a derived fact needs 'name'")
                return None
            if pattern.name not in self.derived_specs:
                ctx.add(
                    (*loc, "name"),
                    Code.UNKNOWN_DERIVED,
                    f"no rule derives a fact named '{pattern.name}'",
                    suggest(pattern.name, self.derived_specs),
                )
                return None
            if pattern.absent:
                ctx.add(
                    (*loc, "absent"),
                    Code.ABSENT_DERIVED,
                    "absence of a derived fact depends on rule firing order; derive the "
                    "positive fact instead (e.g. 'no-recent-dhea-s')",
                )
            specs = self.derived_specs[pattern.name]
        else:
            if pattern.name:
                ctx.add((*loc, "name"), Code.SCHEMA, "'name' is only for derived facts")
            specs = field_specs(pattern.fact)
        valuesets = self._valuesets(ctx, (*loc, "in"), pattern.in_, pattern.fact)
        lab_unit = self._lab_unit(valuesets) if pattern.fact == "lab" else None
        current = _Binding(pattern.fact, specs, lab_unit, not pattern.absent)
        visible = dict(bindings)
        visible[binding] = current
        conds: list[Cond] = []
        for name, raw in pattern.where.items():
            conds.extend(
                self._check_where(
                    ctx, (*loc, "where", name), name, raw, current, visible, binding, pattern.absent
                )
            )
        if pattern.within:
            window_field = WITHIN_FIELD.get(pattern.fact)
            days = self._duration(ctx, (*loc, "within"), pattern.within)
            if window_field is None:
                ctx.add(
                    (*loc, "within"),
                    Code.SCHEMA,
                    f"'within' needs a dated fact; {pattern.fact} facts have no date",
                )
            elif days is not None:
                conds.append(Cond(window_field, "lte", days))
                if specs[window_field].optional:
                    conds.append(Cond(window_field, "exists", True))
        if pattern.window:
            wf = pattern.window.field
            spec = specs.get(wf)
            if spec is None or spec.kind is not Kind.DAY:
                day_fields = [k for k, s in specs.items() if s.kind is Kind.DAY]
                ctx.add(
                    (*loc, "window", "field"),
                    Code.UNKNOWN_FACT_FIELD,
                    f"'{wf}' is not a date field of {pattern.fact} facts",
                    suggest(wf, day_fields),
                )
            else:
                for side, op in (("after", "gte"), ("before", "lte")):
                    operand = getattr(pattern.window, side)
                    if operand is not None:
                        ref = self._ref(
                            ctx,
                            (*loc, "window", side),
                            operand.ref,
                            operand.offset,
                            spec,
                            visible,
                            binding,
                            pattern.absent,
                        )
                        if ref is not None:
                            conds.append(Cond(wf, op, ref))
                if spec.optional:
                    conds.append(Cond(wf, "exists", True))
        if pattern.as_ or not pattern.absent:
            bindings[binding] = current
        return PatternIR(
            binding, pattern.fact, pattern.name, valuesets, tuple(conds), pattern.absent
        )

    def _with_required(self, pattern: PatternIR, bindings: dict[str, _Binding]) -> PatternIR:
        """Joins on an optional field need that field to exist on the referenced fact."""
        binding = bindings.get(pattern.binding)
        if binding is None or not binding.required:
            return pattern
        have = {(c.field, c.op) for c in pattern.conds}
        extra = tuple(
            Cond(f, "exists", True) for f in sorted(binding.required) if (f, "exists") not in have
        )
        return PatternIR(
            pattern.binding,
            pattern.fact_type,
            pattern.name,
            pattern.valuesets,
            pattern.conds + extra,
            pattern.absent,
        )

    def _valuesets(
        self, ctx: _Ctx, loc: Loc, raw: str | list[str] | None, fact: str
    ) -> tuple[str, ...]:
        if raw is None:
            return ()
        names = [raw] if isinstance(raw, str) else raw
        kinds = _KINDS_OF_FACT.get(fact)
        for j, name in enumerate(names):
            where = loc if isinstance(raw, str) else (*loc, j)
            valueset = self.terminology.valuesets.get(name)
            if valueset is None:
                ctx.add(
                    where,
                    Code.UNKNOWN_VALUESET,
                    f"unknown value set '{name}'",
                    suggest(name, self.terminology.valuesets),
                )
            elif kinds is not None and valueset.kind not in kinds:
                fitting = [n for n, v in self.terminology.valuesets.items() if v.kind in kinds]
                ctx.add(
                    where,
                    Code.UNKNOWN_VALUESET,
                    f"value set '{name}' holds {valueset.kind} codes: a {fact} pattern never"
                    " matches it",
                    suggest(name, fitting),
                )
        return tuple(names)

    def _lab_unit(self, valuesets: tuple[str, ...]) -> tuple[str, float | None] | None:
        units = {
            (lab.unit, lab.molar_mass_g_per_mol)
            for vs in valuesets
            if (lab := self.terminology.lab_for_valuesets((vs,))) is not None and lab.unit
        }
        return units.pop() if len(units) == 1 else None

    def _duration(self, ctx: _Ctx, loc: Loc, text: str) -> float | None:
        try:
            return duration_days(text)
        except ValueError:
            ctx.add(loc, Code.BAD_DURATION, f"{text!r} is not an ISO 8601 duration", "P12M")
            return None

    def _check_where(
        self,
        ctx: _Ctx,
        loc: Loc,
        name: str,
        raw: Any,
        binding: _Binding,
        visible: dict[str, _Binding],
        self_name: str,
        absent: bool,
    ) -> list[Cond]:
        spec = binding.specs.get(name)
        if spec is None:
            ctx.add(
                loc,
                Code.UNKNOWN_FACT_FIELD,
                f"{binding.fact_type} facts have no field '{name}'",
                suggest(name, binding.specs),
            )
            return []
        if isinstance(raw, dict) and "ref" in raw:
            raw = {"eq": raw}
        if not isinstance(raw, dict):
            raw = {"eq": raw}
        conds: list[Cond] = []
        for op, value in raw.items():
            if op not in OPERATORS:
                ctx.add(
                    (*loc, op),
                    Code.UNKNOWN_OPERATOR,
                    f"unknown operator '{op}'; operators are " + ", ".join(OPERATORS),
                    suggest(op, OPERATORS),
                )
                continue
            operand = self._operand(
                ctx, (*loc, op), name, op, value, spec, binding, visible, self_name, absent
            )
            if operand is not None:
                conds.append(Cond(name, op, operand))
        if spec.optional and not any(c.op == "exists" for c in conds):
            conds.append(Cond(name, "exists", True))
        return conds

    def _operand(
        self,
        ctx: _Ctx,
        loc: Loc,
        name: str,
        op: str,
        value: Any,
        spec: FieldSpec,
        binding: _Binding,
        visible: dict[str, _Binding],
        self_name: str,
        absent: bool,
    ) -> Operand | None:
        if op == "exists":
            if not isinstance(value, bool):
                ctx.add(loc, Code.TYPE_MISMATCH, "'exists' takes true or false")
                return None
            return value
        if op == "in":
            if not isinstance(value, list) or not value:
                ctx.add(loc, Code.TYPE_MISMATCH, "'in' takes a non-empty list of values")
                return None
            items = [
                self._scalar(ctx, (*loc, j), name, v, spec, binding) for j, v in enumerate(value)
            ]
            if any(item is None for item in items):
                return None
            return tuple(item for item in items if item is not None and not isinstance(item, Ref))
        if isinstance(value, dict):
            if "ref" not in value or set(value) - {"ref", "offset"}:
                ctx.add(
                    loc,
                    Code.SCHEMA,
                    "a join is written {ref: binding.field, offset: ...}",
                    suggest(next(iter(value), ""), ["ref", "offset"]),
                )
                return None
            return self._ref(
                ctx, loc, value["ref"], value.get("offset"), spec, visible, self_name, absent
            )
        if op in ("gt", "gte", "lt", "lte") and spec.kind in (Kind.TEXT, Kind.FLAG):
            ctx.add(
                loc,
                Code.TYPE_MISMATCH,
                f"'{name}' is {spec.kind.value}; '{op}' compares numbers or dates",
            )
            return None
        return self._scalar(ctx, loc, name, value, spec, binding)

    def _scalar(
        self, ctx: _Ctx, loc: Loc, name: str, value: Any, spec: FieldSpec, binding: _Binding
    ) -> float | str | bool | None:
        kind = spec.kind
        if kind is Kind.FLAG:
            if isinstance(value, bool):
                return value
            ctx.add(loc, Code.TYPE_MISMATCH, f"'{name}' is a flag: write true or false")
            return None
        if kind is Kind.TEXT:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                ctx.add(loc, Code.TYPE_MISMATCH, f"'{name}' is text: write a string")
                return None
            text = str(value)
            if spec.choices and text not in spec.choices:
                ctx.add(
                    loc,
                    Code.TYPE_MISMATCH,
                    f"'{name}' is one of " + ", ".join(spec.choices),
                    suggest(text, spec.choices),
                )
                return None
            return text
        if kind is Kind.DAY:
            if isinstance(value, date):
                return to_day(value)
            ctx.add(
                loc,
                Code.TYPE_MISMATCH,
                f"'{name}' is a date: write a date (2026-01-31) or a join "
                "{ref: binding.field, offset: -P90D}",
            )
            return None
        if kind is Kind.DAYS and isinstance(value, str):
            return self._duration(ctx, loc, value)
        if isinstance(value, bool):
            ctx.add(loc, Code.TYPE_MISMATCH, f"'{name}' is a number, not true/false")
            return None
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and kind is Kind.NUMBER:
            return self._quantity(ctx, loc, name, value, spec, binding)
        return self._bad_number(ctx, loc, name, value)

    def _bad_number(self, ctx: _Ctx, loc: Loc, name: str, value: Any) -> float | None:
        ctx.add(loc, Code.TYPE_MISMATCH, f"'{name}' is a number; {value!r} is not")
        return None

    def _quantity(
        self, ctx: _Ctx, loc: Loc, name: str, text: str, spec: FieldSpec, binding: _Binding
    ) -> float | None:
        match = _QUANTITY.match(text)
        if not match:
            return self._bad_number(ctx, loc, name, text)
        number, unit = float(match.group(1)), match.group(2).strip()
        if spec.unit_of == "concept":
            if binding.lab_unit is None:
                ctx.add(
                    loc,
                    Code.UNKNOWN_UNIT,
                    f"'{text}' has a unit but the pattern's 'in' does not name one lab "
                    "concept, so there is no unit to convert to",
                )
                return None
            target, molar_mass = binding.lab_unit
        elif name == "dose_mg_per_day":
            target, molar_mass, unit = "mg", None, re.sub(r"/d(ay)?$", "", unit)
        else:
            ctx.add(loc, Code.UNKNOWN_UNIT, f"'{name}' takes a plain number, without a unit")
            return None
        try:
            return convert(number, unit, target, molar_mass)
        except UnitError as exc:
            ctx.add(loc, Code.UNKNOWN_UNIT, f"{exc}", suggest(unit, KNOWN_UNITS))
            return None

    def _ref(
        self,
        ctx: _Ctx,
        loc: Loc,
        ref: Any,
        offset: Any,
        spec: FieldSpec,
        visible: dict[str, _Binding],
        self_name: str,
        absent: bool,
    ) -> Ref | None:
        if not isinstance(ref, str) or "." not in ref:
            ctx.add(loc, Code.SCHEMA, "'ref' is written binding.field, e.g. rx.episode_start_day")
            return None
        name, _, ref_field = ref.partition(".")
        target = visible.get(name)
        if target is None or name == self_name:
            ctx.add(
                loc,
                Code.UNKNOWN_BINDING,
                f"'{name}' is not bound by an earlier pattern (joins look upward)",
                suggest(name, [b for b in visible if b != self_name]),
            )
            return None
        if not target.positive:
            ctx.add(loc, Code.UNKNOWN_BINDING, f"'{name}' is an absent pattern; it binds nothing")
            return None
        ref_spec = target.specs.get(ref_field)
        if ref_spec is None:
            ctx.add(
                loc,
                Code.UNKNOWN_FACT_FIELD,
                f"{target.fact_type} facts have no field '{ref_field}'",
                suggest(ref_field, target.specs),
            )
            return None
        if ref_spec.optional:
            target.required.add(ref_field)
        shift = 0.0
        if offset is not None:
            if isinstance(offset, str) and is_duration(offset):
                shift = duration_days(offset)
            elif isinstance(offset, int | float) and not isinstance(offset, bool):
                shift = float(offset)
            else:
                ctx.add(
                    loc,
                    Code.BAD_DURATION,
                    f"offset {offset!r} is not a number or duration",
                    "-P90D",
                )
                return None
        del absent
        return Ref(name, ref_field, shift)

    def _check_derive(
        self, ctx: _Ctx, rule: Rule, bindings: dict[str, _Binding]
    ) -> DeriveIR | None:
        if rule.derive is None:
            return None
        fields: list[tuple[str, str, str]] = []
        for out_field, source in rule.derive.fields.items():
            name, _, src = source.partition(".")
            loc: Loc = ("derive", "fields", out_field)
            if name not in bindings or not bindings[name].positive:
                ctx.add(
                    loc, Code.UNKNOWN_BINDING, f"unknown binding '{name}'", suggest(name, bindings)
                )
            elif src not in bindings[name].specs:
                ctx.add(
                    loc,
                    Code.UNKNOWN_FACT_FIELD,
                    f"no field '{src}' on '{name}'",
                    suggest(src, bindings[name].specs),
                )
            else:
                fields.append((out_field, name, src))
        return DeriveIR(rule.derive.name, tuple(fields))

    def _check_card(self, ctx: _Ctx, rule: Rule, bindings: dict[str, _Binding]) -> None:
        if rule.card is None:
            return
        worst = len(rule.card.summary)
        for part in ("summary", "detail"):
            text = getattr(rule.card, part)
            for match in PLACEHOLDER.finditer(text):
                name, fld = match.groups()
                loc: Loc = ("card", part)
                binding = bindings.get(name)
                if binding is None or not binding.positive:
                    ctx.add(
                        loc,
                        Code.UNKNOWN_BINDING,
                        f"placeholder {match.group(0)} names no bound fact",
                        suggest(name, [b for b, v in bindings.items() if v.positive]),
                        written=match.group(0),
                    )
                elif fld not in binding.specs:
                    ctx.add(
                        loc,
                        Code.UNKNOWN_FACT_FIELD,
                        f"placeholder {match.group(0)}: no field '{fld}' on '{name}'",
                        suggest(fld, binding.specs),
                        written=match.group(0),
                    )
                elif part == "summary":
                    worst += render_width(binding.specs[fld]) - len(match.group(0))
        if worst > SUMMARY_LIMIT:
            ctx.add(
                ("card", "summary"),
                Code.SUMMARY_TOO_LONG,
                f"summary can reach {worst} characters with the widest values; the limit "
                f"is {SUMMARY_LIMIT}",
            )
        for part in ("summary", "detail"):
            for stray in _BRACES.finditer(getattr(rule.card, part)):
                if not PLACEHOLDER.fullmatch(stray.group(0)):
                    ctx.add(
                        ("card", part),
                        Code.UNKNOWN_BINDING,
                        f"{stray.group(0)} is not a placeholder and would be shown as it is;"
                        " write {alias.field} in lower case, without spaces",
                        written=stray.group(0),
                    )
        self._check_actions(ctx, rule, bindings)

    def _check_actions(self, ctx: _Ctx, rule: Rule, bindings: dict[str, _Binding]) -> None:
        """Suggestion actions the card builder can carry out on a draft order."""
        assert rule.card is not None
        for s_index, suggestion in enumerate(rule.card.suggestions):
            for a_index, action in enumerate(suggestion.actions):
                loc: Loc = ("card", "suggestions", s_index, "actions", a_index)
                if action.type == "delete":
                    ctx.add(loc, Code.BAD_ACTION, "delete actions are not carried out: use update")
                elif action.type == "create" and not action.resource:
                    ctx.add(loc, Code.BAD_ACTION, "a create action needs a resource")
                elif action.type == "update":
                    self._check_update(ctx, loc, action.from_binding, action.set, bindings)

    @staticmethod
    def _check_update(
        ctx: _Ctx,
        loc: Loc,
        binding: str | None,
        paths: dict[str, Any] | None,
        bindings: dict[str, _Binding],
    ) -> None:
        orders = [
            name for name, b in bindings.items() if b.positive and b.fact_type == "medication"
        ]
        if binding is None or binding not in orders:
            ctx.add(
                (*loc, "from_binding"),
                Code.BAD_ACTION,
                f"an update action names the draft order it changes with from_binding: "
                f"{binding!r} is not a medication this rule binds",
                suggest(binding or "", orders),
            )
        if not paths:
            ctx.add(loc, Code.BAD_ACTION, "an update action needs set: {path: value}")
            return
        for path in paths:
            if problem := _set_path_problem(path):
                ctx.add((*loc, "set", path), Code.BAD_ACTION, f"set path {path!r}: {problem}")


# The value-set kinds each fact type can be coded by (a medication set on a condition pattern
# makes a rule that never fires)
_KINDS_OF_FACT: dict[str, frozenset[str]] = {
    "medication": frozenset({"medication"}),
    "condition": frozenset({"condition"}),
    "lab": frozenset({"lab"}),
    "observation": frozenset({"observation"}),
    "order": frozenset({"lab", "procedure", "observation"}),
}
_BRACES = re.compile(r"\{[^{}\n]*\}")
_SEGMENT = re.compile(r"[a-z][A-Za-z0-9]*|\d+")
# MedicationRequest elements that are lists (FHIR R4): each must be followed by an index
_FHIR_LISTS = frozenset(
    {"dosageInstruction", "doseAndRate", "identifier", "category", "note", "reasonCode",
     "reasonReference", "basedOn", "insurance", "contained", "extension", "coding",
     "detectedIssue", "eventHistory", "supportingInformation", "additionalInstruction"}
)  # fmt: skip


def _set_path_problem(path: str) -> str | None:
    """What is wrong with a dotted path into a FHIR resource (None: nothing seen)."""
    parts = path.split(".")
    if not all(_SEGMENT.fullmatch(p) for p in parts) or parts[0].isdigit():
        return "write FHIR element names and list indexes joined by dots, e.g. a.0.b"
    for here, after in zip(parts, [*parts[1:], None], strict=True):
        if here in _FHIR_LISTS and (after is None or not after.isdigit()):
            return f"'{here}' is a list: give the index of the element, e.g. {here}.0"
        if after is not None and after.isdigit() and here not in _FHIR_LISTS:
            return f"'{here}' is not a list this checker knows: no index after it"
    return None


def _first_line(path: Path, key: str) -> int:
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith(f"{key}:"):
                return number
    except OSError:
        pass
    return 1


def known_hooks() -> Iterable[Hook]:
    return get_args(Hook)
