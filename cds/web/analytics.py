"""The /analytics page: per rule, over a period, how often it fired (cards issued), how often its
cards were accepted or overridden, the override rate and the override reasons — sorted by
override rate so that alert fatigue stands out.

- ``GET /analytics?from=YYYY-MM-DD&to=YYYY-MM-DD`` the page (default: the last 30 days)
- ``GET /analytics/data?since=…&until=…`` the same figures as JSON

Periods: a date means a whole UTC day (``to``/``until`` included), a date-time an instant
(``until`` excluded, as in :meth:`cds.storage.Store.rule_stats`). The override rate is
overridden ÷ cards with feedback (accepted + overridden): the store counts feedback in the period
of its outcome timestamp and cards in the period they were issued, so a card issued before the
period may be overridden in it, and a rate over cards issued could pass 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from cds.api import Runtime
from cds.outcome import operation_outcome
from cds.responses import JSONResponse
from cds.storage.store import RuleStats
from cds.web import RuntimeOf, templates

DEFAULT_DAYS = 30
MAX_DAYS = 3660


class PeriodError(ValueError):
    """A period that cannot be read (→ 400 on the JSON endpoint, a message on the page)."""


@dataclass(frozen=True)
class Period:
    since: datetime  # included
    until: datetime  # excluded

    @property
    def first_day(self) -> date:
        return self.since.date()

    @property
    def last_day(self) -> date:
        """The last day the period touches (for the page's inclusive "to" input)."""
        return (self.until - timedelta(microseconds=1)).date()


def _instant(value: str, *, end: bool) -> datetime:
    """A date (whole UTC day: its start, or the next day's start when ``end``) or an ISO
    date-time (naive means UTC)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time.min, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PeriodError(f"'{value}' is not a date (YYYY-MM-DD) or an ISO date-time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def resolve_period(since: str | None, until: str | None, now: datetime) -> Period:
    """The period asked for; missing ends default to the last 30 days up to today included."""
    end = _instant(until, end=True) if until else _instant(now.date().isoformat(), end=True)
    start = _instant(since, end=False) if since else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise PeriodError("the period is empty: 'from' must come before 'to'")
    if end - start > timedelta(days=MAX_DAYS):
        raise PeriodError(f"the period is longer than {MAX_DAYS} days")
    return Period(start, end)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    rule_id: str
    rule_version: str
    title: str
    cards_issued: int
    accepted: int
    overridden: int
    reasons: list[dict[str, Any]]

    @property
    def with_feedback(self) -> int:
        return self.accepted + self.overridden

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.with_feedback if self.with_feedback else None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ruleId": self.rule_id,
            "ruleVersion": self.rule_version,
            "cardsIssued": self.cards_issued,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "overrideReasons": self.reasons,
        }
        if self.title:
            out["title"] = self.title
        if self.override_rate is not None:
            out["overrideRate"] = round(self.override_rate, 4)
        return out


def _reason_json(
    system: str | None, code: str | None, display: str | None, count: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"count": count}
    if system:
        out["system"] = system
    if code:
        out["code"] = code
    if display:
        out["display"] = display
    return out


def rows_of(stats: list[RuleStats], titles: dict[str, str]) -> list[RuleRow]:
    """Rows sorted by override rate (highest first; rules without feedback last), then by
    cards overridden and issued."""
    rows = [
        RuleRow(
            rule_id=s.rule_id,
            rule_version=s.rule_version,
            title=titles.get(s.rule_id, ""),
            cards_issued=s.cards_issued,
            accepted=s.accepted,
            overridden=s.overridden,
            reasons=[
                _reason_json(r.system, r.code, r.display, r.count) for r in s.override_reasons
            ],
        )
        for s in stats
    ]
    return sorted(
        rows,
        key=lambda r: (
            r.override_rate is None,
            -(r.override_rate or 0.0),
            -r.overridden,
            -r.cards_issued,
            r.rule_id,
            r.rule_version,
        ),
    )


def _titles(runtime: Runtime) -> dict[str, str]:
    return {rule_id: entry.rule.title for rule_id, entry in runtime.live.pack.by_id.items()}


async def figures(runtime: Runtime, period: Period) -> list[RuleRow]:
    stats = await run_in_threadpool(runtime.store.rule_stats, period.since, period.until)
    return rows_of(stats, _titles(runtime))


def totals(rows: list[RuleRow]) -> dict[str, int]:
    return {
        "cardsIssued": sum(r.cards_issued for r in rows),
        "accepted": sum(r.accepted for r in rows),
        "overridden": sum(r.overridden for r in rows),
    }


# --------------------------------------------------------------------------------------------
# The chart (inline SVG, drawn here: no library)
# --------------------------------------------------------------------------------------------

CHART_WIDTH = 1180
LABEL_WIDTH = 300
BAR_WIDTH = 520
ROW_HEIGHT = 26
TOP = 28


def _colour(rate: float | None) -> str:
    if rate is None:
        return "#d0d7de"
    if rate >= 0.5:
        return "#cf222e"
    if rate >= 0.25:
        return "#d4a72c"
    return "#2da44e"


def chart(rows: list[RuleRow]) -> dict[str, Any]:
    """Geometry of a horizontal bar chart of override rates (one bar per rule version)."""
    bars = []
    for index, row in enumerate(rows):
        rate = row.override_rate
        y = TOP + index * ROW_HEIGHT
        if rate is None:
            note = f"no feedback · {row.cards_issued} issued"
        else:
            note = (
                f"{round(rate * 100)} % · {row.overridden} of {row.with_feedback} overridden"
                f" · {row.cards_issued} issued"
            )
        bars.append(
            {
                "label": f"{row.rule_id}@{row.rule_version}",
                "title": row.title,
                "y": y,
                "text_y": y + ROW_HEIGHT / 2 + 4,
                "width": round(BAR_WIDTH * (rate or 0.0), 1),
                "colour": _colour(rate),
                "note": note,
                "note_x": LABEL_WIDTH + BAR_WIDTH + 10,
            }
        )
    ticks = [
        {"x": LABEL_WIDTH + BAR_WIDTH * p / 100, "label": f"{p} %"} for p in (0, 25, 50, 75, 100)
    ]
    return {
        "width": CHART_WIDTH,
        "height": TOP + max(len(rows), 1) * ROW_HEIGHT + 8,
        "label_width": LABEL_WIDTH,
        "bar_width": BAR_WIDTH,
        "row_height": ROW_HEIGHT,
        "top": TOP,
        "bars": bars,
        "ticks": ticks,
    }


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


def router(runtime_of: RuntimeOf) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/analytics", response_class=HTMLResponse)
    async def analytics_page(
        request: Request,
        since: str | None = Query(None, alias="from"),
        until: str | None = Query(None, alias="to"),
    ) -> Response:

        runtime = runtime_of(request)
        now = runtime.clock()
        error = None
        try:
            period = resolve_period(since or None, until or None, now)
        except PeriodError as exc:
            error = str(exc)
            period = resolve_period(None, None, now)
        rows = await figures(runtime, period)
        return templates.TemplateResponse(
            request,
            "analytics.html",
            {
                "active_nav": "Analytics",
                "auth_warning": runtime.settings.auth_warning,
                "period": period,
                "rows": rows,
                "totals": totals(rows),
                "chart": chart(rows),
                "error": error,
                "data_url": (
                    f"/analytics/data?since={period.first_day.isoformat()}"
                    f"&until={period.last_day.isoformat()}"
                ),
            },
            status_code=400 if error else 200,
        )

    @web.get("/analytics/data")
    async def analytics_data(
        request: Request,
        since: str | None = Query(None, description="YYYY-MM-DD (day included) or date-time"),
        until: str | None = Query(None, description="YYYY-MM-DD (day included) or date-time"),
    ) -> Response:
        runtime = runtime_of(request)
        try:
            period = resolve_period(since, until, runtime.clock())
        except PeriodError as exc:
            return operation_outcome(400, "invalid", str(exc))
        rows = await figures(runtime, period)
        return JSONResponse(
            {
                "since": period.since.isoformat(),
                "until": period.until.isoformat(),
                "rules": [r.as_json() for r in rows],
                "totals": totals(rows),
            }
        )

    return web
