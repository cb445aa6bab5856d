"""Batch checking: probes (`{"from", "to", "port", "protocol"}`) against the compiled rule set.

Endpoints are `namespace/pod` or an IP address; a port is a number or a name, resolved on the
destination pod as Kubernetes resolves named ports. The answer is each probe with `allowed` and
the deciding rule of each stage.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from intent.cluster import ClusterSnapshot, Pod
from intent.errors import PolicyError
from intent.policy.compiler import compile_policies
from intent.policy.evaluate import IPAddress, RuleTable, StageVerdict
from intent.policy.groups import resolve_port
from intent.policy.placement import device_objects
from intent.policy.spec import PROTOCOLS

CHECK_DEVICE = "policy-check"  # the device name the checker places the rule set on


def rule_table(cluster: ClusterSnapshot) -> RuleTable:
    """The rule set exactly as an enforcing device receives it."""
    groups, rules = device_objects(compile_policies(cluster), CHECK_DEVICE)
    return RuleTable(groups, rules)


def check_probes(cluster: ClusterSnapshot, probes: Any, source: str = "probes") -> list[dict[str, Any]]:
    """Every probe with `allowed` and `rules`; all malformed probes are reported at once."""
    if not isinstance(probes, list):
        raise PolicyError(f"{source}: must be a JSON list of probes")
    parsed, problems = [], []
    for i, probe in enumerate(probes):
        try:
            parsed.append(_parse(cluster, probe))
        except ValueError as exc:
            problems.append(f"{source}[{i}]: {exc}")
    if problems:
        raise PolicyError(problems)
    table = rule_table(cluster)
    results = []
    for probe, (src, dst, protocol, port) in zip(probes, parsed, strict=True):
        verdict = table.evaluate(src, dst, protocol, port)
        results.append({**probe, "allowed": verdict.allowed,
                        "rules": [_stage(verdict.egress), _stage(verdict.ingress)]})
    return results


def _stage(v: StageVerdict) -> dict[str, Any]:
    return {"stage": v.stage, "decision": v.decision, "rule": v.rule.name if v.rule is not None else None,
            "match": v.rule.describe() if v.rule is not None else None,
            "policies": [str(ref) for ref in v.sources]}


def _parse(cluster: ClusterSnapshot, probe: Any) -> tuple[IPAddress, IPAddress, str, int]:
    if not isinstance(probe, dict):
        raise ValueError("a probe must be an object with from, to, port and protocol")
    missing = [k for k in ("from", "to", "port") if k not in probe]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    protocol = probe.get("protocol", "TCP")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    src, _ = _endpoint(cluster, probe["from"], "from")
    dst, pod = _endpoint(cluster, probe["to"], "to")
    return src, dst, protocol, _port(probe["port"], pod, protocol)


def _endpoint(cluster: ClusterSnapshot, value: Any, field: str) -> tuple[IPAddress, Pod | None]:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} must be 'namespace/pod' or an IP address, got {value!r}")
    if "/" in value:
        pod = cluster.pods.get(value)
        if pod is None:
            raise ValueError(f"{field}: no pod {value} in the cluster snapshot")
        if not pod.ips:
            raise ValueError(f"{field}: pod {value} has no IP (status.podIP)")
        return pod.ips[0], pod
    try:
        return ipaddress.ip_address(value), None
    except ValueError:
        raise ValueError(f"{field}: {value!r} is neither 'namespace/pod' nor an IP address") from None


def _port(value: Any, pod: Pod | None, protocol: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"port {value!r} must be a number or a port name")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} is outside 1-65535")
        return value
    if not isinstance(value, str) or not value:
        raise ValueError(f"port {value!r} must be a number or a port name")
    if pod is None:
        raise ValueError(f"port name {value!r} needs a destination pod ('to' is an IP address)")
    number = resolve_port(pod, value, protocol)
    if number is None:
        raise ValueError(f"pod {pod.namespace}/{pod.name} has no {protocol} container port named {value!r}")
    return number
