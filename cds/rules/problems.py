"""Validation problems, reported all at once as ``path:line:col: error CODE message``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Code(StrEnum):
    """One code per class of mistake; ``docs/rule-errors.md`` explains each."""

    YAML_SYNTAX = "E100"
    SCHEMA = "E101"
    UNKNOWN_FIELD = "E102"
    DUPLICATE_ID = "E103"
    UNKNOWN_VALUESET = "E104"
    UNKNOWN_FACT_FIELD = "E105"
    UNKNOWN_UNIT = "E106"
    UNKNOWN_HOOK = "E107"
    SUMMARY_TOO_LONG = "E108"
    DERIVE_CYCLE = "E109"
    FAN_OUT = "E110"
    EMPTY_CONDITION = "E111"
    NO_CITATION = "E112"
    UNKNOWN_BINDING = "E113"
    TYPE_MISMATCH = "E114"
    UNKNOWN_DERIVED = "E115"
    ABSENT_DERIVED = "E116"
    ID_NOT_FILENAME = "E117"
    DUPLICATE_BINDING = "E118"
    BAD_DURATION = "E119"
    UNKNOWN_OPERATOR = "E120"
    BAD_TERMINOLOGY = "E121"
    FACT_OVERLAP = "E122"
    BAD_ACTION = "E123"


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int
    col: int
    code: Code
    message: str
    rule_id: str | None = None
    suggestion: str | None = None

    def __str__(self) -> str:
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        where = f"{self.path}:{self.line}:{self.col}"
        return f"{where}: error {self.code.value}{rule} {self.message}{hint}"


def suggest(word: object, choices: Iterable[str]) -> str | None:
    """The closest known name to a misspelt one, if any is close enough."""
    if not isinstance(word, str):
        return None
    choices = list(choices)
    same_but_case = [c for c in choices if c.lower() == word.lower()]
    if same_but_case:
        return same_but_case[0]
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return matches[0] if matches else None
