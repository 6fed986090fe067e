"""Cost of building facts from patient data, against ``json.loads`` of the same request body.

Run: ``.venv/bin/python bench/context.py`` (standalone, well under a minute).

Patients of ~20, ~200 and ~2,000 resources are made by repeating the sample patients with fresh
ids and shifted dates/values (so nothing is a duplicate and ranking has real work). Each size is
timed as: ``json.loads`` of the request body (a CDS Hooks request whose prefetch holds the
resources), ``build_facts`` on the parsed data, and, for reference, validating every resource with
the lean pydantic models of :mod:`cds.context.fhir_models` (the path we chose not to take).
"""

from __future__ import annotations

import copy
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/http.py is named like the standard library's http package: keep this folder off the
# path (httpx, uvicorn and urllib import http), and put the project and its test helpers on it.
sys.path[:] = [str(ROOT), str(ROOT / "tests")] + [
    p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"
]

from cds.context.fhir_models import parse_resource  # noqa: E402
from cds.context.normalise import PatientData, build_facts  # noqa: E402
from cds.ehr import hook_request as ehr_request  # noqa: E402
from cds.rules.pack import load_terminology  # noqa: E402
from cds.rules.problems import Problem  # noqa: E402
from cds.rules.terminology import Terminology  # noqa: E402

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
SIZES = (20, 200, 2000)
Json = dict[str, Any]


def _sample_resources() -> list[Json]:
    out: list[Json] = []
    for path in sorted((ROOT / "samples" / "patients").glob("*.json")):
        bundle = json.loads(path.read_text())
        out.extend(
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"
        )
    return out


def _perturb(resource: Json, copy_no: int) -> Json:
    clone = copy.deepcopy(resource)
    clone["id"] = f"{clone.get('id', 'x')}-{copy_no}"
    for key in ("effectiveDateTime", "authoredOn", "onsetDateTime"):
        value = clone.get(key)
        if isinstance(value, str) and len(value) >= 10 and copy_no:
            year = int(value[:4]) - (copy_no % 5)
            clone[key] = f"{year}{value[4:]}"
    quantity = clone.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        quantity["value"] = quantity["value"] + copy_no % 7
    return clone


def _patient_resources(size: int, pool: list[Json]) -> tuple[Json, list[Json]]:
    patient = {
        "resourceType": "Patient",
        "id": "bench",
        "gender": "female",
        "birthDate": "1981-06-14",
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                "valueCode": "F",
            }
        ],
    }
    resources = [_perturb(pool[i % len(pool)], i // len(pool)) for i in range(size - 1)]
    return patient, resources


def _body(patient: Json, resources: list[Json]) -> str:
    """A patient-view request whose prefetch holds the patient, as an EHR would send it."""
    return json.dumps(ehr_request("patient-view", patient, resources, user="Practitioner/1"))


def _data(request: Json) -> PatientData:
    """What gather() hands build_facts: every prefetched resource, filed by type."""
    prefetch = request["prefetch"]
    resources = [
        e["resource"]
        for key, value in prefetch.items()
        if key != "patient"
        for e in value.get("entry", [])
    ]
    return PatientData.from_resources([prefetch["patient"], *resources])


def _loads_and_build(body: str, terminology: Terminology) -> object:
    return build_facts(_data(json.loads(body)), now=NOW, terminology=terminology)


def _validate_all(resources: list[Json]) -> object:
    return [parse_resource(r) for r in resources]


def _time(fn: Callable[[], object], budget_s: float) -> float:
    """Median µs per call, over repeats that fit ``budget_s``."""
    fn()
    started = time.perf_counter()
    fn()
    once = max(time.perf_counter() - started, 1e-6)
    repeats = max(5, min(2000, int(budget_s / once)))
    samples = []
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return statistics.median(samples) * 1e6


def main() -> None:
    problems: list[Problem] = []
    terminology = load_terminology(ROOT / "rules", problems)
    assert not problems, problems
    pool = _sample_resources()
    print(
        f"patient context: build_facts vs json.loads of the same request body, "
        f"Python {platform.python_version()}"
    )
    print(
        "| resources | body KiB | facts | json.loads µs | build_facts µs | ratio "
        "| loads+build µs | lean pydantic µs | pydantic ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in SIZES:
        patient, resources = _patient_resources(size, pool)
        body = _body(patient, resources)
        request = json.loads(body)
        data = _data(request)
        facts = build_facts(data, now=NOW, terminology=terminology)
        budget = 3.0
        everything = [patient, *resources]
        loads = _time(partial(json.loads, body), budget)
        build = _time(partial(build_facts, data, now=NOW, terminology=terminology), budget)
        both = _time(partial(_loads_and_build, body, terminology), budget)
        lean = _time(partial(_validate_all, everything), budget)
        print(
            f"| {size} | {len(body) / 1024:.0f} | {len(facts.facts)} | {loads:.0f} | {build:.0f} "
            f"| {build / loads:.2f} | {both:.0f} | {lean:.0f} | {lean / loads:.2f} |"
        )


if __name__ == "__main__":
    main()
