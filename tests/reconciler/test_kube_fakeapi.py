"""The fake API server speaks the protocol the official client expects: checked with the client itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
import urllib3
from fakeapi import FakeApiServer, wait_until
from kubernetes.client import CoordinationV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import Watch


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}}


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer(bookmark_interval=None) as server:
        yield server


@pytest.fixture
def core(api: FakeApiServer) -> Iterator[CoreV1Api]:
    with api.client() as client:
        yield CoreV1Api(client)


def status_of(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def test_list_is_a_typed_list_with_the_servers_resource_version(api: FakeApiServer, core: CoreV1Api) -> None:
    api.create(node("worker-1"))
    listed = core.list_node()
    assert listed.metadata.resource_version == str(api.resource_version)
    assert [n.metadata.name for n in listed.items] == ["worker-1"]
    assert listed.items[0].spec.pod_cidrs == ["10.244.1.0/24"]  # the 37.x model attribute
    raw = json.loads(core.list_node(_preload_content=False).data)
    assert raw["kind"] == "NodeList" and raw["apiVersion"] == "v1"
    assert "kind" not in raw["items"][0], "the real server sends list items without kind/apiVersion"


def test_paged_list_is_one_consistent_snapshot(api: FakeApiServer, core: CoreV1Api) -> None:
    for i in range(5):
        api.create(node(f"worker-{i}"))
    first = core.list_node(limit=2)
    assert first.metadata.remaining_item_count == 3 and first.metadata.var_continue
    api.create(node("worker-late"))  # made after the first page: not in this list
    names = [n.metadata.name for n in first.items]
    token = first.metadata.var_continue
    while token:
        page = core.list_node(limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [n.metadata.name for n in page.items]
        token = page.metadata.var_continue
    assert names == [f"worker-{i}" for i in range(5)]


def test_continue_after_compaction_is_410_expired(api: FakeApiServer, core: CoreV1Api) -> None:
    for i in range(3):
        api.create(node(f"worker-{i}"))
    first = core.list_node(limit=1)
    api.create(node("worker-9"))
    api.compact()
    with pytest.raises(ApiException) as info:
        core.list_node(limit=1, _continue=first.metadata.var_continue)
    assert info.value.status == 410 and status_of(info.value)["reason"] == "Expired"


@pytest.mark.parametrize(("selector", "expected"), [
    ("rack=a", ["w1", "w2"]), ("rack!=a", ["w3", "w4"]), ("rack in (a,b)", ["w1", "w2", "w3"]),
    ("rack notin (a),role", ["w3"]), ("!role", ["w1", "w2", "w4"]), ("rack=a,!role", ["w1", "w2"]),
])
def test_label_selectors(api: FakeApiServer, core: CoreV1Api, selector: str, expected: list[str]) -> None:
    for name, labels in [("w1", {"rack": "a"}), ("w2", {"rack": "a"}), ("w3", {"rack": "b", "role": "x"}),
                         ("w4", {})]:
        api.create(node(name, **labels))
    assert [n.metadata.name for n in core.list_node(label_selector=selector).items] == expected


def test_field_selectors(api: FakeApiServer, core: CoreV1Api) -> None:
    for name in ("w1", "w2"):
        api.create(node(name))
    assert [n.metadata.name for n in core.list_node(field_selector="metadata.name=w2").items] == ["w2"]
    assert [n.metadata.name for n in core.list_node(field_selector="metadata.name!=w2").items] == ["w1"]
    with pytest.raises(ApiException) as info:
        core.list_node(field_selector="spec.unschedulable=true")
    assert info.value.status == 400 and "field label not supported" in status_of(info.value)["message"]


def test_bad_label_selector_is_400(core: CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.list_node(label_selector="rack in a")
    assert info.value.status == 400 and status_of(info.value)["reason"] == "BadRequest"


def test_watch_streams_changes_after_the_resource_version(api: FakeApiServer, core: CoreV1Api) -> None:
    api.create(node("before"))
    rv = core.list_node().metadata.resource_version
    watch, seen = Watch(), []

    def consume() -> None:
        for event in watch.stream(core.list_node, resource_version=rv, _request_timeout=(5, 10)):
            seen.append((event["type"], event["object"].metadata.name, event["object"].metadata.resource_version))
            if len(seen) == 3:
                watch.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    assert api.wait_for_watchers(1, "Node")
    api.create(node("worker-1"))
    api.replace({**node("worker-1", rack="a")})
    api.delete("Node", "worker-1")
    thread.join(10)
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "worker-1"), ("MODIFIED", "worker-1"), ("DELETED", "worker-1")]
    assert [int(v) for _, _, v in seen] == [int(rv) + 1, int(rv) + 2, int(rv) + 3]


def raw_watch(api: FakeApiServer, core: CoreV1Api, **query: Any) -> Any:
    return core.list_node(watch=True, _preload_content=False, _request_timeout=(5, 10), **query)


def lines(response: Any) -> Iterator[dict[str, Any]]:
    from kubernetes.watch.watch import iter_resp_lines

    for line in iter_resp_lines(response):
        if line:
            yield json.loads(line)


def test_watch_from_compacted_version_gets_an_expired_error_event(api: FakeApiServer, core: CoreV1Api) -> None:
    api.create(node("worker-1"))
    old = api.resource_version
    api.create(node("worker-2"))
    api.compact()
    response = raw_watch(api, core, resource_version=str(old))
    assert response.status == 200 and response.headers["Transfer-Encoding"] == "chunked"
    events = list(lines(response))
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    with pytest.raises(ApiException) as info:  # the client's Watch retries once, then raises 410
        list(Watch().stream(core.list_node, resource_version=str(old)))
    assert info.value.status == 410


def test_expired_as_http_410(core: CoreV1Api, api: FakeApiServer) -> None:
    api.expired_as_http = True
    api.create(node("worker-1"))
    api.compact()
    with pytest.raises(ApiException) as info:
        raw_watch(api, core, resource_version="1")
    assert info.value.status == 410


def test_bookmarks_only_when_asked(api: FakeApiServer, core: CoreV1Api) -> None:
    plain = lines(raw_watch(api, core, resource_version=str(api.resource_version)))
    marked = lines(raw_watch(api, core, resource_version=str(api.resource_version), allow_watch_bookmarks=True))
    assert api.wait_for_watchers(2, "Node")
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})  # another kind
    api.bookmark()
    api.create(node("worker-1"))
    first_plain = next(plain)
    got_marked = [next(marked), next(marked)]
    api.cut_watches()
    assert first_plain["type"] == "ADDED" and _until_cut(plain) == []
    assert sorted(e["type"] for e in got_marked) == ["ADDED", "BOOKMARK"]
    bookmark = next(e["object"] for e in got_marked if e["type"] == "BOOKMARK")
    assert bookmark["kind"] == "Node" and set(bookmark["metadata"]) == {"resourceVersion"}
    assert int(bookmark["metadata"]["resourceVersion"]) >= api.resource_version - 1  # past the Namespace change


def _until_cut(events: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    with pytest.raises(urllib3.exceptions.ProtocolError):  # cut: the stream ends without its last chunk
        for event in events:
            got.append(event)
    return got


def test_watch_without_resource_version_starts_with_current_objects(api: FakeApiServer, core: CoreV1Api) -> None:
    api.create(node("worker-1"))
    response = raw_watch(api, core, timeout_seconds=1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines(response)] == [("ADDED", "worker-1")]


def test_selector_watch_sees_objects_leave_and_enter(api: FakeApiServer, core: CoreV1Api) -> None:
    api.create(node("worker-1", rack="a"))
    api.create(node("worker-2", rack="b"))
    events = lines(raw_watch(api, core, resource_version=str(api.resource_version), label_selector="rack=a"))
    assert api.wait_for_watchers(1)
    api.replace(node("worker-1", rack="b"))
    api.replace(node("worker-2", rack="b"))
    api.replace(node("worker-1", rack="a"))
    assert [next(events)["type"], next(events)["type"]] == ["DELETED", "ADDED"]


def test_errors_are_status_objects(api: FakeApiServer, core: CoreV1Api) -> None:
    api.create(node("worker-1"))
    with pytest.raises(ApiException) as missing:
        core.read_node("nope")
    assert status_of(missing.value)["reason"] == "NotFound" and missing.value.status == 404
    with pytest.raises(ApiException) as twice:
        core.create_node(node("worker-1"))
    assert twice.value.status == 409 and status_of(twice.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as no_ns:
        core.create_namespaced_service("nowhere", {"metadata": {"name": "web"}, "spec": {}})
    assert no_ns.value.status == 404 and 'namespaces "nowhere" not found' in status_of(no_ns.value)["message"]


def test_pod_cidr_cannot_change_once_set(api: FakeApiServer, core: CoreV1Api) -> None:
    api.create(node("worker-1"))
    with pytest.raises(ApiException) as info:
        core.patch_node("worker-1", {"spec": {"podCIDR": "10.244.9.0/24", "podCIDRs": ["10.244.9.0/24"]}})
    assert info.value.status == 422 and status_of(info.value)["reason"] == "Invalid"


def test_stale_lease_update_is_409_conflict(api: FakeApiServer) -> None:
    with api.client() as client:
        leases = CoordinationV1Api(client)
        created = leases.create_namespaced_lease("default", {"metadata": {"name": "lock"},
                                                             "spec": {"holderIdentity": "a"}})
        stale = leases.read_namespaced_lease("lock", "default")
        created.spec.holder_identity = "b"
        leases.replace_namespaced_lease("lock", "default", created)
        stale.spec.holder_identity = "c"
        with pytest.raises(ApiException) as info:
            leases.replace_namespaced_lease("lock", "default", stale)
        assert info.value.status == 409 and status_of(info.value)["reason"] == "Conflict"
        assert leases.read_namespaced_lease("lock", "default").spec.holder_identity == "b"


def test_no_op_update_keeps_the_resource_version(api: FakeApiServer, core: CoreV1Api) -> None:
    created = api.create(node("worker-1"))
    again = core.replace_node("worker-1", core.read_node("worker-1"))
    assert again.metadata.resource_version == created["metadata"]["resourceVersion"]


def test_status_subresource_sets_a_load_balancer_ip(api: FakeApiServer, core: CoreV1Api) -> None:
    api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                "spec": {"type": "LoadBalancer"}})
    core.patch_namespaced_service_status("web", "default",
                                         {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}})
    core.patch_namespaced_service("web", "default", {"status": {"loadBalancer": {}}})  # ignored off /status
    assert api.objects("Service")[0]["status"]["loadBalancer"]["ingress"] == [{"ip": "198.51.100.7"}]


def test_events_are_kept(api: FakeApiServer, core: CoreV1Api) -> None:
    core.create_namespaced_event("default", {"metadata": {"generateName": "worker-1."}, "reason": "RouteProgrammed",
                                             "involvedObject": {"kind": "Node", "name": "worker-1"}})
    assert [e["reason"] for e in api.events()] == ["RouteProgrammed"]


def test_wrong_token_is_401(api: FakeApiServer) -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = api.url
    configuration.api_key = {"authorization": "Bearer wrong"}
    with kubernetes.client.ApiClient(configuration) as client, pytest.raises(ApiException) as info:
        CoreV1Api(client).list_node()
    assert info.value.status == 401


def test_kubeconfig_is_loadable(api: FakeApiServer, tmp_path: Any) -> None:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    with kubernetes.config.new_client_from_config(config_file=str(path)) as client:
        assert CoreV1Api(client).read_namespace("default").metadata.name == "default"


def test_fail_forbid_and_outage_hooks(api: FakeApiServer, core: CoreV1Api) -> None:
    api.fail(500, times=1, path="/api/v1/nodes", retry_after=3)  # urllib3 itself retries a 503 with Retry-After
    with pytest.raises(ApiException) as info:
        core.list_node()
    assert info.value.status == 500 and info.value.headers["Retry-After"] == "3"
    core.list_node()
    api.forbid("list", "nodes")
    with pytest.raises(ApiException) as denied:
        core.list_node()
    assert denied.value.status == 403 and 'cannot list resource "nodes"' in status_of(denied.value)["message"]
    api.permit("list", "nodes")
    api.go_down()
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_node(_request_timeout=(1, 1))
    api.come_back()
    assert wait_until(lambda: core.list_node() is not None)
