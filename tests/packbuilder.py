"""Build rule packs in a temporary directory for tests (terminology from the mini pack)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

MINI_PACK = Path(__file__).parent / "data" / "mini-pack"

BASE_RULE: dict[str, Any] = {
    "version": "1.0.0",
    "status": "active",
    "title": "Test rule",
    "description": "When: test. Then: test.",
    "area": "test",
    "hooks": ["patient-view"],
    "authors": ["Test Author"],
    "evidence": {"grades": ["M"], "quality": "low", "strength": "weak"},
    "citations": [{"label": "Test", "url": "https://example.org/test", "section": "1"}],
    "missing_data": {"needs": ["medications"], "if_unavailable": "silent"},
}


def rule(rule_id: str, when: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A valid rule document; a card is added unless ``derive`` is given."""
    doc = {"id": rule_id, **BASE_RULE, "when": when, **extra}
    if "derive" not in extra and "card" not in extra:
        doc["card"] = {"indicator": "info", "summary": f"{rule_id} fired.", "detail": "Test."}
    return doc


REAL_RULES = Path(__file__).parent.parent / "rules"


def make_pack(
    tmp: Path,
    rules: list[dict[str, Any]],
    *,
    with_mini_rules: bool = False,
    real_terminology: bool = False,
) -> Path:
    """A pack directory holding the mini pack's (or the real pack's) terminology, optionally the
    mini pack's rules, and ``rules`` (one file each)."""
    target = tmp / "pack"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(MINI_PACK, target)
    if not with_mini_rules:
        shutil.rmtree(target / "supplements")
    if real_terminology:
        for name in ("valuesets", "reference-ranges"):
            shutil.rmtree(target / name, ignore_errors=True)  # git keeps no empty folders
            shutil.copytree(REAL_RULES / name, target / name)
        for name in ("labs.yaml", "synonyms.yaml"):
            shutil.copy(REAL_RULES / name, target / name)
    (target / "generated").mkdir()
    for doc in rules:
        name = doc.get("id", "unnamed")
        (target / "generated" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return target
