"""The fabric inventory: every mistake is one precise line naming the file and the field path.

Each input is a file under `data/inventory/`; messages are what a user running from that folder sees.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from intent.errors import InventoryError
from intent.inventory import FabricInventory
from reconciler.files import load_inventory

INVENTORIES = Path(__file__).resolve().parent / "data" / "inventory"


@pytest.fixture(autouse=True)
def in_inventories(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVENTORIES)


def _problems(name: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(Path(name))
    return list(info.value.problems)


ERRORS = {
    "bad-cidr.yaml": [
        "bad-cidr.yaml: vips.pools[0]: '2001:db8::/129' is not a valid IP network ('129' is not a valid netmask)",
        "bad-cidr.yaml: racks[0].node_subnets[0]: '192.168.1.1/24' is not a valid IP network "
        "(192.168.1.1/24 has host bits set)",
        "bad-cidr.yaml: racks[1].node_subnets[1]: '192.168.300.0/24' is not a valid IP network "
        "(Octet 300 (> 255) not permitted in '192.168.300.0')",
    ],
    "bad-address.yaml": [
        "bad-address.yaml: switches[0].loopback: '10.0.1' is not a valid IP address (Expected 4 octets in '10.0.1')",
        "bad-address.yaml: attachments[0].address: 'fd00:::1' is not a valid IP address "
        "(At most one '::' permitted in 'fd00:::1')",
    ],
    "duplicate-switch.yaml": [
        "duplicate-switch.yaml: switches[2].name: switch 'leaf-a1' is defined twice (first at switches[1])",
    ],
    "duplicate-rack.yaml": [
        "duplicate-rack.yaml: racks[1].name: rack 'rack-a' is defined twice (first at racks[0])",
    ],
    "racks-same-label.yaml": [
        "racks-same-label.yaml: racks[1].label_value: rack rack-b is selected by "
        "topology.kubernetes.io/zone='row-1', as rack rack-a is; give each rack its own label value",
    ],
    "rack-leaf-unknown.yaml": [
        "rack-leaf-unknown.yaml: racks[0].leaves[1]: 'leaf-a2' (rack rack-a) is not a switch of this inventory",
    ],
    "rack-leaf-spine.yaml": [
        "rack-leaf-spine.yaml: racks[1].leaves[0]: 'spine-1' (rack rack-b) is a spine; "
        "nodes attach to leaf or border switches",
    ],
    "overlapping-rack-subnets.yaml": [
        "overlapping-rack-subnets.yaml: racks[3].node_subnets[0]: 10.1.0.0/16 (rack rack-d) overlaps "
        "10.0.0.0/8 (rack rack-c) at racks[2].node_subnets[0]",
        "overlapping-rack-subnets.yaml: racks[3].node_subnets[1]: 10.2.0.0/16 (rack rack-d) overlaps "
        "10.0.0.0/8 (rack rack-c) at racks[2].node_subnets[0]",
        "overlapping-rack-subnets.yaml: racks[1].node_subnets[0]: 192.168.1.128/25 (rack rack-b) overlaps "
        "192.168.1.0/24 (rack rack-a) at racks[0].node_subnets[0]",
    ],
    "attachment-unknown-rack.yaml": [
        "attachment-unknown-rack.yaml: attachments[1].rack: rack 'rack-z' (for node worker-y) is not defined",
        "attachment-unknown-rack.yaml: attachments[2].node: node 'worker-x' is already attached at attachments[0]",
    ],
    "secret-env-and-file.yaml": [
        "secret-env-and-file.yaml: bgp.password: give exactly one of 'env' or 'file'",
        "secret-env-and-file.yaml: switches[0].credentials.private_key: give exactly one of 'env' or 'file'",
    ],
    "secret-value-inline.yaml": [
        "secret-value-inline.yaml: bgp.password: Input should be a valid dictionary or instance of SecretRef",
        "secret-value-inline.yaml: switches[0].credentials.password: Input should be a valid dictionary or "
        "instance of SecretRef",
        "secret-value-inline.yaml: switches[0].credentials.token: Extra inputs are not permitted",
    ],
    "unknown-field.yaml": [
        "unknown-field.yaml: routing.tag: Extra inputs are not permitted (got 100)",
        "unknown-field.yaml: switches[0].role: Input should be 'leaf', 'spine' or 'border' (got 'tor')",
        "unknown-field.yaml: switches[0].mgmt_ip: Extra inputs are not permitted (got '10.255.1.1')",
        "unknown-field.yaml: rack: Extra inputs are not permitted",
    ],
    "per-rack-without-node-asn.yaml": [
        "per-rack-without-node-asn.yaml: racks[1].node_asn: bgp.node_asn scheme is per-rack but rack rack-b "
        "has no node_asn",
    ],
    "per-node-without-base.yaml": ["per-node-without-base.yaml: bgp.node_asn.base: scheme per-node needs 'base'"],
    "fixed-without-asn.yaml": ["fixed-without-asn.yaml: bgp.node_asn.asn: scheme fixed needs 'asn'"],
    "bad-values.yaml": [
        "bad-values.yaml: fabric: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' (got 'dc 1')",
        "bad-values.yaml: routing.mode: Input should be 'static' or 'bgp' (got 'ospf')",
        "bad-values.yaml: routing.route_tag: Input should be greater than or equal to 1 (got 0)",
        "bad-values.yaml: bgp.max_prefix: Input should be greater than or equal to 1 (got 0)",
        "bad-values.yaml: unattached_nodes: Input should be 'error' or 'warn' (got 'ignore')",
        "bad-values.yaml: switches[0].management.host: String should have at least 1 character (got '')",
        "bad-values.yaml: switches[0].management.port: Input should be less than or equal to 65535 (got 70000)",
        "bad-values.yaml: switches[0].asn: Input should be less than or equal to 4294967295 (got 4294967296)",
        "bad-values.yaml: racks[0].leaves: Tuple should have at least 1 item after validation, not 0",
        "bad-values.yaml: racks[0].node_subnets: Tuple should have at least 1 item after validation, not 0",
    ],
    "missing-fields.yaml": [
        "missing-fields.yaml: cluster: Field required",
        "missing-fields.yaml: switches: Tuple should have at least 1 item after validation, not 0",
        "missing-fields.yaml: racks[0].leaves: Field required",
        "missing-fields.yaml: racks[0].node_subnets: Field required",
    ],
    "two-documents.yaml": ["two-documents.yaml: expected one YAML document, found 2"],
    "not-a-mapping.yaml": ["not-a-mapping.yaml: the fabric inventory must be a mapping, got list"],
    "does-not-exist.yaml": ["does-not-exist.yaml: no such file"],
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_each_mistake_is_one_precise_line(name: str) -> None:
    assert _problems(name) == ERRORS[name]


def test_every_bad_inventory_file_is_checked() -> None:
    files = {p.name for p in INVENTORIES.glob("*.yaml")}
    valid = {"good.yaml", "minimal.yaml", "per-rack-static-fabric.yaml", "syntax-error.yaml"}
    assert files - valid == set(ERRORS) - {"does-not-exist.yaml"}


def test_secret_values_are_never_repeated() -> None:
    text = "\n".join(_problems("secret-value-inline.yaml"))
    for secret in ("s3cr3t-bgp", "hunter2", "hunter3"):
        assert secret not in text


def test_yaml_syntax_error_names_file_and_line() -> None:
    (line,) = _problems("syntax-error.yaml")
    assert re.fullmatch(r"syntax-error\.yaml:5:\d+: invalid YAML: \S.*", line), line


def test_a_complete_inventory_parses() -> None:
    inv = load_inventory(Path("good.yaml"))
    assert (inv.fabric, inv.cluster, inv.vrf) == ("dc1", "prod-east", "k8s-pods")
    assert [s.name for s in inv.switches] == ["spine-1", "leaf-a1", "border-1"]
    leaf = inv.switch("leaf-a1")
    assert leaf.loopback == ipaddress.ip_address("fd00::1:1")
    assert (leaf.management.host, leaf.management.port) == ("10.255.1.1", 2222)
    assert str(leaf.credentials.password) == "env:FABRIC_SSH_PASSWORD"
    assert str(inv.bgp.password) == "file:/run/secrets/bgp-password"
    rack_a, rack_b = inv.rack("rack-a"), inv.rack("rack-b")
    assert rack_a.node_subnets == (ipaddress.ip_network("192.168.1.0/24"), ipaddress.ip_network("fd00:192:168:1::/64"))
    assert (inv.routing_mode(rack_a), inv.routing_mode(rack_b)) == ("static", "bgp")
    assert rack_b.node_asn == 64602 and rack_a.label_value == "A"
    assert inv.attachments[0].address == ipaddress.ip_address("192.168.2.50") and inv.attachments[1].address is None
    assert inv.vips.pools[1] == ipaddress.ip_network("2001:db8:100::/64")
    assert inv.node_address.types == ("InternalIP", "ExternalIP")
    assert (inv.rack_label, inv.unattached_nodes, inv.routing.route_tag) == ("example.com/rack", "warn", 64999)


def test_defaults_of_a_minimal_inventory() -> None:
    inv = load_inventory(Path("minimal.yaml"))
    assert inv.vrf == "default"
    assert (inv.routing.mode, inv.routing.route_tag) == ("static", 64512)
    assert (inv.bgp.node_asn.scheme, inv.bgp.node_asn.asn, inv.bgp.max_prefix) == ("fixed", 64512, 100)
    assert inv.vips.pools == () and inv.vips.cluster_policy_nodes == "endpoints"
    assert (inv.rack_label, inv.unattached_nodes) == ("topology.kubernetes.io/zone", "error")
    assert inv.switches[0].driver == "sim"


def test_per_rack_scheme_needs_no_asn_while_no_rack_speaks_bgp() -> None:
    assert isinstance(load_inventory(Path("per-rack-static-fabric.yaml")), FabricInventory)
