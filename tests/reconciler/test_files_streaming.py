"""`load_cluster` reads a JSON List item by item; the result, and every error, is the plain reader's.

The plain reader (`read_documents` on each file, then `parse_snapshot`) is the reference: each case
writes files, loads them both ways and compares the snapshots or the error messages.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from intent.cluster import ClusterSnapshot, Pod, parse_snapshot
from intent.errors import SnapshotError
from reconciler import files
from reconciler.files import load_cluster, read_documents, snapshot_files

REAL = Path(__file__).resolve().parents[1] / "intent" / "data" / "real-apiserver" / "cluster-with-managed-fields.json"


def _plain(path: Path) -> ClusterSnapshot | str:
    try:
        return parse_snapshot((str(f), d) for f in snapshot_files(path) for d in read_documents(f))
    except SnapshotError as exc:
        return f"SnapshotError: {exc}"


def _streamed(path: Path) -> ClusterSnapshot | str:
    try:
        return load_cluster(path)
    except SnapshotError as exc:
        return f"SnapshotError: {exc}"


def _node(name: str, cidr: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"rack": "a"}},
            "spec": {"podCIDR": cidr}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.9"}]},
            **extra}


def _pod(name: str, ip: Any = "10.244.1.5") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "web", "labels": {"app": "x"}},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "podIP": ip}}


def _list(items: list[Any], kind: str = "List") -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": kind, "metadata": {"resourceVersion": ""}}


NODES = [_node("n1", "10.244.1.0/24"), _node("n2", "10.244.2.0/24")]
PODS = [_pod("a"), _pod("b", "10.244.2.7")]
CASES: dict[str, str] = {
    "kubectl list": json.dumps(_list(NODES + PODS), indent=2),
    "compact list": json.dumps(_list(NODES + PODS), separators=(",", ":")),
    "items after kind": json.dumps({"kind": "List", "apiVersion": "v1", "items": PODS}),
    "typed list with kinds": json.dumps(_list(PODS, "PodList")),
    "typed list without kinds": json.dumps(_list([{k: v for k, v in p.items() if k != "kind"} for p in PODS],
                                                 "PodList")),
    "kind-less item in a List": json.dumps(_list([PODS[0], {k: v for k, v in PODS[1].items() if k != "kind"}])),
    "nested list item": json.dumps(_list([PODS[0], _list([PODS[1]])])),
    "empty list": json.dumps(_list([])),
    "null items": json.dumps({"kind": "List", "items": None}),
    "one object with an items field": json.dumps({**PODS[0], "items": [1, 2]}),
    "single object": json.dumps(PODS[0]),
    "not a list kind": json.dumps({"kind": "Pod", "items": PODS}),
    "repeated items key": '{"kind": "List", "items": [' + json.dumps(PODS[0]) + '], "items": [' + json.dumps(
        PODS[1]) + "]}",
    "repeated kind key": '{"kind": "PodList", "items": ' + json.dumps(PODS) + ', "kind": "Pod"}',
    "duplicate objects": json.dumps(_list([PODS[0], PODS[0]])),
    "bad pod ip": json.dumps(_list([PODS[0], _pod("c", "10.244.1.300"), _pod("d", "010.244.1.3")])),
    "NaN and big numbers": json.dumps(_list([_pod("e", float("nan")), _pod("f", 2**80)])),
    "non-object item late": json.dumps(_list(PODS + [7])),
    "truncated late": json.dumps(_list(NODES + PODS))[:-40],
    "trailing comma": json.dumps(_list(PODS))[:-1].replace("]", ",]", 1) + "}",
    "extra data": json.dumps(_list(PODS)) + " {}",
    "trailing whitespace": json.dumps(_list(PODS)) + " \n\t\r\n",
    "byte order mark": "\ufeff" + json.dumps(_list(PODS)),
    "null document": "null",
    "top-level array": json.dumps(PODS),
    "no items": json.dumps({"kind": "List"}),
    "empty object": "{}",
    "escaped strings": json.dumps(_list([_pod("q\u00e9\\\"]}")])),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_file_streams_to_the_plain_result(tmp_path: Path, case: str) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(CASES[case], encoding="utf-8")
    assert _streamed(path) == _plain(path)


@pytest.mark.parametrize("late", ["truncated late", "non-object item late", "typed list without kinds",
                                  "repeated items key", "not a list kind"])
def test_a_late_surprise_in_a_later_file_restarts_to_the_plain_result(tmp_path: Path, late: str) -> None:
    (tmp_path / "a-nodes.json").write_text(CASES["kubectl list"], encoding="utf-8")  # streamed first
    (tmp_path / "b.json").write_text(CASES[late], encoding="utf-8")
    (tmp_path / "c.yaml").write_text("kind: Namespace\nmetadata: {name: web}\n", encoding="utf-8")
    assert _streamed(tmp_path) == _plain(tmp_path)


def test_a_real_apiserver_list_streams_item_by_item() -> None:
    documents = list(files._json_objects(REAL))
    whole = read_documents(REAL)[0]
    assert [d for _, d in documents] == whole["items"]  # one document per item, in order
    assert load_cluster(REAL) == _plain(REAL)


def test_plain_files_are_not_streamed_twice(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_text(CASES["typed list without kinds"], encoding="utf-8")
    documents = list(files._json_objects(path))
    assert len(documents) == 1 and documents[0][1]["kind"] == "PodList"  # read whole, the plain way


def test_unreadable_json_is_reported_as_before(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_bytes(b'{"kind": "List", "items": [\xff]}')
    assert _streamed(path) == _plain(path)
    assert "cannot read" in str(_streamed(path))


def test_parsed_pods_are_the_records_their_constructor_makes(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_text(CASES["kubectl list"], encoding="utf-8")
    pod = load_cluster(path).pods["web/b"]
    made = Pod(namespace="web", name="b", labels={"app": "x"}, node_name="n1",
               ips=(ipaddress.ip_address("10.244.2.7"),), host_network=False, phase="Running", ports=())
    assert pod == made and repr(pod) == repr(made)
    assert {name: getattr(pod, name) for name in Pod._fields} == made._asdict()
    with pytest.raises(AttributeError):
        pod.name = "c"  # type: ignore[misc]
