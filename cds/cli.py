"""The ``cds`` command line: serve, and validate / compile / export the rule pack."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cds.rules.model import HOOKS, Rule
from cds.rules.pack import check_pack, dump_rulesets
from cds.settings import DEFAULT_RULES_DIR

EXAMPLES = """examples:
  cds serve --host 127.0.0.1 --port 8080
  cds serve --host 0.0.0.0 --port 8080 --workers 4
  cds rules validate rules/
  cds rules compile rules/ --dump
  cds rules coverage rules/ --features features/
  cds rules schema --out rules/schema
  cds rules catalog --out catalog/
  cds evaluate samples/patients/dhea-ssri-woman.json --hook patient-view --now 2026-11-29
"""

CATALOG_EXAMPLES = """examples:
  cds rules catalog --out catalog/                 # then open catalog/index.html
  cds rules catalog --out /tmp/cat --rules rules/ --features features/
"""

EVALUATE_EXAMPLES = """input:
  a CDS Hooks request: its prefetch is read; nothing is fetched (keys it lacks are reported as
  unavailable); or a FHIR Bundle of one patient with --hook: the request is built from it, and
  on order hooks the bundle's draft MedicationRequests/ServiceRequests are the draftOrders.

examples:
  cds evaluate samples/patients/dhea-ssri-woman.json --hook patient-view --now 2026-11-29
  cds evaluate samples/patients/postpartum-zuranolone-benzo.json --hook order-sign --explain
  cds evaluate request.json --now 2026-11-29T09:00:00Z --json > result.json

exit status: 0 evaluated (cards or none), 2 unusable input (the message says file: reason)
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cds",
        description="Neurosteroid CDS: a CDS Hooks service and its rule pack tools.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the CDS Hooks service",
        epilog="example:\n  CDS_AUTH=off cds serve --port 8080",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes sharing the port, restarted when they die (default 1)",
    )
    serve.add_argument(
        "--watch-rules",
        action="store_true",
        help="reload the rule pack when a file under the rules directory changes (also on "
        "SIGHUP); an invalid pack is refused and the last good one keeps serving",
    )

    rules = commands.add_parser("rules", help="validate, compile and export the rule pack")
    rule_commands = rules.add_subparsers(dest="rules_command", required=True)
    validate = rule_commands.add_parser(
        "validate",
        help="report every problem in a rule pack as path:line:col",
        epilog="example:\n  cds rules validate rules/   # exit status 1 when anything is wrong",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("directory", nargs="?", type=Path, default=DEFAULT_RULES_DIR)
    compile_ = rule_commands.add_parser(
        "compile",
        help="compile the pack; --dump prints the durable-rules rulesets",
        epilog="example:\n  cds rules compile rules/ --dump > rulesets.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compile_.add_argument("directory", nargs="?", type=Path, default=DEFAULT_RULES_DIR)
    compile_.add_argument("--dump", action="store_true", help="print the compiled rulesets")
    compile_.add_argument("--drafts", action="store_true", help="include draft rules")
    cover = rule_commands.add_parser(
        "coverage",
        help="fail when an active rule lacks a firing or a near-miss scenario",
        epilog="example:\n  cds rules coverage rules/ --features features/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cover.add_argument("directory", nargs="?", type=Path, default=DEFAULT_RULES_DIR)
    cover.add_argument("--features", type=Path, default=DEFAULT_RULES_DIR.parent / "features")
    schema = rule_commands.add_parser(
        "schema",
        help="write the JSON Schema of rule files (for editor autocompletion)",
        epilog="example:\n  cds rules schema --out rules/schema",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    schema.add_argument("--out", type=Path, default=DEFAULT_RULES_DIR / "schema")
    configmap = rule_commands.add_parser(
        "configmap",
        help="write the pack as a Kubernetes ConfigMap and the Deployment patch that mounts it",
        epilog="example:\n  cds rules configmap rules/ --out deploy/k8s/generated\n"
        "  kubectl apply -f deploy/k8s/generated/rules-configmap.yaml\n"
        "  kubectl patch deployment neurosteroid-cds --patch-file "
        "deploy/k8s/generated/rules-configmap-patch.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configmap.add_argument("directory", nargs="?", type=Path, default=DEFAULT_RULES_DIR)
    configmap.add_argument("--out", type=Path, required=True, help="output directory")
    configmap.add_argument("--name", default="neurosteroid-cds-rules", help="ConfigMap name")
    catalog = rule_commands.add_parser(
        "catalog",
        help="write the rule catalogue as static HTML (opens from disk)",
        description="Write index.html, rules/<id>.html, site.css and rules.js under --out: "
        "every rule with its metadata, logic in plain words, value sets and codes, card "
        "template, citations and covering BDD scenarios.",
        epilog=CATALOG_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    catalog.add_argument("--out", type=Path, required=True, help="output directory")
    catalog.add_argument("--rules", type=Path, default=DEFAULT_RULES_DIR, help="rule pack")
    catalog.add_argument(
        "--features",
        type=Path,
        default=DEFAULT_RULES_DIR.parent / "features",
        help="BDD .feature files (for the scenarios covering each rule)",
    )

    evaluate = commands.add_parser(
        "evaluate",
        help="run a CDS Hooks request (or a FHIR Bundle) offline and print the cards",
        description="Evaluate one request with the rule pack, as the service would, offline.",
        epilog=EVALUATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument(
        "request", type=Path, metavar="REQUEST.json", help="a CDS Hooks request or a FHIR Bundle"
    )
    evaluate.add_argument(
        "--now",
        help="evaluation time: a date (09:00 UTC that day) or an ISO date-time; default now",
    )
    evaluate.add_argument(
        "--hook",
        choices=HOOKS,
        help="the hook, needed for a FHIR Bundle (for a request, must match its hook)",
    )
    evaluate.add_argument(
        "--explain",
        action="store_true",
        help="also print the facts built, skipped resources, fired rules and near misses",
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print JSON (cards and the explanation)"
    )
    evaluate.add_argument("--rules", type=Path, default=DEFAULT_RULES_DIR, help="rule pack")
    evaluate.add_argument("--drafts", action="store_true", help="include draft rules")

    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.watch_rules:
            os.environ["CDS_WATCH_RULES"] = "true"  # workers inherit it
        if args.workers > 1:
            from cds.supervisor import serve as serve_workers

            return serve_workers(args.host, args.port, args.workers)
        return _serve(args.host, args.port)
    if args.command == "evaluate":
        return _evaluate(args)
    if args.rules_command == "configmap":
        return _configmap(args.directory, args.out, args.name)
    if args.rules_command == "catalog":
        return _catalog(args.rules, args.out, args.features)
    if args.rules_command == "validate":
        return _validate(args.directory)
    if args.rules_command == "coverage":
        return _coverage(args.directory, args.features)
    if args.rules_command == "compile":
        return _compile(args.directory, dump=args.dump, drafts=args.drafts)
    return _schema(args.out)


def _validate(directory: Path) -> int:
    pack, problems = check_pack(directory, include_drafts=True)
    for problem in problems:
        print(problem, file=sys.stderr)
    if pack is None:
        print(f"{len(problems)} problem(s) found in {directory}", file=sys.stderr)
        return 1
    live = len(pack.rules)
    print(
        f"{directory}: {live} rules, {len(pack.terminology.valuesets)} value sets, "
        f"pack {pack.pack_hash}: OK"
    )
    if not live:  # valid, but a service on it would never say anything: say so
        print(f"warning: no rule files in {directory} (*.yaml, *.yml)", file=sys.stderr)
    return 0


def _compile(directory: Path, *, dump: bool, drafts: bool) -> int:
    pack, problems = check_pack(directory, include_drafts=drafts)
    for problem in problems:
        print(problem, file=sys.stderr)
    if pack is None:
        return 1
    if dump:
        print(dump_rulesets(pack))
    else:
        sizes = {hook: len(rs) - 1 for hook, rs in pack.rulesets.items()}
        print(
            f"compiled pack {pack.pack_hash}: "
            + ", ".join(f"{h}: {n} rules" for h, n in sizes.items())
        )
    return 0


def _configmap(directory: Path, out: Path, name: str) -> int:
    from cds.errors import RulePackError
    from cds.k8s import write_manifests

    try:
        pack_hash = write_manifests(directory, out, name=name)
    except RulePackError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}/rules-configmap.yaml and rules-configmap-patch.yaml (pack {pack_hash})")
    return 0


def _coverage(directory: Path, features: Path) -> int:
    from cds.coverage import coverage

    pack, problems = check_pack(directory)
    for problem in problems:
        print(problem, file=sys.stderr)
    if pack is None:
        return 1
    report = coverage([ir.id for ir in pack.live_rules], features)
    missing = 0
    for entry in report:
        state = "ok" if entry.complete else "MISSING"
        lacks = [k for k, v in (("firing", entry.firing), ("near-miss", entry.near_miss)) if not v]
        print(
            f"{state:8} {entry.rule_id:32} fires in {len(entry.firing)}, "
            f"near misses {len(entry.near_miss)}"
            + (f"  (no {' or '.join(lacks)} scenario)" if lacks else "")
        )
        missing += not entry.complete
    print(f"{len(report) - missing}/{len(report)} active rules fully covered")
    return 1 if missing else 0


def _schema(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    target = out / "rule.schema.json"
    schema = Rule.model_json_schema(by_alias=True)
    schema["$id"] = "https://neurosteroid-cds.invalid/schema/rule.schema.json"
    target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {target}")
    return 0


def _catalog(directory: Path, out: Path, features: Path) -> int:
    from cds.catalog import write_static

    pack, problems = check_pack(directory, include_drafts=True)
    for problem in problems:
        print(problem, file=sys.stderr)
    if pack is None:
        return 1
    if not features.is_dir():
        print(f"note: no features folder {features}: no scenarios listed", file=sys.stderr)

    def progress(number: int, total: int, rule_id: str) -> None:
        print(f"[{number}/{total}] {rule_id}", file=sys.stderr, flush=True)

    try:
        write_static(pack, out, features if features.is_dir() else None, progress)
    except OSError as exc:
        print(f"{out}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'index.html'} ({len(pack.rules)} rules)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from cds.engine import RuleEngine
    from cds.evaluate import (
        InputError,
        evaluate_request,
        load_request,
        parse_now,
        render_json,
        render_text,
    )

    try:
        now = parse_now(args.now) if args.now else datetime.now(UTC)
    except ValueError as exc:
        print(f"--now: {exc}", file=sys.stderr)
        return 2
    try:  # the input first: a bad file is reported before the pack is compiled
        request, source, notes = load_request(args.request, args.hook)
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    pack, problems = check_pack(args.rules, include_drafts=args.drafts)
    if pack is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{args.rules}: the rule pack is invalid", file=sys.stderr)
        return 2
    try:
        evaluation = evaluate_request(
            request, pack, RuleEngine(pack), now=now, path=args.request, source=source, notes=notes
        )
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(render_json(evaluation))
    else:
        sys.stdout.write(render_text(evaluation, explain_=args.explain))
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _serve(host: str, port: int) -> int:
    import uvicorn

    from cds.app import app_or_refusal
    from cds.observability import UVICORN_LOGGING
    from cds.settings import get_settings

    settings = get_settings()
    app = app_or_refusal(settings)
    if app is None:
        return 1
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level, **UVICORN_LOGGING)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
