"""The FastAPI application: wiring only; each concern lives in its own module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from cds import __version__
from cds.engine import RuleEngine
from cds.rules.pack import RulePack, load_pack
from cds.settings import Settings, get_settings


@dataclass
class Runtime:
    """What the app holds for its lifetime: settings and the live rule engine."""

    settings: Settings
    pack: RulePack
    engine: RuleEngine


def create_app(settings: Settings | None = None, pack: RulePack | None = None) -> FastAPI:
    """Build the app. Raises :class:`cds.errors.RulePackError` when the pack is invalid."""
    settings = settings or get_settings()
    pack = pack or load_pack(settings.rules_dir, include_drafts=settings.include_draft_rules)
    runtime = Runtime(settings, pack, RuleEngine(pack))
    app = FastAPI(title="Neurosteroid CDS", version=__version__)
    app.state.runtime = runtime

    @app.get("/livez", tags=["operations"])
    def livez() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> dict[str, Any]:
        """Ready to serve, with the live rule-pack manifest (rule ids@versions and hash)."""
        return {"status": "ready", "pack": runtime.pack.manifest}

    return app
