"""The cluster snapshot loader: what kubectl and the API server print, read into `ClusterSnapshot`.

`data/real-apiserver/` holds one small cluster exactly as a real kube-apiserver serialised it (see
its README); `data/snapshots/` holds one malformed or unusual input per file or folder. Every error
names the file and the object, as the user sees it from the folder the snapshot is in.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest
import yaml

from intent.cluster import ClusterSnapshot
from intent.errors import SnapshotError
from reconciler.files import load_cluster

DATA = Path(__file__).resolve().parent / "data"
REAL = DATA / "real-apiserver"
SNAPSHOTS = DATA / "snapshots"


@pytest.fixture(scope="module")
def real_yaml() -> ClusterSnapshot:
    return load_cluster(REAL / "cluster.yaml")


@pytest.fixture(scope="module")
def real_json() -> ClusterSnapshot:
    return load_cluster(REAL / "cluster-with-managed-fields.json")


@pytest.fixture
def in_snapshots(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(SNAPSHOTS)
    return Path(".")


def _problems(path: str) -> list[str]:
    with pytest.raises(SnapshotError) as info:
        load_cluster(Path(path))
    return list(info.value.problems)


# -- a real API server's output --------------------------------------------------------------------


def test_the_two_real_files_differ_only_in_format_and_managed_fields() -> None:
    """Guards the equality test below: the JSON really carries managedFields, the YAML does not."""
    as_json = json.loads((REAL / "cluster-with-managed-fields.json").read_text(encoding="utf-8"))
    as_yaml = yaml.safe_load((REAL / "cluster.yaml").read_text(encoding="utf-8"))
    assert all("managedFields" in item["metadata"] for item in as_json["items"])
    assert not any("managedFields" in item["metadata"] for item in as_yaml["items"])
    assert [i["metadata"]["name"] for i in as_json["items"]] == [i["metadata"]["name"] for i in as_yaml["items"]]


def test_yaml_and_json_with_managed_fields_read_to_the_same_snapshot(
        real_yaml: ClusterSnapshot, real_json: ClusterSnapshot) -> None:
    assert real_yaml == real_json
    assert real_yaml.notices == ()


def test_real_nodes(real_yaml: ClusterSnapshot) -> None:
    nodes = real_yaml.nodes
    assert sorted(nodes) == [f"worker-{rack}{i}" for rack in "abc" for i in (1, 2, 3)]
    for index, name in enumerate(sorted(nodes)):
        rack_number, position = index // 3 + 1, index % 3 + 1
        node = nodes[name]
        assert node.pod_cidrs == (ipaddress.ip_network(f"10.244.{index + 1}.0/24"),)
        assert node.addresses == (("InternalIP", f"192.168.{rack_number}.1{position}"), ("Hostname", name))
        assert node.labels["topology.kubernetes.io/zone"] == f"rack-{'abc'[rack_number - 1]}"
    assert [n for n in sorted(nodes) if not nodes[n].ready] == ["worker-c3"]
    assert not real_yaml.is_empty


def test_real_services_and_load_balancer_ips(real_yaml: ClusterSnapshot) -> None:
    services = real_yaml.services
    assert sorted(services) == ["default/kubernetes", "kube-system/kube-dns", "payments/payments-api", "shop/frontend"]
    frontend, api = services["shop/frontend"], services["payments/payments-api"]
    assert (frontend.type, frontend.external_traffic_policy) == ("LoadBalancer", "Local")
    assert frontend.load_balancer_ips == (ipaddress.ip_address("198.51.100.10"),)
    assert (api.type, api.external_traffic_policy) == ("LoadBalancer", "Cluster")
    assert api.load_balancer_ips == (ipaddress.ip_address("198.51.100.20"),)
    assert services["kube-system/kube-dns"].type == "ClusterIP"
    assert services["kube-system/kube-dns"].load_balancer_ips == ()


def test_real_endpoint_slices(real_yaml: ClusterSnapshot) -> None:
    frontend = real_yaml.slices_for("shop", "frontend")
    assert [s.name for s in frontend] == ["frontend-abcde"]
    assert [(e.node_name, e.ready) for e in frontend[0].endpoints] == [
        ("worker-a1", True), ("worker-a2", True), ("worker-b1", True)]
    api = real_yaml.slices_for("payments", "payments-api")
    assert [(e.addresses, e.node_name) for s in api for e in s.endpoints] == [
        (("10.244.5.20",), "worker-b2"), (("10.244.7.21",), "worker-c1")]
    assert real_yaml.slices_for("payments", "frontend") == []


def test_real_pods_namespaces_and_policies(real_yaml: ClusterSnapshot) -> None:
    assert len(real_yaml.pods) == 7
    host = [key for key, pod in real_yaml.pods.items() if pod.host_network]
    assert host == ["monitoring/node-exporter-a1"]
    assert real_yaml.pods[host[0]].ips == (ipaddress.ip_address("192.168.1.11"),)
    api = real_yaml.pods["payments/api-0"]
    assert (api.node_name, api.phase, api.labels["app"]) == ("worker-b2", "Running", "payments-api")
    assert [(p.name, p.port, p.protocol) for p in api.ports] == [("https", 8443, "TCP")]
    assert {"shop", "payments", "monitoring", "default", "kube-system"} <= set(real_yaml.namespaces)
    assert sorted(real_yaml.network_policies) == [
        "payments/allow-dns-egress", "payments/allow-shop-to-api", "payments/default-deny"]
    deny = real_yaml.network_policies["payments/default-deny"].spec
    assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]


# -- malformed input: every problem named by file and object ---------------------------------------

ERRORS = {
    "bad-cidr.yaml": [
        "bad-cidr.yaml: Node worker-a1: spec.podCIDRs[] '10.244.1.1/24' is not a valid CIDR "
        "(10.244.1.1/24 has host bits set)",
        "bad-cidr.yaml: Node worker-a2: spec.podCIDR '10.244.300.0/24' is not a valid CIDR "
        "('10.244.300.0/24' does not appear to be an IPv4 or IPv6 network)",
    ],
    "bad-ip": [
        "bad-ip/pods.yaml: Pod web/api-1: status.podIP 'x.y' is not an IP address",
        "bad-ip/pods.yaml: Pod web/api-2: status.podIPs[].ip 'fd00:10:244:2::7:1:2:3:4' is not an IP address",
        "bad-ip/services.yaml: Service web/frontend: status.loadBalancer.ingress[].ip '198.51.100.300' "
        "is not an IP address",
    ],
    "missing-name.yaml": [
        "missing-name.yaml: Node without metadata.name",
        "missing-name.yaml: Pod api-1: metadata.namespace is missing",
        "missing-name.yaml: Service without metadata.name",
    ],
    "duplicate": [
        "duplicate/a.yaml: Pod web/api-1 is also defined in duplicate/a.yaml",
        "duplicate/b.yaml: Node worker-a1 is also defined in duplicate/a.yaml",
    ],
    "not-mapping.yaml": [
        "not-mapping.yaml: Node worker-a1: spec must be a mapping, got list",
        "not-mapping.yaml: Node worker-a2: status.addresses[0] must be a mapping, got str",
        "not-mapping.yaml: Node worker-a3: metadata.labels must be a mapping, got list",
        "not-mapping.yaml: Service web/frontend: status.loadBalancer.ingress must be a list, got str",
        "not-mapping.yaml: EndpointSlice web/frontend-7f4qz: endpoints[].conditions must be a mapping, got list",
    ],
    "syntax-error.json": ["syntax-error.json:4:3: invalid JSON: Expecting ',' delimiter"],
    "no-kind.yaml": ["no-kind.yaml: object worker-a1 has no kind"],
    "not-an-object.yaml": ["not-an-object.yaml: expected a Kubernetes object or List, got list"],
    "items-not-a-list.yaml": ["items-not-a-list.yaml: List.items must be a list"],
    "no-snapshot-files": ["no-snapshot-files: no .yaml, .yml or .json files in this folder"],
    "does-not-exist.yaml": ["does-not-exist.yaml: no such file or folder"],
}


@pytest.mark.parametrize("path", sorted(ERRORS))
def test_every_problem_is_named_by_file_and_object(in_snapshots: Path, path: str) -> None:
    assert _problems(path) == ERRORS[path]


def test_yaml_syntax_error_names_file_line_and_column(in_snapshots: Path) -> None:
    # The wording after "invalid YAML:" is the YAML library's (it differs with and without libyaml).
    (line,) = _problems("syntax-error.yaml")
    assert re.fullmatch(r"syntax-error\.yaml:8:4: invalid YAML: \S.*", line), line


# -- shapes kubectl and the API print ---------------------------------------------------------------


def test_typed_lists_give_their_items_a_kind(in_snapshots: Path) -> None:
    snapshot = load_cluster(Path("typed-lists.yaml"))
    assert sorted(snapshot.nodes) == ["worker-a1", "worker-a2"]
    assert snapshot.nodes["worker-a1"].ready and not snapshot.nodes["worker-a2"].ready
    assert snapshot.nodes["worker-a2"].pod_cidrs == (ipaddress.ip_network("10.244.2.0/24"),)
    assert snapshot.services["shop/frontend"].load_balancer_ips == (ipaddress.ip_address("198.51.100.10"),)
    assert snapshot.notices == ()


def test_multi_document_yaml_reads_every_document(in_snapshots: Path) -> None:
    snapshot = load_cluster(Path("multi-document.yaml"))
    node = snapshot.nodes["worker-a1"]
    assert node.pod_cidrs == (ipaddress.ip_network("10.244.1.0/24"), ipaddress.ip_network("fd00:10:244:1::/64"))
    assert [a for _, a in node.addresses] == ["192.168.1.11", "fd00:192:168:1::11"]
    assert snapshot.namespaces["shop"].labels == {"team": "web"}
    pod = snapshot.pods["shop/frontend-0"]
    assert pod.ips == (ipaddress.ip_address("10.244.1.10"), ipaddress.ip_address("fd00:10:244:1::10"))
    assert [(p.name, p.port, p.protocol) for p in pod.ports] == [("http", 8080, "TCP")]


def test_a_single_object_is_a_snapshot_of_one(in_snapshots: Path) -> None:
    snapshot = load_cluster(Path("single-object.yaml"))
    assert list(snapshot.nodes) == ["worker-b1"]
    node = snapshot.nodes["worker-b1"]
    assert node.pod_cidrs == (ipaddress.ip_network("10.244.4.0/24"),)
    assert node.ready is False  # Ready condition "False"
    assert not snapshot.pods and not snapshot.services


def test_unknown_kinds_are_skipped_with_a_notice(in_snapshots: Path) -> None:
    snapshot = load_cluster(Path("unknown-kinds.yaml"))
    assert list(snapshot.nodes) == ["worker-a1"]
    assert snapshot.notices == (
        "unknown-kinds.yaml: skipped ConfigMap default/kube-root-ca.crt "
        "(kind 'ConfigMap' is not used by fabric-intent)",
        "unknown-kinds.yaml: skipped Deployment shop/frontend (kind 'Deployment' is not used by fabric-intent)",
        "unknown-kinds.yaml: skipped PersistentVolume pv-0001 (kind 'PersistentVolume' is not used by fabric-intent)",
    )

