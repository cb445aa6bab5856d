"""Pods made by the real CNI plugins: `bridge` with `host-local` IPAM, no IP masquerade.

The plugin runs inside the node's namespace (it creates the `cni0` bridge and the host side of the
pod's veth where it runs) and moves the pod's `eth0` into the pod's own namespace.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from lab_host import LabError, write_file

CNI_PATH = "/usr/lib/cni"


def network_config(pod_cidr: str, data_dir: Path) -> dict[str, Any]:
    """The node's CNI network: bridge cni0 as the pods' gateway (first address), no masquerade."""
    gateway = str(next(ipaddress.ip_network(pod_cidr).hosts()))
    return {"cniVersion": "1.0.0", "name": "lab-pods", "type": "bridge", "bridge": "cni0",
            "isGateway": True, "ipMasq": False, "hairpinMode": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr, "gateway": gateway}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(data_dir)}}


def write_network(path: Path, pod_cidr: str, data_dir: Path) -> Path:
    return write_file(path, json.dumps(network_config(pod_cidr, data_dir), indent=2))


def _plugin(command: str, node_ns: str, pod_ns: str, container_id: str, conf: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CNI_COMMAND": command, "CNI_CONTAINERID": container_id,
           "CNI_NETNS": f"/var/run/netns/{pod_ns}", "CNI_IFNAME": "eth0", "CNI_PATH": CNI_PATH}
    return subprocess.run(["ip", "netns", "exec", node_ns, f"{CNI_PATH}/bridge"], input=conf.read_text(),
                          env=env, capture_output=True, text=True, timeout=30)


def add_pod(node_ns: str, pod_ns: str, container_id: str, conf: Path) -> str:
    """CNI ADD; returns the pod's IP as the plugin assigned it (host-local does not reuse freed IPs at once)."""
    done = _plugin("ADD", node_ns, pod_ns, container_id, conf)
    if done.returncode != 0:
        raise LabError(f"CNI ADD {container_id} failed: {done.stdout.strip()} {done.stderr.strip()}")
    result = json.loads(done.stdout)
    return str(result["ips"][0]["address"]).split("/")[0]


def del_pod(node_ns: str, pod_ns: str, container_id: str, conf: Path) -> None:
    """CNI DEL (releases the lease); nothing to do if the node or its config is already gone."""
    if conf.exists() and Path("/var/run/netns", node_ns).exists():
        _plugin("DEL", node_ns, pod_ns, container_id, conf)
