"""`cds rules configmap`: the rule pack as a ConfigMap that mounts back into the same pack."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from packbuilder import make_pack, rule

from cds.k8s import MOUNT, rules_manifests
from cds.rules.pack import load_pack

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
K8S_VERSION = "1.30"


def _merge(deployment: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The strategic merge kubectl does for this patch: containers by name, lists of env,
    mounts and volumes appended, scalars replaced."""
    merged = copy.deepcopy(deployment)
    spec = merged["spec"]["template"]["spec"]
    patch_spec = patch["spec"]["template"]["spec"]
    for patch_container in patch_spec["containers"]:
        container = next(c for c in spec["containers"] if c["name"] == patch_container["name"])
        container["command"] = patch_container["command"]
        for field in ("env", "volumeMounts"):
            container.setdefault(field, []).extend(patch_container[field])
    spec.setdefault("volumes", []).extend(patch_spec["volumes"])
    return merged


def test_the_configmap_mounts_back_into_the_same_pack(tmp_path: Path) -> None:
    configmap, patch = rules_manifests(RULES)
    kubernetes_validate.validate(configmap, K8S_VERSION, strict=True)
    volume = patch["spec"]["template"]["spec"]["volumes"][0]["configMap"]
    mounted = tmp_path / "mounted"
    for item in volume["items"]:  # what the kubelet does with items
        target = mounted / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(configmap["data"][item["key"]], encoding="utf-8")
    assert load_pack(mounted).pack_hash == load_pack(RULES).pack_hash
    assert configmap["metadata"]["annotations"]["neurosteroid-cds/pack-hash"] == (
        load_pack(RULES).pack_hash
    )


def test_the_patched_deployment_is_valid_and_watches_the_mount() -> None:
    _, patch = rules_manifests(RULES)
    deployment = yaml.safe_load((ROOT / "deploy" / "k8s" / "deployment.yaml").read_text())
    merged = _merge(deployment, patch)
    kubernetes_validate.validate(merged, K8S_VERSION, strict=True)
    container = merged["spec"]["template"]["spec"]["containers"][0]
    assert "--watch-rules" in container["command"]
    assert {"name": "CDS_RULES_DIR", "value": MOUNT} in container["env"]
    assert any(m["mountPath"] == MOUNT for m in container["volumeMounts"])


def test_the_command_writes_both_files_and_refuses_a_broken_pack(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "cds.cli", "rules", "configmap", str(RULES), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load((out / "rules-configmap.yaml").read_text())["kind"] == "ConfigMap"
    assert yaml.safe_load((out / "rules-configmap-patch.yaml").read_text())["kind"] == "Deployment"
    broken = make_pack(tmp_path, [rule("bad", [{"fact": "medication", "in": "nope"}])])
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "cds.cli",
            "rules",
            "configmap",
            str(broken),
            "--out",
            str(tmp_path / "nothing"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "E104" in refused.stderr
    assert not (tmp_path / "nothing").exists()
