"""Loading a rule pack directory: terminology, rule files, checks, compilation, manifest."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cds.errors import RulePackError
from cds.rules._yaml import LoadedYaml, YamlSyntaxError, load_yaml
from cds.rules.checker import RuleChecker, parse_rule
from cds.rules.compiler import (
    MAX_FAN_OUT,
    MAX_PATTERNS_PER_FACT,
    compile_ruleset,
    fact_overlaps,
    fan_outs,
    rules_for_hook,
)
from cds.rules.ir import RuleIR
from cds.rules.model import HOOKS, ID_PATTERN, Rule, Status
from cds.rules.problems import Code, Problem, suggest
from cds.rules.terminology import (
    LabCatalog,
    ReferenceRangeTable,
    SynonymList,
    Terminology,
    ValueSet,
)

TERMINOLOGY_DIRS = ("valuesets", "reference-ranges", "schema")
TERMINOLOGY_FILES = ("labs.yaml", "synonyms.yaml")
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class RulePack:
    """A checked, compiled rule pack: what the engine runs and ``/readyz`` reports."""

    directory: Path
    rules: tuple[RuleIR, ...]  # every rule that checked out, any status
    terminology: Terminology
    rulesets: dict[str, dict[str, dict[str, Any]]]  # hook -> durable-rules definition
    hook_rules: dict[str, tuple[RuleIR, ...]]  # hook -> the rules compiled for it (as they run)
    pack_hash: str
    include_drafts: bool = False
    by_id: dict[str, RuleIR] = field(default_factory=dict)
    memo: dict[tuple[str, str], Any] = field(default_factory=dict, compare=False, repr=False)
    """What later steps derive from one rule once per pack (e.g. a card's fixed parts), by
    (purpose, rule id). A new pack starts empty, so a reload never serves stale parts."""

    def __post_init__(self) -> None:
        self.by_id.update({ir.id: ir for ir in self.rules})

    def override_display(self, rule_id: str, version: str, system: str, code: str) -> str | None:
        """The display of an override reason the rule's card offers, if this pack holds that
        rule at that version (a reloaded rule may word its reasons differently)."""
        ir = self.by_id.get(rule_id)
        if ir is None or ir.rule.version != version or ir.rule.card is None:
            return None
        return next(
            (
                r.display
                for r in ir.rule.card.override_reasons
                if (r.system, r.code) == (system, code)
            ),
            None,
        )

    @property
    def manifest(self) -> dict[str, Any]:
        return {
            "hash": self.pack_hash,
            "rules": sorted(f"{ir.id}@{ir.rule.version}" for ir in self.live_rules),
            "valuesets": sorted(
                f"{vs.id}@{vs.version}" for vs in self.terminology.valuesets.values()
            ),
        }

    @property
    def live_rules(self) -> tuple[RuleIR, ...]:
        """Rules compiled into the engine: active ones, plus drafts when asked for."""
        wanted = {Status.ACTIVE, Status.DRAFT} if self.include_drafts else {Status.ACTIVE}
        return tuple(ir for ir in self.rules if ir.rule.status in wanted)


YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """The YAML files in ``folder``, sorted; ``.YAML`` too (an editor on Windows may save it
    so, and a file the validator skipped silently would be a rule that silently never runs)."""
    found = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in found if p.suffix.lower() in YAML_SUFFIXES and p.is_file())


def rule_files(directory: Path) -> list[Path]:
    """Every rule file under ``directory`` (terminology folders and files excluded)."""
    out = []
    for path in yaml_files(directory, recursive=True):
        relative = path.relative_to(directory)
        if relative.parts[0] in TERMINOLOGY_DIRS or str(relative) in TERMINOLOGY_FILES:
            continue
        out.append(path)
    return out


def check_pack(
    directory: Path, *, include_drafts: bool = False
) -> tuple[RulePack | None, list[Problem]]:
    """Load and check a pack; returns the pack (when there is no problem) and every problem."""
    problems: list[Problem] = []
    if not directory.is_dir():
        problems.append(Problem(directory, 1, 1, Code.YAML_SYNTAX, "no such rule pack directory"))
        return None, problems
    terminology = load_terminology(directory, problems)
    parsed: list[tuple[LoadedYaml, Rule]] = []
    for path in rule_files(directory):
        before = len(problems)
        doc = _load(path, problems)
        if doc is None:  # name the rule all the same, from its id: line
            rule_id = _written_id(path)
            problems[before:] = [replace(p, rule_id=rule_id) for p in problems[before:]]
            continue
        rule = parse_rule(doc, problems)
        if rule is not None:
            parsed.append((doc, rule))
    checker = RuleChecker(terminology)
    rules = checker.check_all(parsed, problems)
    wanted = {Status.ACTIVE, Status.DRAFT} if include_drafts else {Status.ACTIVE}
    live = [ir for ir in rules if ir.rule.status in wanted]
    hook_rules = {hook: tuple(rules_for_hook(live, hook)) for hook in HOOKS}
    rulesets = {hook: compile_ruleset(hook_rules[hook]) for hook in HOOKS}
    by_id = {ir.id: ir for ir in rules}
    reported: set[str] = set()
    for definition in rulesets.values():
        for fan in fan_outs(definition, MAX_FAN_OUT):
            if fan.node in reported:
                continue
            reported.add(fan.node)
            culprit = by_id.get(fan.rule_ids[-1].partition("#")[0])  # engine name → rule id
            path = culprit.path if culprit else directory
            problems.append(
                Problem(
                    path,
                    1,
                    1,
                    Code.FAN_OUT,
                    f"{fan.children} rules branch from one condition node (limit {MAX_FAN_OUT}; "
                    "durable-rules hangs at 512); partition them by a more specific value set or "
                    f"'name' first. Rules involved include: {', '.join(fan.rule_ids[:5])}",
                    culprit.id if culprit else None,
                )
            )
    signatures = terminology.code_signatures()
    for hook in HOOKS:
        for overlap in fact_overlaps(hook_rules[hook], signatures):
            if overlap.fact in reported:
                continue
            reported.add(overlap.fact)
            culprit = by_id.get(overlap.rule_ids[-1])
            problems.append(
                Problem(
                    culprit.path if culprit else directory,
                    1,
                    1,
                    Code.FACT_OVERLAP,
                    f"{overlap.patterns} patterns could match one {overlap.fact} fact (limit "
                    f"{MAX_PATTERNS_PER_FACT}; durable-rules corrupts memory past 64); restrict "
                    "patterns with 'in' or a concept. Rules involved include: "
                    + ", ".join(overlap.rule_ids[:5]),
                    culprit.id if culprit else None,
                )
            )
    if problems:
        return None, problems
    pack = RulePack(
        directory,
        tuple(rules),
        terminology,
        rulesets,
        hook_rules,
        hash_pack_files(directory),
        include_drafts,
    )
    return pack, []


def load_pack(directory: Path, *, include_drafts: bool = False) -> RulePack:
    """Load a pack or raise :class:`RulePackError` listing every problem."""
    pack, problems = check_pack(directory, include_drafts=include_drafts)
    if pack is None:
        raise RulePackError(list(problems))
    return pack


def load_terminology(directory: Path, problems: list[Problem]) -> Terminology:
    valuesets: dict[str, ValueSet] = {}
    for path in yaml_files(directory / "valuesets"):
        vs = _model(path, ValueSet, problems)
        if vs is not None:
            if vs.id != path.stem:
                problems.append(
                    Problem(
                        path,
                        1,
                        1,
                        Code.ID_NOT_FILENAME,
                        f"value set id '{vs.id}' differs from its file name",
                        None,
                        path.stem,
                    )
                )
            valuesets[vs.id] = vs
    for vs in valuesets.values():
        for excluded in vs.exclude_valuesets:
            if excluded not in valuesets:
                problems.append(
                    Problem(
                        directory / "valuesets" / f"{vs.id}.yaml",
                        1,
                        1,
                        Code.UNKNOWN_VALUESET,
                        f"exclude_valuesets names unknown value set '{excluded}'",
                        None,
                        suggest(excluded, valuesets),
                    )
                )
    ranges: dict[str, ReferenceRangeTable] = {}
    for path in yaml_files(directory / "reference-ranges"):
        table = _model(path, ReferenceRangeTable, problems)
        if table is not None:
            ranges[table.analyte] = table
    labs_path = directory / "labs.yaml"
    catalog = _model(labs_path, LabCatalog, problems) if labs_path.exists() else None
    labs = {lab.concept: lab for lab in catalog.labs} if catalog else {}
    for lab in labs.values():
        if lab.valueset not in valuesets:
            problems.append(
                Problem(
                    labs_path,
                    1,
                    1,
                    Code.UNKNOWN_VALUESET,
                    f"lab '{lab.concept}' names unknown value set '{lab.valueset}'",
                    None,
                    suggest(lab.valueset, valuesets),
                )
            )
    syn_path = directory / "synonyms.yaml"
    synonyms = _model(syn_path, SynonymList, problems) if syn_path.exists() else None
    return Terminology(valuesets, labs, ranges, list(synonyms.entries) if synonyms else [])


_ID_LINE = re.compile(rf"""^id:[ \t]*["']?({ID_PATTERN})["']?[ \t]*$""", re.MULTILINE)


def _written_id(path: Path) -> str | None:
    """The ``id:`` line of a rule file YAML could not read, so that its error names the rule."""
    try:
        match = _ID_LINE.search(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


def _load(path: Path, problems: list[Problem]) -> LoadedYaml | None:
    try:
        return load_yaml(path)
    except YamlSyntaxError as exc:
        problems.append(
            Problem(
                path,
                exc.position.line,
                exc.position.col,
                Code.YAML_SYNTAX,
                f"YAML syntax: {exc.message}",
            )
        )
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, 1, 1, Code.YAML_SYNTAX, f"cannot read file: {exc}"))
    return None


def _model(path: Path, model: type[_M], problems: list[Problem]) -> _M | None:
    doc = _load(path, problems)
    if doc is None:
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, str | int))
            pos = doc.position(loc)
            where = ".".join(str(p) for p in loc)
            message = error["msg"].removeprefix("Value error, ")
            problems.append(
                Problem(path, pos.line, pos.col, Code.BAD_TERMINOLOGY, f"{where}: {message}")
            )
    return None


def pack_files(directory: Path) -> list[Path]:
    """The files that make up a pack (its hash, its ConfigMap): every YAML file but the JSON
    Schema for editors."""
    return [
        path
        for path in yaml_files(directory, recursive=True)
        if path.relative_to(directory).parts[0] != "schema"
    ]


def hash_pack_files(directory: Path) -> str:
    """The pack hash reported by /readyz: names and contents of :func:`pack_files`."""
    digest = hashlib.sha256()
    for path in pack_files(directory):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def dump_rulesets(pack: RulePack) -> str:
    return json.dumps(pack.rulesets, indent=2, sort_keys=True)
