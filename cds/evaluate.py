"""Run one CDS Hooks request offline, as the service would: ``cds evaluate``.

The input is either a CDS Hooks request (its ``prefetch`` is read; nothing is fetched: keys
that would need a FHIR fetch are reported as unavailable) or a FHIR Bundle of one patient plus a
hook (the request is built as an EHR would send it: every prefetch key from the bundle, and for
order hooks the bundle's draft MedicationRequests / ServiceRequests as ``context.draftOrders``).

The same functions as the service do the work: :func:`cds.context.prefetch.gather`,
:func:`cds.context.normalise.build_facts`, the engine (through :func:`cds.explain.explain`, which
calls ``RuleEngine.evaluate``) and :func:`cds.cards.build_cards`. No card memory and no audit:
nothing is stored.
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import httpx
from pydantic import ValidationError

from cds.assessment import assess
from cds.cards import IssuedCard, render_value
from cds.context.prefetch import PREFETCH_TEMPLATES, gather
from cds.ehr import ORDER_HOOKS, PREFETCH_KEY_OF_TYPE, bundle_resources, is_draft, reference
from cds.ehr import hook_request as ehr_request
from cds.engine import RuleEngine
from cds.errors import DataUnavailableError, RequestError
from cds.explain import Explanation
from cds.hooks import HookRequest
from cds.rules.model import HOOKS
from cds.rules.pack import RulePack

OFFLINE_REASON: Final = "not in the prefetch; fetching it needs the FHIR server (offline run)"
REQUIRED_KEYS: Final = frozenset({"patient"})  # as cds.api: no patient, no answer (412 there)
SAMPLE_HOUR: Final = 9  # a date-only --now means 09:00 UTC, as the BDD "today is" step does


class InputError(Exception):
    """The input cannot be used; ``str()`` is ``path: reason``."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Unavailable:
    key: str
    reason: str


@dataclass
class Evaluation:
    hook: str
    now: datetime
    patient_id: str
    source: str  # "request" | "bundle"
    pack_hash: str
    live_rules: int
    cards: list[IssuedCard]
    explanation: Explanation
    unavailable: list[Unavailable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "now": self.now.isoformat(),
            "patientId": self.patient_id,
            "input": self.source,
            "pack": {"hash": self.pack_hash, "liveRules": self.live_rules},
            "cards": [c.card for c in self.cards],
            "unavailable": [u.__dict__ for u in self.unavailable],
            "notes": list(self.notes),
            "explanation": self.explanation.as_json(),
        }


# --------------------------------------------------------------------------------------------
# Input


def parse_now(text: str) -> datetime:
    """``2026-11-29`` (→ 09:00 UTC) or an ISO 8601 date-time (naive → UTC)."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, SAMPLE_HOUR, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not a date or ISO 8601 date-time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_json(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a JSON file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InputError(path, f"not JSON: {exc.msg} at {where}") from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a JSON object (a CDS Hooks request or a FHIR Bundle)")
    return data


def request_from_bundle(
    bundle: Mapping[str, Any], hook: str, path: Path | str = "bundle"
) -> tuple[dict[str, Any], list[str]]:
    """The CDS Hooks request an EHR would send for this patient, and notes on what was left
    out. Draft orders (status ``draft``) travel in ``context.draftOrders`` on order hooks and are
    left out on patient-view (they are not on the FHIR server yet)."""
    resources = bundle_resources(bundle)
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if not patients:
        raise InputError(path, "the Bundle holds no Patient resource")
    patient = patients[0]
    if not isinstance(patient.get("id"), str) or not patient["id"]:
        raise InputError(path, "the Bundle's Patient has no id")
    notes: list[str] = []
    if len(patients) > 1:
        notes.append(f"the Bundle holds {len(patients)} Patients; the first one is used")
    drafts = [r for r in resources if is_draft(r)]
    unread = Counter(
        str(r.get("resourceType"))
        for r in resources
        if r.get("resourceType") != "Patient"
        and not is_draft(r)
        and r.get("resourceType") not in PREFETCH_KEY_OF_TYPE
    )
    if unread:
        notes.append(
            "not read by any rule: " + ", ".join(f"{n} {t}" for t, n in sorted(unread.items()))
        )
    if hook in ORDER_HOOKS and not drafts:
        notes.append(f"the Bundle holds no draft order: {hook} runs with none")
    elif hook not in ORDER_HOOKS and drafts:
        names = ", ".join(reference(r) for r in drafts)
        notes.append(
            f"draft orders left out ({names}): {hook} carries none; "
            "use --hook order-select or order-sign to check them"
        )
    body = ehr_request(hook, patient, resources, drafts=drafts, user="Practitioner/cds-evaluate")
    return body, notes


def load_request(path: Path, hook: str | None = None) -> tuple[HookRequest, str, list[str]]:
    """The request in ``path`` (a CDS Hooks request, or a FHIR Bundle plus ``hook``), what kind
    of input it was, and notes. Raises :class:`InputError`."""
    data = read_json(path)
    notes: list[str] = []
    if data.get("resourceType") == "Bundle":
        if hook is None:
            raise InputError(path, "a FHIR Bundle needs --hook (patient-view, order-select, …)")
        body, notes = request_from_bundle(data, hook, path)
        source = "bundle"
    elif "hook" in data and "context" in data:
        body, source = data, "request"
        if hook is not None and data.get("hook") != hook:
            raise InputError(path, f"the request is for hook {data.get('hook')!r}, not {hook!r}")
    else:
        kind = data.get("resourceType")
        raise InputError(
            path,
            f"a {kind} resource is neither a CDS Hooks request nor a FHIR Bundle"
            if isinstance(kind, str)
            else "neither a CDS Hooks request (hook, context) nor a FHIR Bundle",
        )
    try:
        request = HookRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
        raise InputError(path, f"{where or 'request'}: {first['msg']}") from None
    if request.hook not in HOOKS:
        raise InputError(path, f"unknown hook {request.hook!r} (one of {', '.join(HOOKS)})")
    return request, source, notes


# --------------------------------------------------------------------------------------------
# Evaluation


def offline_gaps(request: HookRequest) -> list[Unavailable]:
    """Prefetch keys a live service would have to fetch (absent, or a failed client fetch)."""
    prefetch = request.prefetch or {}
    out = []
    for key in PREFETCH_TEMPLATES:
        if key not in prefetch:
            out.append(Unavailable(key, OFFLINE_REASON))
            continue
        value = prefetch[key]
        if value is not None and (
            not isinstance(value, dict)
            or not isinstance(value.get("resourceType"), str)
            or value["resourceType"] == "OperationOutcome"
        ):
            out.append(Unavailable(key, "the client's prefetch failed; no refetch offline"))
    return out


def _no_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("cds evaluate runs offline", request=request)


async def _gather_offline(request: HookRequest) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(_no_network)) as client:
        return await gather(
            request.prefetch,
            context=request.context.model_dump(exclude_none=True),
            fhir_server=None,  # offline: never fetch
            access_token=None,
            client=client,
            deadline_s=1.0,
            page_cap=1,
            required=set(REQUIRED_KEYS),
        )


def evaluate_request(
    request: HookRequest,
    pack: RulePack,
    engine: RuleEngine,
    *,
    now: datetime,
    path: Path | str = "request",
    source: str = "request",
    notes: list[str] | None = None,
) -> Evaluation:
    """Cards and explanation for one request. Raises :class:`InputError` when the patient
    cannot be had from the prefetch (the service would answer 412)."""
    try:
        data = asyncio.run(_gather_offline(request))
    except DataUnavailableError as exc:
        raise InputError(path, f"prefetch '{exc.key}' is unavailable: {exc.reason}") from None
    except RequestError as exc:
        raise InputError(path, exc.message) from None
    result = assess(
        pack,
        engine,
        data,
        hook=request.hook,
        now=now,
        patient_id=request.context.patientId,
        draft_orders=request.context.draftOrders,
        selections=request.context.selections,
        explained=True,
    )
    assert result.explanation is not None
    all_notes = list(notes or [])
    if request.fhirServer:
        all_notes.append(f"offline run: nothing was fetched from {request.fhirServer}")
    return Evaluation(
        hook=request.hook,
        now=now,
        patient_id=request.context.patientId,
        source=source,
        pack_hash=pack.pack_hash,
        live_rules=len(pack.live_rules),
        cards=result.cards,
        explanation=result.explanation,
        unavailable=offline_gaps(request),
        notes=all_notes,
    )


def evaluate_file(
    path: Path,
    pack: RulePack,
    engine: RuleEngine | None = None,
    *,
    hook: str | None = None,
    now: datetime | None = None,
) -> Evaluation:
    request, source, notes = load_request(path, hook)
    return evaluate_request(
        request,
        pack,
        engine or RuleEngine(pack),
        now=now or datetime.now(UTC),
        path=path,
        source=source,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# Output


_LINK = re.compile(r"\[([^\]]+)\]\((\S+?)\)")


def markdown_text(text: str) -> str:
    """Card Markdown as plain text: emphasis marks dropped, links as ``label <url>``."""
    text = _LINK.sub(r"\1 <\2>", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"\1", text)
    return re.sub(r"^#{1,6}\s+", "", text, flags=re.M)


_BULLET = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+)")


def _indent(text: str, prefix: str = "    ", width: int = 100) -> str:
    """Reflow paragraphs and list items (source line breaks are soft, as in Markdown)."""
    items: list[tuple[str, str]] = []  # (hanging indent, text); ("", "") is a blank line
    for line in text.strip().splitlines():
        if not line.strip():
            items.append(("", ""))
        elif bullet := _BULLET.match(line):
            items.append((" " * len(bullet.group(1)), line.rstrip()))
        elif items and items[-1][1]:
            hanging, previous = items[-1]
            items[-1] = (hanging, f"{previous} {line.strip()}")
        else:
            items.append(("", line.strip()))
    lines: list[str] = []
    for hanging, item in items:
        if not item:
            lines.append("")
            continue
        lines.extend(
            textwrap.wrap(
                item,
                width=width,
                initial_indent=prefix,
                subsequent_indent=prefix + hanging,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines)


def _fact_line(fact: Mapping[str, Any]) -> str:
    """One fact as ``id (type): field=value, …`` with day numbers as dates."""
    skip = {"id", "type", "source_ref"}
    flags = sorted(k[3:] for k, v in fact.items() if k.startswith("vs_") and v is True)
    fields = ", ".join(
        f"{k}={render_value(k, v)}"
        for k, v in fact.items()
        if k not in skip and not k.startswith("vs_")
    )
    text = f"{fact.get('id')} ({fact.get('type')}): {fields}"
    if flags:
        text += f" [in: {', '.join(flags)}]"
    return text


def render_text(evaluation: Evaluation, *, explain_: bool = False) -> str:
    """The cards as a clinician reads them; with ``explain_``, the why."""
    out: list[str] = []
    n = len(evaluation.cards)
    out.append(
        f"{evaluation.hook} for Patient/{evaluation.patient_id} at {evaluation.now.isoformat()} "
        f"(pack {evaluation.pack_hash}, {evaluation.live_rules} live rules)"
    )
    for note in evaluation.notes:
        out.append(f"note: {note}")
    for gap in evaluation.unavailable:
        out.append(f"unavailable: {gap.key}: {gap.reason}")
    out.append("")
    out.append(f"{n} card{'s' if n != 1 else ''}" if n else "No cards.")
    for number, issued in enumerate(evaluation.cards, 1):
        card = issued.card
        out.append("")
        out.append(f"{number}. [{card['indicator'].upper()}] {card['summary']}")
        out.append(f"    rule {issued.rule_id}@{issued.rule_version}")
        out.append(_indent(markdown_text(card.get("detail", ""))))
        source = card.get("source", {})
        if source:
            url = f" <{source['url']}>" if source.get("url") else ""
            out.append(f"    Source: {source.get('label', '')}{url}")
        for link in card.get("links", []):
            out.append(f"    Link: {link['label']} <{link['url']}>")
        suggestions = card.get("suggestions", [])
        if suggestions:
            out.append("    Suggestions:")
            for suggestion in suggestions:
                mark = " (recommended)" if suggestion.get("isRecommended") else ""
                out.append(f"      - {suggestion['label']}{mark}")
                for action in suggestion.get("actions", []):
                    resource = action.get("resource", {})
                    what = f" {resource.get('resourceType')}" if resource else ""
                    out.append(f"          {action['type']}{what}: {action['description']}")
        reasons = card.get("overrideReasons", [])
        if reasons:
            out.append("    Override reasons: " + "; ".join(r["display"] for r in reasons))
    if explain_:
        out.extend(["", *explanation_lines(evaluation.explanation)])
    return "\n".join(out) + "\n"


def explanation_lines(explanation: Explanation) -> list[str]:
    out = ["== Why =="]
    status = explanation.data_status
    if status:
        out.append("Data: " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    out.append(f"Facts built ({len(explanation.facts)}):")
    out.extend(f"  - {_fact_line(f)}" for f in explanation.facts)
    out.append(f"Resources skipped ({len(explanation.skipped)}):")
    out.extend(f"  - {s['ref']}: {s['reason']}" for s in explanation.skipped)
    if not explanation.skipped:
        out.append("  (none)")
    out.append(f"Rules fired ({len(explanation.fired)}):")
    for item in explanation.fired:
        out.append(f"  - {item['ruleId']}@{item['ruleVersion']}")
        for binding, fact in item["matched"].items():
            out.append(f"      {binding} = {_fact_line(fact)}")
        for note in item.get("notes", []):
            out.append(f"      note: {note}")
    if not explanation.fired:
        out.append("  (none)")
    out.append(f"Rules silenced or noted for missing data ({len(explanation.missing_data)}):")
    for effect in explanation.missing_data:
        out.append(f"  - {effect.rule_id}@{effect.rule_version} ({effect.title})")
        out.append(f"      {effect.reason}")
    if not explanation.missing_data:
        out.append("  (none)")
    out.append(f"Rules that came close ({len(explanation.near_misses)}):")
    for miss in explanation.near_misses:
        out.append(f"  - {miss.rule_id}@{miss.rule_version} ({miss.title})")
        out.append(f"      missing: {miss.missing}")
        if miss.data:
            out.append(f"      data: {miss.data}")
    if not explanation.near_misses:
        out.append("  (none)")
    return out


def render_json(evaluation: Evaluation, *, explain_: bool = True) -> str:
    body = evaluation.as_json()
    if not explain_:
        body.pop("explanation")
    return json.dumps(body, indent=2, ensure_ascii=False, default=str) + "\n"
