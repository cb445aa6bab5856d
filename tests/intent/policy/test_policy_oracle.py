"""Random policies: the compiled rule set agrees with a direct reading of the NetworkPolicy spec.

The oracle below evaluates policy objects straight from the API's definitions, sharing no code
with the compiler; hypothesis draws policies (selectors with every operator, peers of every
kind, numeric, ranged and named ports, every policyTypes form) over the upstream x/y/z topology,
and every pod pair must get the same verdict from both, for every protocol and port.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_cases import policy_document, topology

from intent.cluster import ClusterSnapshot, Pod, parse_snapshot
from intent.policy.probes import rule_table

KEYS, VALUES = ["pod", "ns", "tier"], ["a", "b", "c", "x", "y"]


# -- the oracle ---------------------------------------------------------------------------------
def _selected(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        present, value = e["key"] in labels, labels.get(e["key"])
        ok = {"In": present and value in e.get("values", []), "NotIn": not present or value not in e.get("values", []),
              "Exists": present, "DoesNotExist": not present}[e["operator"]]
        if not ok:
            return False
    return True


def _peer(peer: dict[str, Any], policy_ns: str, other: Pod, cluster: ClusterSnapshot) -> bool:
    if "ipBlock" in peer:
        ip = other.ips[0]
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if "namespaceSelector" in peer:
        ns_labels = {**cluster.namespaces[other.namespace].labels, "kubernetes.io/metadata.name": other.namespace}
        if not _selected(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False
    return _selected(peer.get("podSelector") or {}, dict(other.labels))


def _port(ports: list[dict[str, Any]] | None, protocol: str, port: int, dst: Pod) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        number = p.get("port")
        if number is None:
            return True
        if isinstance(number, str):
            named = [c.port for c in dst.ports if c.name == number and c.protocol == protocol]
            if named and named[0] == port:
                return True
        elif number <= port <= p.get("endPort", number):
            return True
    return False


def _types(spec: dict[str, Any]) -> list[str]:
    return spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])


def _direction(cluster: ClusterSnapshot, policies: list[dict[str, Any]], me: Pod, other: Pod, direction: str,
               protocol: str, port: int, dst: Pod) -> bool:
    field, peers_field = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    mine = [p for p in policies if p["namespace"] == me.namespace and direction in _types(p["spec"])
            and _selected(p["spec"].get("podSelector") or {}, dict(me.labels))]
    if not mine:
        return True
    return any((not rule.get(peers_field) or any(_peer(peer, p["namespace"], other, cluster)
                                                  for peer in rule[peers_field]))
               and _port(rule.get("ports"), protocol, port, dst)
               for p in mine for rule in p["spec"].get(field) or [])


def oracle(cluster: ClusterSnapshot, policies: list[dict[str, Any]], src: Pod, dst: Pod, protocol: str,
           port: int) -> bool:
    return (_direction(cluster, policies, src, dst, "Egress", protocol, port, dst)
            and _direction(cluster, policies, dst, src, "Ingress", protocol, port, dst))


# -- random policies ----------------------------------------------------------------------------
expression = st.one_of(
    st.builds(lambda k, v, op: {"key": k, "operator": op, "values": v}, st.sampled_from(KEYS),
              st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True), st.sampled_from(["In", "NotIn"])),
    st.builds(lambda k, op: {"key": k, "operator": op}, st.sampled_from(KEYS),
              st.sampled_from(["Exists", "DoesNotExist"])))
selector = st.one_of(st.just({}), st.builds(lambda v: {"matchLabels": {"pod": v}}, st.sampled_from("abc")),
                     st.builds(lambda e: {"matchExpressions": e}, st.lists(expression, min_size=1, max_size=2)))
ns_selector = st.one_of(st.just({}), st.builds(lambda v: {"matchLabels": {"ns": v}}, st.sampled_from("xyz")),
                        st.builds(lambda e: {"matchExpressions": e}, st.lists(expression, min_size=1, max_size=2)))
ip_block = st.sampled_from([
    {"cidr": "10.244.2.2/32"}, {"cidr": "10.244.0.0/16", "except": ["10.244.3.0/24"]},
    {"cidr": "10.244.1.0/24", "except": ["10.244.1.2/32"]}, {"cidr": "0.0.0.0/0"}])
peer = st.one_of(st.builds(lambda s: {"podSelector": s}, selector),
                 st.builds(lambda s: {"namespaceSelector": s}, ns_selector),
                 st.builds(lambda n, s: {"namespaceSelector": n, "podSelector": s}, ns_selector, selector),
                 st.builds(lambda b: {"ipBlock": b}, ip_block))
port = st.one_of(
    st.builds(lambda pr: {"protocol": pr}, st.sampled_from(["TCP", "UDP", "SCTP"])),
    st.builds(lambda n: {"port": n}, st.sampled_from([80, 81])),
    st.builds(lambda pr, n: {"protocol": pr, "port": n}, st.sampled_from(["UDP", "SCTP"]), st.sampled_from([80, 81])),
    st.just({"port": 80, "endPort": 81}), st.just({"port": 81, "endPort": 90, "protocol": "UDP"}),
    st.builds(lambda n, pr: {"port": f"serve-{n}-{pr.lower()}", "protocol": pr}, st.sampled_from([80, 81]),
              st.sampled_from(["TCP", "UDP", "SCTP"])))
rule = st.fixed_dictionaries({}, optional={"peers": st.lists(peer, max_size=2), "ports": st.lists(port, max_size=2)})
policy = st.fixed_dictionaries({
    "namespace": st.sampled_from("xyz"), "podSelector": selector,
    "types": st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]),
    "ingress": st.one_of(st.none(), st.lists(rule, max_size=2)),
    "egress": st.one_of(st.none(), st.lists(rule, max_size=2))})


def _spec(drawn: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": drawn["podSelector"]}
    if drawn["types"] is not None:
        spec["policyTypes"] = drawn["types"]
    for field, peers_field in (("ingress", "from"), ("egress", "to")):
        if drawn[field] is not None:
            spec[field] = [{**({peers_field: r["peers"]} if "peers" in r else {}),
                            **({"ports": r["ports"]} if "ports" in r else {})} for r in drawn[field]]
    return spec


@settings(max_examples=150, deadline=None)
@given(st.lists(policy, min_size=1, max_size=4))
def test_compiled_rule_set_agrees_with_the_spec(drawn: list[dict[str, Any]]) -> None:
    policies = [{"namespace": d["namespace"], "name": f"p{i}", "spec": _spec(d)} for i, d in enumerate(drawn)]
    items = topology() + [policy_document(p) for p in policies]
    cluster = parse_snapshot([("random", {"kind": "List", "items": items})])
    table = rule_table(cluster)
    pods = [cluster.pods[k] for k in sorted(cluster.pods)]
    for protocol in ("TCP", "UDP", "SCTP"):
        for number in (80, 81):
            for src in pods:
                for dst in pods:
                    if src is dst:
                        continue
                    want = oracle(cluster, policies, src, dst, protocol, number)
                    got = table.evaluate(src.ips[0], dst.ips[0], protocol, number).allowed
                    pair = f"{src.namespace}/{src.name} -> {dst.namespace}/{dst.name} {protocol}/{number}"
                    assert got == want, f"{pair}: compiled {got}, spec {want}\n{policies}"
