"""Benchmark: one engine evaluation (15 facts) at ~40, ~400 and ~2,000 rules.

Prints median and p99 latency, compile time and memory per evaluation for each pack size, the
naive oracle's time on the same input, and the ratio against the 40-rule pack measured in the
same run. Run: ``.venv/bin/python bench/engine.py`` (add ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
# bench/http.py is named like the standard library's http package: keep this folder off the
# path (httpx, uvicorn and urllib import http), and put the project and its test helpers on it.
sys.path[:] = [str(ROOT), str(ROOT / "tests")] + [
    p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"
]

from oracle import evaluate as oracle_evaluate  # noqa: E402

from cds.engine import RuleEngine  # noqa: E402
from cds.facts import ConditionFact, Fact, LabFact, MedicationFact, engine_view  # noqa: E402
from cds.rules.pack import load_pack  # noqa: E402

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
RULE: dict[str, Any] = {
    "version": "1.0.0",
    "status": "active",
    "title": "Bench",
    "area": "bench",
    "description": "When: bench. Then: bench.",
    "hooks": ["patient-view"],
    "authors": ["Bench"],
    "evidence": {"grades": ["M"], "quality": "low", "strength": "weak"},
    "citations": [{"label": "Bench", "url": "https://example.org/bench", "section": "1"}],
    "missing_data": {"needs": ["labs"], "if_unavailable": "silent"},
}


def write_pack(root: Path, n_rules: int) -> Path:
    """A pack of ``n_rules`` rules over ``n_rules / 20`` drug and lab value sets (partitioned,
    as real packs are: each fact is matched by about 20 patterns)."""
    groups = max(8, n_rules // 20)
    (root / "valuesets").mkdir(parents=True)
    (root / "rules").mkdir()
    labs = []
    for g in range(groups):
        for kind, system in (("med", "urn:bench:rx"), ("lab", "urn:bench:lab")):
            vs_doc = {
                "id": f"{kind}-{g}",
                "version": "1",
                "title": f"{kind} {g}",
                "description": "bench",
                "kind": "medication" if kind == "med" else "lab",
                "source": "bench",
                "codes": [
                    {
                        "system": system,
                        "code": str(g),
                        "display": f"{kind}{g}",
                        "concept": f"{kind}-{g}",
                        "source": "bench",
                        "verified": True,
                    }
                ],
            }
            (root / "valuesets" / f"{kind}-{g}.yaml").write_text(yaml.safe_dump(vs_doc))
        labs.append(
            {"concept": f"lab-{g}", "valueset": f"lab-{g}", "unit": "ug/dL", "display": f"lab {g}"}
        )
    (root / "labs.yaml").write_text(yaml.safe_dump({"version": "1", "labs": labs}))
    for i in range(n_rules):
        g = i % groups
        doc: dict[str, Any] = {"id": f"r{i}", **RULE}
        when: list[dict[str, Any]] = [
            {"fact": "medication", "as": "rx", "in": f"med-{g}", "where": {"active": True}},
            {
                "fact": "lab",
                "as": "lab",
                "in": f"lab-{g}",
                "within": "P12M",
                "where": {"latest": True, "value": {"gt": float(50 * (i // groups))}},
            },
        ]
        if i % 5 == 0:
            when.append(
                {"fact": "condition", "absent": True, "where": {"active": True, "concept": f"c{g}"}}
            )
        doc["when"] = when
        doc["card"] = {  # a plain dict
            "indicator": "info",
            "summary": "Lab {lab.value} on the drug.",
            "detail": "Bench.",
        }
        (root / "rules" / f"r{i}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def patient(groups: int) -> list[Fact]:
    """15 facts: 5 drugs, 8 labs, 2 conditions; about six rules fire."""
    facts: list[Fact] = []
    for i in range(5):
        g = (i * 7) % groups
        facts.append(
            MedicationFact(
                id=f"m{i}",
                valuesets=(f"med-{g}",),
                concept=f"med-{g}",
                active=True,
                source="prescribed",
            )
        )
    for i in range(8):
        g = (i * 7) % groups if i < 5 else (i * 13 + 1) % groups
        facts.append(
            LabFact(
                id=f"l{i}",
                valuesets=(f"lab-{g}",),
                concept=f"lab-{g}",
                value=60.0 if i == 0 else 30.0,
                unit="ug/dL",
                day=20400.0,
                days_ago=21.0,
                latest=True,
                rank=1.0,
            )
        )
    facts.append(ConditionFact(id="c0", concept="c0", active=True))
    facts.append(ConditionFact(id="c1", concept="x", active=False))
    return facts


def measure(n_rules: int, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_pack(Path(tmp), n_rules)
        start = time.perf_counter()
        pack = load_pack(root)
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        engine = RuleEngine(pack)
        compile_s = time.perf_counter() - start
    facts = patient(max(8, n_rules // 20))
    expected = {f.key for f in engine.evaluate(facts, hook="patient-view", now=NOW)}
    views = [engine_view(f) for f in facts]
    assert expected == set(oracle_evaluate(pack.live_rules, views)), "engine != oracle"
    for _ in range(min(200, runs)):
        engine.evaluate(facts, hook="patient-view", now=NOW)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        engine.evaluate(facts, hook="patient-view", now=NOW)
        times.append(time.perf_counter() - t0)
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    oracle_times = []
    for _ in range(max(20, runs // 20)):
        t0 = time.perf_counter()
        oracle_evaluate(pack.live_rules, views)
        oracle_times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "rules": float(len(pack.live_rules)),
        "findings": float(len(expected)),
        "median_us": statistics.median(times) * 1e6,
        "p99_us": times[int(len(times) * 0.99) - 1] * 1e6,
        "load_s": load_s,
        "compile_s": compile_s,
        "peak_rss_growth_kib": float(rss_growth_kib),
        "oracle_median_us": statistics.median(oracle_times) * 1e6,
    }


def measure_patients(runs: int, rounds: int = 10) -> list[tuple[str, int, int, float, float]]:
    """The real rule pack on real sample patients: the usual one and the history-heavy one
    (3 years of labs and questionnaires, ~300 resources). Facts are built once; only the
    engine is timed. The patients take turns (``rounds`` rounds of ``runs / rounds`` each) so
    that a slow spell of the machine falls on both: this VM's speed drifts within a minute."""
    from hookrequests import sample

    from cds.context.normalise import PatientData, build_facts

    root = Path(__file__).resolve().parent.parent
    pack = load_pack(root / "rules")
    engine = RuleEngine(pack)
    names = ("dhea-ssri-woman", "history-heavy")
    cases = {}
    for name in names:
        bundle = sample(name)
        facts = build_facts(
            PatientData.from_bundle(bundle), now=NOW, terminology=pack.terminology
        ).facts
        engine.evaluate(facts, hook="patient-view", now=NOW)  # warm up
        cases[name] = (len(bundle["entry"]), facts)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            facts = cases[name][1]
            for _ in range(max(1, runs // rounds)):
                t0 = time.perf_counter()
                engine.evaluate(facts, hook="patient-view", now=NOW)
                times[name].append(time.perf_counter() - t0)
    out = []
    for name in names:
        ordered = sorted(times[name])
        out.append(
            (
                name,
                cases[name][0],
                len(cases[name][1]),
                statistics.median(ordered) * 1e6,
                ordered[int(len(ordered) * 0.99) - 1] * 1e6,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    args = parser.parse_args()
    runs = 300 if args.quick else 3000
    results = [measure(n, runs) for n in (40, 400, 2000)]
    base = results[0]["median_us"]
    print(f"engine evaluation, 15 facts, {runs} runs each, Python {sys.version.split()[0]}")
    print(
        "| rules | findings | median µs | p99 µs | × 40-rule median | load+check s | "
        "compile s | peak RSS growth KiB | oracle median µs |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['rules']:.0f} | {r['findings']:.0f} | {r['median_us']:.0f} | "
            f"{r['p99_us']:.0f} | {r['median_us'] / base:.2f} | {r['load_s']:.2f} | "
            f"{r['compile_s']:.3f} | {r['peak_rss_growth_kib']:.0f} | "
            f"{r['oracle_median_us']:.0f} |"
        )
    patients = measure_patients(max(100, runs // 10))
    print()
    print(
        f"real pack ({len(load_pack(Path(__file__).resolve().parent.parent / 'rules').live_rules)}"
        " live rules), sample patients, patient-view, taking turns over 10 rounds"
    )
    print("| patient | resources | facts | median µs | p99 µs | × usual patient |")
    print("|---|---:|---:|---:|---:|---:|")
    usual = patients[0][3]
    for name, resources, facts, median, p99 in patients:
        print(
            f"| {name} | {resources} | {facts} | {median:.0f} | {p99:.0f} | {median / usual:.2f} |"
        )


if __name__ == "__main__":
    main()
