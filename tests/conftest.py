"""Registers one pytest marker per rule id, so feature tags like ``@rule_dhea_unsupervised``
pass ``--strict-markers`` (and a misspelt tag fails)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.rules.pack import rule_files

RULES = Path(__file__).resolve().parent.parent / "rules"


def pytest_configure(config: pytest.Config) -> None:
    for path in rule_files(RULES):
        marker = "rule_" + path.stem.replace("-", "_")
        config.addinivalue_line("markers", f"{marker}: scenarios exercising rule {path.stem}")
