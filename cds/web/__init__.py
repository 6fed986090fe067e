"""The informaticist workbench pages: ``/sandbox``, ``/rules`` and ``/analytics``.

Plain server-rendered HTML (Jinja2, autoescaped) with a little JavaScript; every asset is
served from ``cds/web/static`` — no CDN, so the pages work without internet access.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from cds.api import Runtime

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

RuntimeOf = Callable[[Request], Runtime]


def include_web(app: FastAPI, runtime_of: RuntimeOf) -> None:
    """Mount the static assets and every page router."""
    from cds.web import analytics, rules, sandbox

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (sandbox, rules, analytics):
        app.include_router(module.router(runtime_of))
