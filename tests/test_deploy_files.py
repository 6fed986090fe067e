"""The deployment files (Dockerfile, docker-compose.yml, deploy/) agree with the code and with
each other. No Docker engine or cluster is needed: the files are parsed, and the Kubernetes
manifests are validated against the Kubernetes JSON schemas shipped by ``kubernetes-validate``."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, cast
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from cds.auth import load_trusted_issuers
from cds.settings import Settings
from cds.web.sandbox import sample_names, samples_dir

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.30"  # the oldest Kubernetes the manifests must work on
SERVE_COMMAND = ["cds", "serve", "--host", "0.0.0.0", "--port", "8080"]
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


# --- helpers ------------------------------------------------------------------------------------


def _settings_env_names() -> set[str]:
    return {f"CDS_{name.upper()}" for name in Settings.model_fields}


def _port_after(args: list[str], flag: str = "--port") -> int:
    return int(args[args.index(flag) + 1])


def _url_port(text: str, path: str) -> int:
    """The port of the one ``http://127.0.0.1:PORT{path}`` URL in ``text``."""
    found = re.findall(r"http://(?:127\.0\.0\.1|localhost):(\d+)" + re.escape(path), text)
    assert len(found) == 1, f"expected one URL ending in {path} in {text!r}"
    return int(found[0])


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    args: str


def _dockerfile() -> list[Instruction]:
    """Instructions (continuation lines joined, comments dropped), each with its stage index."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(stage, keyword, args.strip()))
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def _one(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not the exec (JSON) form: {args}"
    return [str(v) for v in value]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _manifests() -> list[tuple[Path, dict[str, Any]]]:
    found: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found.append((path, doc))
    return found


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in _manifests() if doc["kind"] == kind]


def _deployment() -> dict[str, Any]:
    (deployment,) = _by_kind("Deployment")
    return deployment


def _container() -> dict[str, Any]:
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = container
    return found


# --- Dockerfile ---------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_with_gcc_only_in_the_build_stage() -> None:
    instructions = _dockerfile()
    froms = [i for i in instructions if i.keyword == "FROM"]
    assert len(froms) >= 2
    assert all(i.args.split()[0] == "python:3.11-slim-bookworm" for i in froms)
    last = froms[-1].stage
    build_runs = " ".join(i.args for i in instructions if i.keyword == "RUN" and i.stage < last)
    final_runs = " ".join(i.args for i in instructions if i.keyword == "RUN" and i.stage == last)
    assert "gcc" in build_runs
    assert "pip wheel" in build_runs
    assert "/wheels" in build_runs
    assert "gcc" not in final_runs
    assert "apt-get" not in final_runs
    assert "--no-index" in final_runs
    assert "/wheels" in final_runs


def test_dockerfile_runs_as_a_non_root_user_in_the_final_stage() -> None:
    instructions = _dockerfile()
    last = max(i.stage for i in instructions)
    users = [i for i in instructions if i.keyword == "USER" and i.stage == last]
    assert users, "no USER in the final stage"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001"
    # Nothing after USER needs root (no RUN as the service user that installs packages).
    after = instructions[instructions.index(users[-1]) :]
    assert not any(i.keyword == "RUN" and "install" in i.args for i in after)


def test_dockerfile_ports_healthcheck_and_command_agree() -> None:
    instructions = _dockerfile()
    exposed = int(_one(instructions, "EXPOSE").args.split("/")[0])
    command = _exec_form(_one(instructions, "CMD").args)
    assert command == SERVE_COMMAND
    assert _port_after(command) == exposed
    healthcheck = _one(instructions, "HEALTHCHECK").args
    assert "curl" not in healthcheck
    assert "wget" not in healthcheck
    probe = _exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert probe[0] == "python"
    assert _url_port(" ".join(probe), "/livez") == exposed


def test_dockerfile_bakes_in_the_rule_pack_and_points_settings_at_it() -> None:
    instructions = _dockerfile()
    last = max(i.stage for i in instructions)
    envs = " ".join(i.args for i in instructions if i.keyword == "ENV" and i.stage == last)
    assert "CDS_RULES_DIR=/app/rules" in envs
    for name in re.findall(r"\b(CDS_[A-Z_]+)=", envs):
        assert name in _settings_env_names()
    copies = [i.args for i in instructions if i.keyword == "COPY" and i.stage == last]
    assert any(c.split()[-2:] == ["rules/", "/app/rules/"] for c in copies)


def test_dockerfile_puts_the_samples_where_the_sandbox_looks(tmp_path: Path) -> None:
    instructions = _dockerfile()
    last = max(i.stage for i in instructions)
    copies = dict(
        i.args.split()[-2:] for i in instructions if i.keyword == "COPY" and i.stage == last
    )
    image = tmp_path / "image"  # the image's layout, rebuilt from the COPY instructions
    for source, target in copies.items():
        shutil.copytree(ROOT / source, image / target.strip("/"))
    found = samples_dir(image / "app" / "rules")
    assert found == (image / "app" / "samples" / "patients").resolve()
    assert sample_names(found) == sample_names(ROOT / "samples" / "patients") != []


def test_dockerignore_keeps_the_build_inputs_and_drops_the_rest() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in ("pyproject.toml", "README.md", "cds", "rules"):
        assert needed not in patterns
        assert f"{needed}/" not in patterns
    for dropped in (".git", ".venv", "var"):
        assert dropped in patterns
    # Every COPY source of the Dockerfile is sent with the build context.
    for instruction in _dockerfile():
        if instruction.keyword == "COPY" and "--from" not in instruction.args:
            for source in instruction.args.split()[:-1]:
                assert source.rstrip("/") not in patterns, source


# --- docker-compose.yml -------------------------------------------------------------------------


def test_compose_has_the_services(services: dict[str, Any]) -> None:
    assert {"cds", "postgres", "hapi", "hapi-loader"} <= set(services)
    assert services["cds"]["build"] == "."
    assert services["postgres"]["image"] == "postgres:16"
    assert services["hapi"]["image"] == "hapiproject/hapi:latest"


def test_every_cds_variable_in_compose_is_a_setting(services: dict[str, Any]) -> None:
    known = _settings_env_names()
    used = {
        name for service in services.values() for name in _environment(service) if "CDS_" in name
    }
    assert used, "no CDS_* variables in docker-compose.yml"
    assert used <= known, f"not in cds.settings.Settings: {sorted(used - known)}"
    env = _environment(services["cds"])
    assert env["CDS_AUTH"] == "jwt"
    assert {"CDS_TRUSTED_ISSUERS_FILE", "CDS_DATABASE_URL", "CDS_PATIENT_KEY_SECRET"} <= set(env)


def test_compose_patient_key_secret_comes_from_the_environment(services: dict[str, Any]) -> None:
    value = _environment(services["cds"])["CDS_PATIENT_KEY_SECRET"]
    match = re.fullmatch(r"\$\{CDS_PATIENT_KEY_SECRET:-([^}]+)\}", value)
    assert match, value
    assert "change-me" in match.group(1)


def test_compose_database_url_points_at_the_postgres_service(services: dict[str, Any]) -> None:
    url = urlsplit(_environment(services["cds"])["CDS_DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg"
    postgres = _environment(services["postgres"])
    assert url.hostname == "postgres"
    assert url.port == 5432
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_compose_trusted_issuers_file_is_mounted_and_valid(services: dict[str, Any]) -> None:
    cds = services["cds"]
    target = _environment(cds)["CDS_TRUSTED_ISSUERS_FILE"]
    mounts = {}
    for volume in cds["volumes"]:
        source, destination = volume.split(":")[:2]
        mounts[destination] = source
    assert mounts[target] == "./deploy/trusted-issuers.example.yaml"
    issuers = load_trusted_issuers(ROOT / "deploy" / "trusted-issuers.example.yaml")
    assert issuers  # loads: inline keys are public keys with a kid


def test_compose_cds_command_ports_and_healthcheck_agree(services: dict[str, Any]) -> None:
    cds = services["cds"]
    command = cds["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    assert command == SERVE_COMMAND
    assert command == _exec_form(_one(_dockerfile(), "CMD").args)
    listens = _port_after(command)
    published = [str(p).split(":") for p in cds["ports"]]
    assert [listens] == [int(p[-1]) for p in published]
    assert _url_port(" ".join(cds["healthcheck"]["test"]), "/livez") == listens
    assert int(_one(_dockerfile(), "EXPOSE").args) == listens


def test_readme_documents_the_same_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Running in production and scaling out" in readme
    assert " ".join(SERVE_COMMAND) in readme


def test_compose_depends_on_uses_conditions_on_checked_services(services: dict[str, Any]) -> None:
    allowed = {"service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must use conditions"
        for other, how in depends.items():
            assert other in services, f"{name} depends on unknown {other}"
            assert how["condition"] in allowed, f"{name} → {other}: {how}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[other], f"{other} has no healthcheck"
    assert services["cds"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["cds"]["depends_on"]["hapi"]["condition"] == "service_healthy"
    assert services["hapi-loader"]["depends_on"]["hapi"]["condition"] == "service_healthy"


def test_compose_healthchecks_need_no_missing_tools(services: dict[str, Any]) -> None:
    postgres = services["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in postgres
    hapi = services["hapi"]
    probe = hapi["healthcheck"]["test"]
    # HAPI's image is distroless: the probe binary comes from a volume filled by a one-shot.
    assert probe[0] == "CMD"
    assert probe[1].startswith("/probe/")
    assert any(v.split(":")[1] == "/probe" for v in hapi["volumes"])
    assert hapi["depends_on"]["hapi-probe"]["condition"] == "service_completed_successfully"
    assert _url_port(" ".join(probe), "/fhir/metadata") == 8080


def test_compose_loader_mounts_its_script_and_the_samples(services: dict[str, Any]) -> None:
    loader = services["hapi-loader"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in loader["volumes"]}
    script = Path(loader["command"][-1])
    source = ROOT / mounts[str(script.parent)] / script.name
    assert source.is_file()
    env = _environment(loader)
    assert (ROOT / mounts[env["SAMPLES_DIR"]]).resolve() == ROOT / "samples" / "patients"
    assert urlsplit(env["FHIR_BASE"]).hostname == "hapi"


# --- the HAPI loader ----------------------------------------------------------------------------


def _loader() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "load_samples", ROOT / "deploy" / "hapi" / "load_samples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SAMPLES = sorted((ROOT / "samples" / "patients").glob("*.json"))


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_samples_become_put_transactions(path: Path) -> None:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    transaction = cast(dict[str, Any], _loader().to_transaction(bundle))
    assert transaction["type"] == "transaction"
    entries = transaction["entry"]
    assert len(entries) == len(bundle["entry"])
    keys = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries]
    refs = {
        key: set(re.findall(r'"reference": "([^"]+)"', json.dumps(e["resource"]))) & set(keys)
        for key, e in zip(keys, entries, strict=True)
    }

    def reaches(start: str, goal: str) -> bool:
        todo, done = [start], set()
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in done:
                done.add(node)
                todo.extend(refs[node])
        return False

    seen: set[str] = set()
    for key, entry in zip(keys, entries, strict=True):
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": key}
        # HAPI's default client id strategy (ALPHANUMERIC) refuses purely numeric ids on PUT.
        assert FHIR_ID.match(resource["id"])
        assert not resource["id"].isdigit()
        for ref in refs[key] - {key} - seen:  # only a reference cycle may point forward
            assert reaches(ref, key), f"{key} comes before {ref}, which it references"
        seen.add(key)


class _Recorder(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        type(self).bodies.append(body)
        answer = {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": {"status": "201 Created"}} for _ in body["entry"]],
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_loader_posts_every_sample_as_a_transaction(
    recording_server: tuple[str, list[dict[str, Any]]],
) -> None:
    base, bodies = recording_server
    failed = _loader().load(base, ROOT / "samples" / "patients")
    assert failed == 0
    assert len(bodies) == len(SAMPLES)
    assert all(b["type"] == "transaction" for b in bodies)


# --- Kubernetes ---------------------------------------------------------------------------------

MANIFESTS = _manifests()


@pytest.mark.parametrize(
    "doc", [doc for _, doc in MANIFESTS], ids=[f"{p.name}:{d['kind']}" for p, d in MANIFESTS]
)
def test_manifest_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    # strict: unknown fields (typos) are errors too.
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_manifests_cover_the_deployment() -> None:
    kinds = sorted(doc["kind"] for _, doc in MANIFESTS)
    for kind in (
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    ):
        assert kind in kinds
    (hpa,) = _by_kind("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    (pdb,) = _by_kind("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"


def test_schema_validation_catches_a_typo() -> None:
    (pdb,) = _by_kind("PodDisruptionBudget")
    broken = {**pdb, "spec": {**pdb["spec"], "minAvailabel": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_deployment_probes_ports_and_command() -> None:
    container = _container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080}
    command = container["command"]
    assert command[: len(SERVE_COMMAND)] == SERVE_COMMAND
    assert _port_after(command) == ports["http"] == int(_one(_dockerfile(), "EXPOSE").args)
    assert int(command[command.index("--workers") + 1]) >= 1
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        port = container[probe]["httpGet"]["port"]
        assert ports.get(port, port) == ports["http"], probe


def test_deployment_is_replicated_non_root_and_bounded() -> None:
    deployment = _deployment()
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    container = _container()
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    # workers per pod = the cores the pod may use.
    workers = int(container["command"][container["command"].index("--workers") + 1])
    assert str(workers) == str(container["resources"]["limits"]["cpu"])
    # The supervisor's SIGKILL deadline ends before Kubernetes' own.
    from cds.supervisor import GRACE_S

    assert pod["terminationGracePeriodSeconds"] > GRACE_S


def test_deployment_environment_comes_from_the_configmap_and_secret() -> None:
    container = _container()
    config_maps = {doc["metadata"]["name"]: doc for doc in _by_kind("ConfigMap")}
    secrets = {doc["metadata"]["name"]: doc for doc in _by_kind("Secret")}
    names: set[str] = set()
    for source in container["envFrom"]:
        if "configMapRef" in source:
            names |= set(config_maps[source["configMapRef"]["name"]]["data"])
        else:
            secret = secrets[source["secretRef"]["name"]]
            names |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    names |= {e["name"] for e in container.get("env", [])}
    assert names <= _settings_env_names(), sorted(names - _settings_env_names())
    assert {"CDS_DATABASE_URL", "CDS_PATIENT_KEY_SECRET", "CDS_AUTH"} <= names
    for source in container["envFrom"]:
        if "secretRef" in source:
            secret = secrets[source["secretRef"]["name"]]
            assert "CDS_PATIENT_KEY_SECRET" in secret.get("stringData", {})


def test_deployment_mounts_the_trusted_issuers(tmp_path: Path) -> None:
    container = _container()
    pod = _deployment()["spec"]["template"]["spec"]
    config = {}
    for doc in _by_kind("ConfigMap"):
        config.update(doc["data"])
    issuers_file = Path(config["CDS_TRUSTED_ISSUERS_FILE"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(issuers_file.parent)]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (issuers_map,) = [
        doc
        for doc in _by_kind("ConfigMap")
        if doc["metadata"]["name"] == volume["configMap"]["name"]
    ]
    target = tmp_path / issuers_file.name
    target.write_text(issuers_map["data"][issuers_file.name], encoding="utf-8")
    assert load_trusted_issuers(target)
    assert config["CDS_RULES_DIR"] == "/app/rules"


def test_service_hpa_and_pdb_point_at_the_deployment() -> None:
    deployment = _deployment()
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (service,) = _by_kind("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"]: p["containerPort"] for p in _container()["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in ports or port["targetPort"] in ports.values()
    (hpa,) = _by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert hpa["spec"]["minReplicas"] >= deployment["spec"]["replicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["averageUtilization"] == 70
    (pdb,) = _by_kind("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # The PDB leaves room to evict one pod at the smallest size the HPA allows.
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
