"""Kubernetes Events through the official client and the fake API server: shape, aggregation, rate limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakeapi import FakeApiServer

from intent.model import SourceRef, StaticRoute
from intent.plan import Change
from reconciler.events import EventRecorder


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


def _change(action: str = "create", prefix: str = "10.244.10.0/24") -> Change:
    route = StaticRoute.model_validate({"device": "leaf-a1", "vrf": "default", "prefix": prefix,
                                        "next_hop": "192.168.1.14", "tag": 64512})
    return Change(action=action, key=route.key, kind=route.kind, device="leaf-a1",  # type: ignore[arg-type]
                  summary=route.describe(), before=route if action == "delete" else None,
                  after=None if action == "delete" else route)


NODE = SourceRef(kind="Node", name="worker-a4", field="spec.podCIDR")
SERVICE = SourceRef(kind="Service", namespace="shop", name="frontend")
INVENTORY = SourceRef(kind="FabricInventory", name="dc1", field="vrf")


def _recorder(api: FakeApiServer, per_minute: int = 60) -> EventRecorder:
    recorder = EventRecorder(api.client(), instance="replica-a", per_minute=per_minute)
    recorder.start()
    return recorder


def test_an_event_names_the_object_the_device_and_the_change(api: FakeApiServer) -> None:
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    frontend = api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "frontend", "namespace": "shop"},
                           "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    recorder = _recorder(api)
    recorder.fabric_changed(_change(), [NODE, INVENTORY, NODE])
    recorder.fabric_changed(_change("delete", "10.96.0.0/24"), [SERVICE])
    assert recorder.flush()
    recorder.stop()
    events = {e["regarding"]["name"]: e for e in api.events()}
    assert set(events) == {"worker-a4", "frontend"}  # the inventory is not a Kubernetes object; one per object
    node = events["worker-a4"]
    assert node["metadata"]["namespace"] == "default" and node["regarding"] == {  # uid: as kubelet's Node Events
        "apiVersion": "v1", "kind": "Node", "name": "worker-a4", "uid": "worker-a4"}
    assert (node["reason"], node["action"], node["type"]) == ("FabricProgrammed", "Program", "Normal")
    assert node["note"] == "leaf-a1: + static route 10.244.10.0/24 via 192.168.1.14"
    assert node["reportingController"] == "fabric-intent.io/reconciler" and node["reportingInstance"] == "replica-a"
    service = events["frontend"]
    assert (service["metadata"]["namespace"], service["reason"]) == ("shop", "FabricWithdrawn")
    assert service["regarding"]["uid"] == frontend["metadata"]["uid"]  # what `kubectl describe service` matches


def test_repeats_fold_into_the_series_count(api: FakeApiServer) -> None:
    recorder = _recorder(api)
    for prefix in ("10.244.10.0/24", "10.244.11.0/24", "10.244.12.0/24"):
        recorder.fabric_changed(_change(prefix=prefix), [NODE])
    assert recorder.flush()
    recorder.stop()
    (event,) = api.events()
    assert event["series"]["count"] == 3 and event["series"]["lastObservedTime"]


def test_at_most_the_rate_limit_of_new_events_is_posted(api: FakeApiServer) -> None:
    recorder = _recorder(api, per_minute=2)
    for index in range(5):
        recorder.fabric_changed(_change(), [SourceRef(kind="Node", name=f"worker-{index}")])
    assert recorder.flush()
    recorder.stop()
    assert len(api.events()) == 2 and (recorder.posted, recorder.dropped) == (2, 3)


def test_an_api_error_is_logged_and_the_recorder_carries_on(api: FakeApiServer) -> None:
    api.forbid("create", "events")
    recorder = _recorder(api)
    recorder.fabric_changed(_change(), [NODE])
    assert recorder.flush()
    recorder.stop()
    assert api.events() == [] and recorder.posted == 0
