"""The checked, resolved form of a rule: what the compiler and the test oracle both consume.

Durations are already days, units already converted, value sets already resolved; every field
named exists on its fact. Keeping this form small is what lets an independent interpreter (the
oracle in ``tests/oracle.py``) check the durable-rules compilation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cds.rules.model import Rule

Op = str  # eq ne gt gte lt lte in exists


@dataclass(frozen=True, slots=True)
class Ref:
    """The value of ``binding.field`` plus ``offset`` (a join)."""

    binding: str
    field: str
    offset: float = 0.0


Operand = float | str | bool | Ref | tuple[float | str | bool, ...]


@dataclass(frozen=True, slots=True)
class Cond:
    field: str
    op: Op
    value: Operand


@dataclass(frozen=True, slots=True)
class PatternIR:
    binding: str
    fact_type: str  # patient | lab | medication | condition | observation | derived
    name: str | None  # derived fact name
    valuesets: tuple[str, ...]  # any of
    conds: tuple[Cond, ...]
    absent: bool


@dataclass(frozen=True, slots=True)
class DeriveIR:
    name: str
    fields: tuple[tuple[str, str, str], ...]  # (field, binding, source field)


@dataclass(frozen=True)
class RuleIR:
    rule: Rule
    path: Path
    patterns: tuple[PatternIR, ...]
    derive: DeriveIR | None
    consumes: frozenset[str] = field(default_factory=frozenset)  # derived names it matches
    variant: str = ""  # set on order-hook variants ("zur", "inh": which binding is the draft)

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def engine_name(self) -> str:
        """The rule's name in the compiled ruleset (a rule may compile to several variants)."""
        return f"{self.rule.id}#{self.variant}" if self.variant else self.rule.id

    @property
    def positive(self) -> tuple[PatternIR, ...]:
        return tuple(p for p in self.patterns if not p.absent)

    @property
    def absent(self) -> tuple[PatternIR, ...]:
        return tuple(p for p in self.patterns if p.absent)
