"""The validator reports every problem at once, with file:line, code, rule id and a suggestion.

``tests/data/broken-rules/`` holds one broken rule file per error class; the first line of each
says what must be reported: ``# expect: CODE [line N] [suggestion]``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packbuilder import make_pack, rule

from cds.rules._yaml import Position, load_yaml
from cds.rules.pack import check_pack

BROKEN = Path(__file__).parent / "data" / "broken-rules"
EXPECT = re.compile(r"^# expect: (E\d+)(?: line (\d+))?(?: (\S+))?")


def validate_cli(pack_dir: Path) -> subprocess.CompletedProcess[str]:
    """``cds rules validate`` on ``pack_dir``, as an informaticist runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cds.cli", "rules", "validate", str(pack_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _expectations() -> list[tuple[str, str, int | None, str | None]]:
    out = []
    for path in sorted(BROKEN.glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        if first.startswith("# expect: none"):
            continue
        match = EXPECT.match(first)
        assert match, f"{path.name} lacks an '# expect:' line"
        code, line, suggestion = match.groups()
        out.append((path.name, code, int(line) if line else None, suggestion))
    return out


@pytest.fixture(scope="module")
def broken_pack_problems(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    pack_dir = make_pack(tmp_path_factory.mktemp("broken"), [])
    shutil.copytree(BROKEN, pack_dir / "broken")
    done = validate_cli(pack_dir)
    assert done.returncode == 1
    return done.stderr.splitlines()


@pytest.mark.parametrize(("name", "code", "line", "suggestion"), _expectations())
def test_each_broken_file_is_reported_where_it_is_wrong(
    broken_pack_problems: list[str], name: str, code: str, line: int | None, suggestion: str | None
) -> None:
    mine = [p for p in broken_pack_problems if f"/broken/{name}:" in p]
    assert any(f"error {code}" in p for p in mine), mine
    # only that code: another error (an unknown value set, say) could stand in for the one the
    # file is about and hide that its check is missing
    assert all(f"error {code}" in p for p in mine), mine
    reported = next(p for p in mine if f"error {code}" in p)
    if line is not None:
        assert f"/broken/{name}:{line}:" in reported, reported
    if suggestion is not None:
        assert f"(did you mean '{suggestion}'?)" in reported, reported
    rule_id = Path(name).stem
    if code not in ("E103", "E117"):  # E100 too: the rule is named from its id: line
        assert f"[{rule_id}]" in reported, reported


def test_every_error_class_has_a_broken_example() -> None:
    from cds.rules.problems import Code

    covered = {code for _, code, _, _ in _expectations()}
    elsewhere = {"E110", "E121", "E122"}  # fan-out and overlap: tests/test_engine_hazards.py
    assert {c.value for c in Code} - covered - elsewhere == set()


def test_a_valid_pack_passes_and_the_cli_says_so(tmp_path: Path) -> None:
    pack_dir = make_pack(tmp_path, [rule("fine", [{"fact": "medication", "in": "dhea-systemic"}])])
    done = validate_cli(pack_dir)
    assert done.returncode == 0, done.stderr
    assert "1 rules" in done.stdout
    assert "warning" not in done.stderr


def test_a_pack_without_rules_passes_with_a_warning(tmp_path: Path) -> None:
    # found by the validator review: an empty rules directory said only "0 rules … OK"
    pack_dir = make_pack(tmp_path, [])
    done = validate_cli(pack_dir)
    assert done.returncode == 0, done.stderr
    assert "warning: no rule files" in done.stderr


def test_bad_terminology_is_reported_with_its_position(tmp_path: Path) -> None:
    pack_dir = make_pack(tmp_path, [])
    (pack_dir / "valuesets" / "pcos.yaml").write_text(
        "id: pcos\nversion: '1'\ntitle: PCOS\ndescription: x\nkind: condition\nsource: x\n"
        "codes:\n  - {system: s, code: '1', display: d, source: x}\n"
    )
    pack, problems = check_pack(pack_dir)
    assert pack is None
    assert [(p.code.value, p.line) for p in problems] == [("E121", 8)]
    assert "verified" in problems[0].message


def test_the_server_refuses_to_start_on_an_invalid_pack(tmp_path: Path) -> None:
    pack_dir = make_pack(tmp_path, [rule("bad", [{"fact": "medication", "in": "nope"}])])
    done = subprocess.run(
        [sys.executable, "-m", "cds.cli", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"CDS_RULES_DIR": str(pack_dir), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "error E104 [bad] unknown value set 'nope'" in done.stderr
    assert "refusing to start" in done.stderr


def test_a_file_that_is_not_utf8_is_reported_at_its_line(tmp_path: Path) -> None:
    pack_dir = make_pack(tmp_path, [])
    (pack_dir / "latin1.yaml").write_bytes(b"id: latin1\ntitle: caf\xe9\n")
    problems = [str(p) for p in check_pack(pack_dir)[1]]
    assert any("latin1.yaml:2:11: error E100" in p and "UTF-8" in p for p in problems), problems


# Found by the validator review: 'min_age: 7D' was accepted and then made every DHEA-S result
# without its own range an unusable resource at run time; 'low' above 'high' was accepted.
@pytest.mark.parametrize(
    ("band", "wrong"),
    [
        ("{sex: any, min_age: 7D, low: 1, high: 2}", "min_age"),
        ("{sex: any, min_age: P18Y, low: 5, high: 2}", "low is above high"),
    ],
)
def test_a_bad_reference_range_band_is_refused(tmp_path: Path, band: str, wrong: str) -> None:
    pack_dir = make_pack(tmp_path, [])
    folder = pack_dir / "reference-ranges"
    folder.mkdir(exist_ok=True)
    (folder / "bad.yaml").write_text(
        "id: bad\nversion: '1'\nanalyte: dhea\nunit: ng/mL\n"
        "source: {label: x, url: 'https://example.org'}\n"
        f"ranges:\n- {band}\n"
    )
    pack, problems = check_pack(pack_dir)
    assert pack is None
    mine = [p for p in problems if p.path.name == "bad.yaml"]
    assert [(p.code.value, p.line) for p in mine] == [("E121", 7)], problems
    assert wrong in mine[0].message


def test_the_committed_json_schema_is_the_models(tmp_path: Path) -> None:
    # editors validate rule files with rules/schema/rule.schema.json: it must not drift
    done = subprocess.run(
        [sys.executable, "-m", "cds.cli", "rules", "schema", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.returncode == 0
    committed = Path(__file__).parents[1] / "rules" / "schema" / "rule.schema.json"
    assert (tmp_path / "rule.schema.json").read_text() == committed.read_text()


def test_a_broken_pack_raised_from_create_app_says_its_problems(tmp_path: Path) -> None:
    # found by the validator review: the traceback said only "1 problem(s) in the rule pack"
    from cds.app import create_app
    from cds.errors import RulePackError
    from cds.settings import Settings

    pack_dir = make_pack(tmp_path, [rule("bad-one", [])])
    settings = Settings(auth="off", rules_dir=pack_dir, database_url=f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(RulePackError, match=r"(?s)problem\(s\).*E111.*bad-one"):
        create_app(settings)


# Found by the validator review: a rule saved as "*.YAML" was skipped without a word, so it
# never ran and never failed validation either.
def test_a_rule_file_with_an_upper_case_suffix_is_checked_too(tmp_path: Path) -> None:
    pack_dir = make_pack(tmp_path, [rule("shouting", [{"fact": "medication", "in": "nope"}])])
    (written,) = pack_dir.rglob("shouting.yaml")
    written.rename(written.with_suffix(".YAML"))
    problems = [str(p) for p in check_pack(pack_dir)[1]]
    assert any("shouting.YAML" in p and "E104" in p for p in problems), problems


# Found by the review of session 5: the search for a placeholder ran to the end of the file,
# so a placeholder not written in its own value was found in a later one.
def test_a_placeholder_is_looked_for_in_its_own_value_only(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(
        'card:\n  summary: "x {a.b}"\n  detail: |\n    one {m.display}\n    two {m.bad}\n'
        '  suggestions:\n    - label: "{m.bad} again"\n'
    )
    doc = load_yaml(path)
    assert doc.find(("card", "detail"), "{m.bad}") == Position(5, 9)
    assert doc.find(("card", "summary"), "{m.bad}") == doc.position(("card", "summary"))
