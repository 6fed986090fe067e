"""Settings that work but are unsafe are said at start-up (found by a security review: the
default patient-key secret and a JWT audience taken from the Host header went unmentioned)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.settings import Settings

GOOD_SECRET = "9f2c4e7a1b3d5f6e8a0c2e4f6a8b0d1c"


def test_a_placeholder_or_short_secret_is_unsafe() -> None:
    for secret in ("change-me", "change-me-before-storing-real-data", "short"):
        warnings = Settings(auth="off", patient_key_secret=secret).startup_warnings
        assert any("CDS_PATIENT_KEY_SECRET" in w for w in warnings), secret
    assert Settings(auth="off", patient_key_secret=GOOD_SECRET).startup_warnings == []


def test_jwt_without_a_public_base_url_is_unsafe() -> None:
    bare = Settings(auth="jwt", patient_key_secret=GOOD_SECRET)
    assert any("CDS_PUBLIC_BASE_URL" in w for w in bare.startup_warnings)
    behind = bare.model_copy(update={"public_base_url": "https://cds.example.org"})
    assert behind.startup_warnings == []
    assert Settings(auth="off", patient_key_secret=GOOD_SECRET).startup_warnings == []


def test_the_service_says_them_when_it_starts(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(auth="off", database_url=f"sqlite:///{tmp_path / 'cds.db'}")
    with TestClient(create_app(settings)) as client:
        assert client.get("/livez").status_code == 200
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x.startswith("{")]
    said = [x["message"] for x in lines if x.get("event") == "unsafe_setting"]
    assert said == settings.startup_warnings != []
