"""samples/deploy: the manifests parse, grant least privilege, and run what the CLI accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fakeapi_store import RESOURCES

from intent.inventory import parse_inventory
from reconciler.kube import SOURCES

DEPLOY = Path(__file__).resolve().parents[2] / "samples" / "deploy"
READ = ["get", "list", "watch"]


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    return docs


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in _documents() if d["kind"] == kind and name in (None, d.get("metadata", {}).get("name"))]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _group_and_plural(kind: str, api_version: str) -> tuple[str, str]:
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    res = next(r for r in RESOURCES if r.kind == kind and r.prefix == prefix)
    return ("" if api_version == "v1" else api_version.split("/")[0]), res.plural


def test_every_manifest_parses_and_kustomize_lists_them_all() -> None:
    kinds = sorted(d["kind"] for d in _documents() if d["kind"] != "Kustomization")
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                            "ConfigMap", "Secret", "Deployment"])
    listed = set(_one("Kustomization")["resources"])
    assert listed == {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_cluster_role_reads_exactly_the_watched_kinds() -> None:
    rules = _one("ClusterRole")["rules"]
    assert not [r for r in rules if "*" in r["apiGroups"] + r["resources"] + r["verbs"]], "no wildcards"
    granted = {(g, res) for r in rules if r["verbs"] == READ for g in r["apiGroups"] for res in r["resources"]}
    watched = {_group_and_plural(s.kind, s.api_version) for s in SOURCES}
    assert granted == watched
    others = [r for r in rules if r["verbs"] != READ]
    assert others == [{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}]


def test_leases_only_in_its_own_namespace() -> None:
    role = _one("Role")
    assert role["metadata"]["namespace"] == "fabric-intent"
    assert role["rules"] == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                              "verbs": ["get", "create", "update"]}]
    binding = _one("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fabric-intent", "namespace": "fabric-intent"}]
    assert _one("ClusterRoleBinding")["subjects"] == binding["subjects"]


def test_the_deployment_runs_two_probed_replicas_of_the_run_command() -> None:
    deployment = _one("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert deployment["spec"]["replicas"] == 2 and spec["serviceAccountName"] == "fabric-intent"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["args"][:3] == ["run", "--fabric", "/etc/fabric-intent/fabric.yaml"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["inventory"]["configMap"]["name"] == _one("ConfigMap")["metadata"]["name"]
    assert volumes["credentials"]["secret"]["secretName"] == _one("Secret")["metadata"]["name"]


@pytest.mark.parametrize("key", ["fabric.yaml"])
def test_the_inventory_config_map_is_a_valid_inventory(key: str) -> None:
    data = _one("ConfigMap")["data"][key]
    inventory = parse_inventory(yaml.safe_load(data), key)
    secret_keys = set(_one("Secret")["stringData"])
    referenced = {Path(ref).name for ref in _file_refs(yaml.safe_load(data))}
    assert inventory.switches and referenced and referenced <= secret_keys


def _file_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["file"]] if set(node) == {"file"} else []) + [r for v in node.values() for r in _file_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _file_refs(v)]
    return []
