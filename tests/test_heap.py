"""Start-up freezes the long-lived heap (``cds/heap.py``), so full collections stay short."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import gc
from fastapi.testclient import TestClient
from cds.app import create_app
app = create_app()
before = gc.get_freeze_count()
with TestClient(app) as client:
    assert client.get("/livez").status_code == 200
    print(before, gc.get_freeze_count())
"""


def test_the_app_freezes_what_start_up_built(tmp_path: Path) -> None:
    env = {
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'cds.db'}",
        "CDS_RULES_DIR": str(ROOT / "rules"),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    before, frozen = out.stdout.splitlines()[-1].split()  # after the log lines
    assert int(before) == 0
    assert int(frozen) > 50_000  # the pack, the models, the app: all out of the collector's way
