"""Load the sample patients into a FHIR server (HAPI in docker-compose.yml).

Each ``samples/patients/*.json`` is a Bundle of type ``collection``; it is POSTed to the server's
base URL as a ``transaction`` whose entries are ``PUT {type}/{id}``, so the resources keep their
ids (the samples reference each other as ``Patient/<id>``) and loading twice changes nothing.
Entries are ordered so that a resource comes after the resources of the bundle it references
(a reference cycle, such as a panel Observation and its members, is left to the server: FHIR
servers resolve references inside one transaction).

Standard library only: it runs in a plain ``python:3.11-slim`` container.

    FHIR_BASE=http://hapi:8080/fhir SAMPLES_DIR=/samples python load_samples.py

Exit status 0 when every bundle was accepted, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_S = 60.0
ATTEMPTS = 5


def _references(node: Any) -> set[str]:
    """Every ``reference`` string in a resource (``Type/id`` or anything else)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.add(value)
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def to_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """The ``collection`` bundle as a ``transaction`` of ``PUT {type}/{id}`` entries, referenced
    resources first. Raises ``ValueError`` for a resource without an id."""
    entries: list[dict[str, Any]] = []
    keys: list[str] = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        if not resource.get("id"):
            raise ValueError(f"a {resource.get('resourceType')} entry has no id")
        key = f"{resource['resourceType']}/{resource['id']}"
        keys.append(key)
        entries.append(
            {
                "fullUrl": entry.get("fullUrl", key),
                "resource": resource,
                "request": {"method": "PUT", "url": key},
            }
        )
    present = set(keys)
    needs = {
        key: _references(entry["resource"]) & (present - {key})
        for key, entry in zip(keys, entries, strict=True)
    }
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    pending = list(zip(keys, entries, strict=True))
    while pending:
        ready = [(k, e) for k, e in pending if needs[k] <= done]
        if not ready:  # a reference cycle (e.g. a panel and its members): break it at the first
            ready = pending[:1]
        for key, entry in ready:
            ordered.append(entry)
            done.add(key)
        pending = [(k, e) for k, e in pending if k not in done]
    return {"resourceType": "Bundle", "type": "transaction", "entry": ordered}


def post_transaction(base: str, transaction: dict[str, Any]) -> dict[str, Any]:
    """POST the transaction to the server's base URL; the transaction-response bundle."""
    request = urllib.request.Request(
        base.rstrip("/"),
        data=json.dumps(transaction).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def load(base: str, samples: Path) -> int:
    """Load every ``*.json`` bundle in ``samples``; the number that failed."""
    failures = 0
    files = sorted(samples.glob("*.json"))
    if not files:
        print(f"no bundles in {samples}", file=sys.stderr)
        return 1
    for path in files:
        transaction = to_transaction(json.loads(path.read_text(encoding="utf-8")))
        for attempt in range(1, ATTEMPTS + 1):
            try:
                answer = post_transaction(base, transaction)
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                detail = ""
                if isinstance(exc, urllib.error.HTTPError):
                    detail = exc.read().decode("utf-8", "replace")[:500]
                print(f"{path.name}: attempt {attempt} failed: {exc} {detail}", file=sys.stderr)
                if attempt == ATTEMPTS:
                    failures += 1
                else:
                    time.sleep(2.0 * attempt)
                continue
            print(f"{path.name}: {len(answer.get('entry', []))} resources loaded")
            break
    return failures


def main() -> int:
    base = os.environ.get("FHIR_BASE", "http://hapi:8080/fhir")
    samples = Path(os.environ.get("SAMPLES_DIR", "/samples"))
    failed = load(base, samples)
    if failed:
        print(f"{failed} bundle(s) not loaded into {base}", file=sys.stderr)
        return 1
    print(f"every bundle in {samples} loaded into {base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
