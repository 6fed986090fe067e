"""``/rules``: the live rule catalogue (the pack serving right now), and ``/rules/{id}``.

Same entries and templates as the static export (``cds rules catalog``); links are absolute.
Entries are built once per live pack (a hot reload swaps the pack, and with it the catalogue);
scenarios are read from ``features/`` beside the pack directory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cds.api import Runtime
from cds.catalog import (
    LIVE_LINKS,
    CatalogEntry,
    build_catalog,
    render_index,
    render_not_found,
    render_rule,
)
from cds.rules.pack import RulePack


def features_of(pack: RulePack) -> Path:
    """The BDD features folder that goes with a pack: ``features/`` beside ``rules/``."""
    return pack.directory.parent / "features"


class _Cache:
    """The catalogue of the last pack seen (rebuilt when the live pack changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pack: RulePack | None = None
        self._entries: list[CatalogEntry] = []

    def entries(self, pack: RulePack) -> list[CatalogEntry]:
        with self._lock:
            if self._pack is not pack:
                self._entries = build_catalog(pack, features_of(pack))
                self._pack = pack
            return self._entries


def router(runtime_of: Callable[[Request], Runtime]) -> APIRouter:
    pages = APIRouter(tags=["workbench"])
    cache = _Cache()

    def warning(runtime: Runtime) -> str | None:
        return runtime.settings.auth_warning

    @pages.get("/rules", response_class=HTMLResponse)
    async def catalogue(request: Request) -> HTMLResponse:
        """The rule catalogue of the live pack, with search and filters."""
        runtime = runtime_of(request)
        pack = runtime.live.pack
        entries = await run_in_threadpool(cache.entries, pack)
        html = render_index(entries, pack, LIVE_LINKS, auth_warning=warning(runtime))
        return HTMLResponse(html)

    @pages.get("/rules/{rule_id}", response_class=HTMLResponse)
    async def rule_page(rule_id: str, request: Request) -> HTMLResponse:
        """One rule: metadata, logic in plain words, value sets, card template, scenarios."""
        runtime = runtime_of(request)
        pack = runtime.live.pack
        entries = await run_in_threadpool(cache.entries, pack)
        entry = next((e for e in entries if e.id == rule_id), None)
        if entry is None:
            html = render_not_found(rule_id, LIVE_LINKS, auth_warning=warning(runtime))
            return HTMLResponse(html, status_code=404)
        return HTMLResponse(render_rule(entry, pack, LIVE_LINKS, auth_warning=warning(runtime)))

    return pages
