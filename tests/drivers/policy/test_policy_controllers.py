"""ACI and NSX payloads for the compiled rule set."""

from __future__ import annotations

from typing import Any

import pytest
from policy_objects import DATA, compiled

from drivers.policy.aci import ANNOTATION, render_aci
from drivers.policy.common import RenderError
from drivers.policy.nsx import render_nsx


def _walk(tree: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    (cls, body), = tree.items()
    return [(cls, body["attributes"])] + [mo for child in body.get("children", []) for mo in _walk(child)]


def test_nsx_groups_then_one_policy_with_directions_per_stage() -> None:
    groups, rules = compiled(DATA / "lab-cluster.yaml")
    calls = render_nsx(groups, rules, "prod-east")
    paths = [path for path, _ in calls]
    assert paths[-1] == "/infra/domains/default/security-policies/fabric-intent-prod-east"
    assert all(p.startswith("/infra/domains/default/groups/FI-") for p in paths[:-1])
    policy = calls[-1][1]
    assert policy["stateful"] is True and policy["tags"] == [{"scope": "fabric-intent", "tag": "prod-east"}]
    allow, drop = policy["rules"]
    entry = {"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP", "destination_ports": ["8080"]}
    assert (allow["action"], allow["direction"], allow["service_entries"]) == ("ALLOW", "IN", [entry])
    assert (drop["action"], drop["source_groups"], drop["destination_groups"]) == (
        "DROP", ["ANY"], ["/infra/domains/default/groups/FI-ISOLATED-IN"])
    assert allow["sequence_number"] < drop["sequence_number"]
    web = dict(calls)["/infra/domains/default/groups/FI-ISOLATED-IN"]
    assert web["expression"] == [{"resource_type": "IPAddressExpression", "ip_addresses": ["10.99.2.2/32"]}]


def test_nsx_refuses_sctp_ports() -> None:
    groups, rules = compiled(DATA / "udp-sctp-cluster.yaml")
    with pytest.raises(RenderError, match="NSX service entries cannot match SCTP ports"):
        render_nsx(groups, rules, "prod-east")


def test_aci_contract_provided_by_the_destination_consumed_by_the_source() -> None:
    groups, rules = compiled(DATA / "lab-cluster.yaml")
    mos = _walk(render_aci(groups, rules, "k8s", "pods"))
    accept = next(r for r in rules if r.action == "accept")
    assert all(attrs.get("annotation") == ANNOTATION for cls, attrs in mos if cls not in ("fvTenant", "l3extOut"))
    entries = [attrs for cls, attrs in mos if cls == "vzEntry"]
    assert entries == [{"name": "e1", "etherT": "ip", "prot": "tcp", "dFromPort": "8080", "dToPort": "8080",
                        "stateful": "yes", "annotation": ANNOTATION}]
    tree = render_aci(groups, rules, "k8s", "pods")
    out = next(c for c in tree["fvTenant"]["children"] if "l3extOut" in c)["l3extOut"]["children"]
    epgs = {c["l3extInstP"]["attributes"]["name"]: c["l3extInstP"].get("children", []) for c in out}
    provided = [c for c in epgs[accept.dst] if "fvRsProv" in c]
    consumed = [c for c in epgs[accept.src] if "fvRsCons" in c]
    assert provided[0]["fvRsProv"]["attributes"]["tnVzBrCPName"] == accept.name
    assert consumed[0]["fvRsCons"]["attributes"]["tnVzBrCPName"] == accept.name
    assert "FI-ISOLATED-IN" not in epgs  # ACI drops what no contract allows


def test_aci_refuses_an_ip_in_two_external_epgs() -> None:
    groups, rules = compiled(DATA / "udp-sctp-cluster.yaml")
    rules = [r for r in rules if r.protocol != "SCTP"]
    doubled = [g.model_copy(update={"name": "FI-G-COPY"}) for g in groups if "app=dns" in g.description]
    extra = rules[0].model_copy(update={"name": "FI-R-COPY", "dst": "FI-G-COPY"})
    with pytest.raises(RenderError, match=r"ACI classifies an IP into one external EPG only, but 10.99.3.53/32 is in"):
        render_aci(groups + doubled, rules + [extra], "k8s", "pods")
