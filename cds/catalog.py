"""The rule catalogue: every rule of a pack as an informaticist or a pharmacist reviews it.

One entry per rule holds its metadata, its logic in plain words, the value sets it uses with
their codes, its card template and the BDD scenarios that cover it. The same entries and the
same templates (``cds/web/templates/catalog*.html``) make the live pages (``/rules``) and the
static export (``cds rules catalog --out DIR``); only the links differ (:class:`Links`).

Safety: templates are autoescaped; the card detail is Markdown rendered by markdown-it-py with
raw HTML disabled (so ``<script>`` in a rule file shows as text) and its link validator on
(``javascript:`` URLs are refused).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from cds.coverage import Scenario, read_scenarios
from cds.explain import describe
from cds.rules.durations import duration_days
from cds.rules.ir import RuleIR
from cds.rules.model import GRADE_WORDS, Operand, Pattern, Rule, Window
from cds.rules.pack import RulePack
from cds.rules.terminology import SYSTEM_ALIASES, ValueSet

WEB: Final = Path(__file__).resolve().parent / "web"
TEMPLATES: Final = WEB / "templates"
STATIC: Final = WEB / "static"

SYSTEM_NAMES: Final = {
    SYSTEM_ALIASES["rxnorm"]: "RxNorm",
    SYSTEM_ALIASES["snomed"]: "SNOMED CT",
    SYSTEM_ALIASES["loinc"]: "LOINC",
    SYSTEM_ALIASES["icd10cm"]: "ICD-10-CM",
}
QUALITY_WORDS: Final = {
    "high": "high quality",
    "moderate": "moderate quality",
    "low": "low quality",
    "very-low": "very low quality",
}
STRENGTH_WORDS: Final = {"strong": "strong recommendation", "weak": "weak recommendation"}
INDICATOR_ORDER: Final = {"critical": 0, "warning": 1, "info": 2, "none": 3}
_PLACEHOLDER_HTML = re.compile(r"\{[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\}")
_DURATION = re.compile(r"^(-?)P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


# --------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True)
class CodeRow:
    system: str
    system_name: str
    code: str
    display: str
    verified: bool
    source: str
    note: str | None
    include_prefix: bool


@dataclass(frozen=True)
class ValueSetEntry:
    id: str
    known: bool  # False: the rule names a value set the pack does not hold (should not happen)
    title: str = ""
    version: str = ""
    kind: str = ""
    description: str = ""
    source: str = ""
    excludes: tuple[str, ...] = ()
    codes: tuple[CodeRow, ...] = ()

    @property
    def verified_count(self) -> int:
        return sum(c.verified for c in self.codes)


@dataclass(frozen=True)
class LogicLine:
    text: str  # explain.describe: "a medication in dhea-systemic with active = True"
    binding: str
    absent: bool
    window: str | None  # the look-back or anchored window as written, in words


@dataclass(frozen=True)
class CitationEntry:
    label: str
    url: str
    section: str
    revision: str | None


@dataclass(frozen=True)
class ScenarioRef:
    name: str
    location: str  # features/…/x.feature:12
    role: str  # "fires" | "near miss"


@dataclass(frozen=True)
class SuggestionEntry:
    label: str
    recommended: bool
    actions: tuple[str, ...]


@dataclass(frozen=True)
class CardEntry:
    indicator: str
    summary: str
    detail_html: Markup
    source_label: str | None
    source_url: str | None
    links: tuple[tuple[str, str], ...]
    suggestions: tuple[SuggestionEntry, ...]
    override_reasons: tuple[str, ...]
    selection_behavior: str | None


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    version: str
    status: str
    title: str
    description: str
    area: str
    hooks: tuple[str, ...]
    priority: int
    experimental: bool
    file: str  # the rule file, relative to the pack directory
    grades: tuple[tuple[str, str], ...]  # (tag, words)
    quality: str
    strength: str
    evidence_note: str | None
    citations: tuple[CitationEntry, ...]
    authors: tuple[str, ...]
    reviewers: tuple[str, ...]
    dates: tuple[tuple[str, str], ...]  # (label, ISO date), only those given
    logic: tuple[LogicLine, ...]
    derive: str | None
    on_order_hooks: str | None
    missing_data: str
    memory: str | None
    valuesets: tuple[ValueSetEntry, ...]
    card: CardEntry | None
    scenarios: tuple[ScenarioRef, ...] = field(default_factory=tuple)

    @property
    def indicator(self) -> str:
        return self.card.indicator if self.card else "none"

    @property
    def evidence_words(self) -> str:
        grades = ", ".join(words for _, words in self.grades)
        return f"{QUALITY_WORDS[self.quality]} ({grades}); {STRENGTH_WORDS[self.strength]}"

    @property
    def description_paragraphs(self) -> list[str]:
        """The description's hard-wrapped lines joined into paragraphs: a new one after a blank
        line, after a line ending a sentence, or at ``When:`` / ``Then:``."""
        paragraphs: list[str] = []
        fresh = True
        for line in self.description.splitlines():
            text = line.strip()
            if not text:
                fresh = True
                continue
            if fresh or text.startswith(("When:", "Then:")):
                paragraphs.append(text)
            else:
                paragraphs[-1] += " " + text
            fresh = text.endswith((".", ":"))
        return paragraphs

    @property
    def firing(self) -> tuple[ScenarioRef, ...]:
        return tuple(s for s in self.scenarios if s.role == "fires")

    @property
    def near_misses(self) -> tuple[ScenarioRef, ...]:
        return tuple(s for s in self.scenarios if s.role != "fires")

    @property
    def search_text(self) -> str:
        """What the index's text search matches (lower case)."""
        parts = [self.id, self.title, self.description, self.area, *self.hooks]
        parts += [vs.id for vs in self.valuesets]
        if self.card:
            parts.append(self.card.summary)
        return " ".join(parts).lower()


# --------------------------------------------------------------------------------------------
# Building entries


def duration_words(text: str) -> str:
    """``P12M`` → ``12 months``; ``-P90D`` → ``90 days before``."""
    match = _DURATION.match(text)
    if not match:
        return text
    sign, *amounts = match.groups()
    units = ("year", "month", "week", "day")
    words = [
        f"{int(n)} {unit}{'' if int(n) == 1 else 's'}"
        for n, unit in zip(amounts, units, strict=True)
        if n is not None
    ]
    out = " ".join(words) or "0 days"
    return f"{out} before" if sign else out


def _operand_words(operand: Operand) -> str:
    text = operand.ref
    offset = operand.offset
    if isinstance(offset, str):
        days = duration_days(offset)
        if days:
            text += f" {'+' if days > 0 else '−'} {duration_words(offset.lstrip('-'))}"
    elif offset:
        text += f" {offset:+g}"
    return text


def window_words(pattern: Pattern) -> str | None:
    parts = []
    if pattern.within:
        parts.append(f"within the last {duration_words(pattern.within)} ({pattern.within})")
    window: Window | None = pattern.window
    if window is not None:
        bounds = []
        if window.after is not None:
            bounds.append(f"after {_operand_words(window.after)}")
        if window.before is not None:
            bounds.append(f"before {_operand_words(window.before)}")
        parts.append(f"{window.field} " + " and ".join(bounds))
    return "; ".join(parts) or None


def _logic(ir: RuleIR) -> tuple[LogicLine, ...]:
    written: Sequence[Pattern | None] = ir.rule.when
    if len(written) != len(ir.patterns):
        written = [None] * len(ir.patterns)
    return tuple(
        LogicLine(describe(p), p.binding, p.absent, window_words(w) if w else None)
        for p, w in zip(ir.patterns, written, strict=True)
    )


def _derive(rule: Rule) -> str | None:
    if rule.derive is None:
        return None
    text = f"derives the fact '{rule.derive.name}'"
    if rule.derive.fields:
        text += " with " + ", ".join(f"{k} = {v}" for k, v in rule.derive.fields.items())
    return text


def _on_order(rule: Rule) -> str | None:
    order = rule.on_order_hooks
    if order is None:
        return None
    names = [order.draft] if isinstance(order.draft, str) else list(order.draft)
    which = " or ".join(f"'{n}'" for n in names)
    one = "the medication bound as" if len(names) == 1 else "one of the medications bound as"
    return (
        f"On order-select and order-sign, {one} {which} must be the draft order being placed, "
        "so the card follows the order."
    )


def _missing(rule: Rule) -> str:
    md = rule.missing_data
    what = (
        "no card"
        if md.if_unavailable == "silent"
        else "the card still fires and says which data was missing"
    )
    text = f"Needs {', '.join(md.needs)}. If they cannot be obtained: {what}."
    if md.note:
        text += " " + md.note
    return text


def _memory(rule: Rule) -> str | None:
    memory = rule.memory
    if memory is None:
        return None
    parts = []
    if memory.quiet_after_feedback:
        parts.append(
            f"quiet for {duration_words(memory.quiet_after_feedback)} after feedback on it"
        )
    if memory.once_per:
        parts.append("shown once per " + ", ".join(memory.once_per) + " fact")
    return "; ".join(parts) or None


def _valueset(vs_id: str, valuesets: dict[str, ValueSet]) -> ValueSetEntry:
    vs = valuesets.get(vs_id)
    if vs is None:
        return ValueSetEntry(vs_id, known=False)
    return ValueSetEntry(
        vs.id,
        True,
        vs.title,
        vs.version,
        vs.kind,
        vs.description,
        vs.source,
        tuple(vs.exclude_valuesets),
        tuple(
            CodeRow(
                c.system,
                SYSTEM_NAMES.get(c.system, c.system),
                c.code,
                c.display,
                c.verified,
                c.source,
                c.note,
                c.include_prefix,
            )
            for c in vs.codes
        ),
    )


def markdown_html(text: str) -> Markup:
    """Card Markdown as safe HTML: raw HTML is escaped, ``{binding.field}`` placeholders are
    marked up so a reader sees what the engine fills in."""
    html = _markdown.render(text)
    html = _PLACEHOLDER_HTML.sub(lambda m: f'<code class="placeholder">{m.group(0)}</code>', html)
    return Markup(html)  # markdown-it output with html disabled: already escaped


def _card(rule: Rule) -> CardEntry | None:
    card = rule.card
    if card is None:
        return None
    first = rule.citations[0] if rule.citations else None
    source_label = card.source.label if card.source else (first.label if first else None)
    source_url = (
        card.source.url if card.source and card.source.url else (first.url if first else None)
    )
    return CardEntry(
        card.indicator.value,
        card.summary,
        markdown_html(card.detail),
        source_label,
        source_url,
        tuple((link.label, link.url) for link in card.links),
        tuple(
            SuggestionEntry(
                s.label,
                s.is_recommended,
                tuple(f"{a.type}: {a.description}" for a in s.actions),
            )
            for s in card.suggestions
        ),
        tuple(f"{r.display} ({r.code})" for r in card.override_reasons),
        card.selection_behavior,
    )


def _dates(rule: Rule) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, date | None]] = [
        ("Approved", rule.approval_date),
        ("Last reviewed", rule.last_review_date),
        ("Next review", rule.next_review_date),
        ("Effective from", rule.effective.start),
        ("Effective until", rule.effective.end),
    ]
    return tuple((label, d.isoformat()) for label, d in pairs if d is not None)


def _scenarios(rule_id: str, scenarios: Iterable[Scenario], root: Path | None) -> list[ScenarioRef]:
    out: list[ScenarioRef] = []
    for s in scenarios:
        roles = (["fires"] if rule_id in s.fires else []) + (
            ["near miss"] if rule_id in s.silent else []
        )
        if not roles:
            continue
        path = s.path
        if root is not None:
            with contextlib.suppress(ValueError):
                path = s.path.resolve().relative_to(root.resolve())
        out.extend(ScenarioRef(s.name, f"{path}:{s.line}", role) for role in roles)
    return out


def entry_for(
    ir: RuleIR, pack: RulePack, scenarios: Sequence[Scenario] = (), root: Path | None = None
) -> CatalogEntry:
    rule = ir.rule
    vs_ids: list[str] = []
    for pattern in ir.patterns:
        for vs_id in pattern.valuesets:
            if vs_id not in vs_ids:
                vs_ids.append(vs_id)
    try:
        file = str(ir.path.resolve().relative_to(pack.directory.resolve()))
    except ValueError:
        file = ir.path.name
    return CatalogEntry(
        id=rule.id,
        version=rule.version,
        status=rule.status.value,
        title=rule.title,
        description=rule.description.strip(),
        area=rule.area,
        hooks=tuple(rule.hooks),
        priority=rule.priority,
        experimental=rule.experimental,
        file=file,
        grades=tuple((g, GRADE_WORDS[g]) for g in rule.evidence.grades),
        quality=rule.evidence.quality.value,
        strength=rule.evidence.strength.value,
        evidence_note=rule.evidence.note,
        citations=tuple(
            CitationEntry(c.label, c.url, c.section, c.revision) for c in rule.citations
        ),
        authors=tuple(rule.authors),
        reviewers=tuple(rule.reviewers),
        dates=_dates(rule),
        logic=_logic(ir),
        derive=_derive(rule),
        on_order_hooks=_on_order(rule),
        missing_data=_missing(rule),
        memory=_memory(rule),
        valuesets=tuple(_valueset(v, pack.terminology.valuesets) for v in vs_ids),
        card=_card(rule),
        scenarios=tuple(_scenarios(rule.id, scenarios, root)),
    )


def build_catalog(pack: RulePack, features: Path | None = None) -> list[CatalogEntry]:
    """Entries for every rule of the pack (any status), by area then id. ``features`` is the
    folder of ``.feature`` files (none, or a missing folder: no scenarios are listed)."""
    scenarios = read_scenarios(features) if features is not None and features.is_dir() else []
    root = features.parent if features is not None else None
    entries = [entry_for(ir, pack, scenarios, root) for ir in pack.rules]
    entries.sort(key=lambda e: (e.area, e.id))
    return entries


# --------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class Links:
    """Where the pages point: the live site (absolute paths) or the static export (relative)."""

    css: str
    js: str
    index: str
    rule_prefix: str
    rule_suffix: str
    nav: tuple[tuple[str, str], ...]  # (label, href); empty: the static export's own header

    def rule(self, rule_id: str) -> str:
        return f"{self.rule_prefix}{rule_id}{self.rule_suffix}"


LIVE_LINKS: Final = Links(
    css="/static/site.css",
    js="/static/rules.js",
    index="/rules",
    rule_prefix="/rules/",
    rule_suffix="",
    nav=(("Sandbox", "/sandbox"), ("Rules", "/rules"), ("Analytics", "/analytics")),
)
STATIC_INDEX_LINKS: Final = Links(
    css="site.css",
    js="rules.js",
    index="index.html",
    rule_prefix="rules/",
    rule_suffix=".html",
    nav=(("Rules", "index.html"),),
)
STATIC_RULE_LINKS: Final = Links(
    css="../site.css",
    js="../rules.js",
    index="../index.html",
    rule_prefix="",
    rule_suffix=".html",
    nav=(("Rules", "../index.html"),),
)

_env: Environment | None = None


def environment() -> Environment:
    global _env  # one lazily built Jinja environment per process
    if _env is None:
        _env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _env


def _facets(entries: Sequence[CatalogEntry]) -> dict[str, list[tuple[str, str]]]:
    """The filter choices of the index: (value, label) per facet."""
    areas = sorted({e.area for e in entries})
    indicators = sorted({e.indicator for e in entries}, key=lambda i: INDICATOR_ORDER.get(i, 9))
    grades = sorted({g for e in entries for g, _ in e.grades})
    statuses = sorted({e.status for e in entries})
    return {
        "area": [(a, a) for a in areas],
        "indicator": [(i, "no card (derive only)" if i == "none" else i) for i in indicators],
        "grade": [(g, f"{g} — {GRADE_WORDS[g]}") for g in grades],
        "status": [(s, s) for s in statuses],
    }


def _page(template: str, links: Links, auth_warning: str | None, **context: Any) -> str:
    """A catalogue page in the shared layout (base.html): nav, stylesheet and banner."""
    return (
        environment()
        .get_template(template)
        .render(
            links=links,
            nav=links.nav,
            active_nav="Rules",
            css_href=links.css,
            home_href=links.index,
            auth_warning=auth_warning,
            **context,
        )
    )


def render_index(
    entries: Sequence[CatalogEntry],
    pack: RulePack,
    links: Links,
    *,
    auth_warning: str | None = None,
    static: bool = False,
) -> str:
    return _page(
        "catalog_index.html",
        links,
        auth_warning,
        entries=entries,
        facets=_facets(entries),
        pack=pack,
        static=static,
        built=date.today().isoformat(),
    )


def render_rule(
    entry: CatalogEntry,
    pack: RulePack,
    links: Links,
    *,
    auth_warning: str | None = None,
    static: bool = False,
) -> str:
    return _page("catalog_rule.html", links, auth_warning, e=entry, pack=pack, static=static)


def render_not_found(rule_id: str, links: Links, *, auth_warning: str | None = None) -> str:
    return _page("rules_404.html", links, auth_warning, rule_id=rule_id)


Progress = Callable[[int, int, str], None]


def write_static(
    pack: RulePack, out: Path, features: Path | None = None, progress: Progress | None = None
) -> list[Path]:
    """Write ``index.html``, ``rules/<id>.html``, ``site.css`` and ``rules.js`` under ``out``
    (links are relative, so the catalogue opens from disk). Returns the files written."""
    entries = build_catalog(pack, features)
    (out / "rules").mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("site.css", "rules.js"):
        shutil.copyfile(STATIC / name, out / name)
        written.append(out / name)
    for number, entry in enumerate(entries, 1):
        if progress is not None:
            progress(number, len(entries), entry.id)
        target = out / "rules" / f"{entry.id}.html"
        target.write_text(render_rule(entry, pack, STATIC_RULE_LINKS, static=True), "utf-8")
        written.append(target)
    index = out / "index.html"
    index.write_text(render_index(entries, pack, STATIC_INDEX_LINKS, static=True), "utf-8")
    written.append(index)
    return written


__all__ = [
    "LIVE_LINKS",
    "STATIC_INDEX_LINKS",
    "STATIC_RULE_LINKS",
    "CatalogEntry",
    "Links",
    "build_catalog",
    "duration_words",
    "entry_for",
    "markdown_html",
    "render_index",
    "render_not_found",
    "render_rule",
    "write_static",
]
