"""A cluster reached only through the official client: the fake API server, or a real one."""

from __future__ import annotations

import secrets
import time
from typing import Any

import kubernetes
from fakeapi import FakeApiServer
from kubernetes.client.exceptions import ApiException

ENV = "FABRIC_INTENT_TEST_KUBECONFIG"

# kind -> (API class, create, delete, status patch); namespaced calls take the namespace second
CALLS = {
    "Node": ("CoreV1Api", "create_node", "delete_node", "patch_node_status"),
    "Namespace": ("CoreV1Api", "create_namespace", "delete_namespace", None),
    "Pod": ("CoreV1Api", "create_namespaced_pod", "delete_namespaced_pod", "patch_namespaced_pod_status"),
    "Service": ("CoreV1Api", "create_namespaced_service", "delete_namespaced_service",
                "patch_namespaced_service_status"),
    "EndpointSlice": ("DiscoveryV1Api", "create_namespaced_endpoint_slice", "delete_namespaced_endpoint_slice", None),
    "NetworkPolicy": ("NetworkingV1Api", "create_namespaced_network_policy", "delete_namespaced_network_policy",
                      None),
}


class ContractCluster:
    """A cluster reached only through the official client; `faults` is the fake server when there is one."""

    def __init__(self, client: kubernetes.client.ApiClient, faults: FakeApiServer | None) -> None:
        self.client, self.faults = client, faults
        self.run = secrets.token_hex(3)
        self.namespace = f"fi-contract-{self.run}"
        self._made: list[tuple[str, str, str | None]] = []

    def name(self, base: str) -> str:
        """A name unique to this run (cluster-scoped objects of a real cluster are shared)."""
        return f"fi-{self.run}-{base}"

    def create(self, obj: dict[str, Any]) -> Any:
        kind, meta = obj["kind"], obj["metadata"]
        api_class, create, _, _ = CALLS[kind]
        api = getattr(kubernetes.client, api_class)(self.client)
        namespace = meta.get("namespace")
        deadline = time.monotonic() + 15
        while True:
            try:
                made = getattr(api, create)(namespace, obj) if namespace else getattr(api, create)(obj)
                break
            except ApiException as exc:  # a new namespace gets its ServiceAccount `default` a moment later
                if exc.status != 403 or "serviceaccount" not in str(exc.body) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._made.append((kind, meta["name"], namespace))
        return made

    def patch_status(self, kind: str, name: str, status: dict[str, Any], namespace: str | None = None) -> None:
        api_class, _, _, patch = CALLS[kind]
        api = getattr(kubernetes.client, api_class)(self.client)
        body = {"status": status}
        if namespace:
            getattr(api, patch)(name, namespace, body)
        else:
            getattr(api, patch)(name, body)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        api_class, _, delete, _ = CALLS[kind]
        api = getattr(kubernetes.client, api_class)(self.client)
        getattr(api, delete)(name, namespace) if namespace else getattr(api, delete)(name)
        self._made = [m for m in self._made if m != (kind, name, namespace)]

    def cleanup(self) -> None:
        for kind, name, namespace in reversed(self._made):
            try:
                self.delete(kind, name, namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
