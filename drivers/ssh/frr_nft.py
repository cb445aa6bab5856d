"""NetworkPolicy on FRR switches: the `inet fabric-intent` nftables table, read and rendered. Pure.

The table is owned whole, by its name: `nft -j list table inet fabric-intent` is parsed back into
`AddressGroup` objects (sets `<group>-v4` / `<group>-v6`, description in the set comment) and
`PolicyRule` objects (rules of chains `egress` / `ingress`, named by their comment). Other tables
are never listed nor touched. The table is pushed whole (`drivers.policy.nftables.render_ruleset`,
one `nft -f` transaction); a plan that only changes group members is pushed as `add element` /
`delete element` lines, also one transaction.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.policy.common import members
from drivers.policy.nftables import FAMILY, TABLE, render_members, render_rule, render_ruleset
from intent.errors import DriverError
from intent.model import AddressGroup, DeviceObject, IPAddress, IPNetwork, PolicyRule
from intent.plan import Change, apply_changes

POLICY_KINDS = frozenset({"address-group", "policy-rule"})
LIST_TABLE = f"-j list table inet {TABLE}"
STAGES = ("egress", "ingress")
_MISSING = "No such file or directory"


@dataclass(frozen=True)
class NftTable:
    """What the switch holds in fabric-intent's table: owned objects and a revision (`absent` when no table)."""

    objects: tuple[DeviceObject, ...]
    revision: str
    present: bool


def is_policy(change: Change) -> bool:
    return change.kind in POLICY_KINDS


def is_missing_table(output: str) -> bool:
    """Whether nft's answer to `list table` says the table does not exist."""
    return _MISSING in output


def held_description(text: str) -> str:
    """A group's description as the set comment holds it (the renderer's quoting and length limit)."""
    return text.replace('"', "'")[:120]


def _address_order(ip: IPAddress) -> tuple[int, int]:
    return ip.version, int(ip)


def _network_order(net: IPNetwork) -> tuple[int, int, int]:
    return net.version, int(net.network_address), net.prefixlen


def held_form(group: AddressGroup) -> AddressGroup:
    """The group as nftables holds and lists it: host prefixes as addresses, both sorted, the comment's text."""
    hosts = [p.network_address for p in group.prefixes if p.prefixlen == p.max_prefixlen]
    addresses = sorted({*group.addresses, *hosts}, key=_address_order)
    prefixes = sorted((p for p in group.prefixes if p.prefixlen != p.max_prefixlen), key=_network_order)
    return group.model_copy(update={"description": held_description(group.description),
                                    "addresses": tuple(addresses), "prefixes": tuple(prefixes)})


# -- reading the table ---------------------------------------------------------------------------

def parse_table(text: str, device: str) -> NftTable:
    """fabric-intent's objects from `nft -j list table inet fabric-intent` (empty text: no table)."""
    if not text.strip():
        return NftTable(objects=(), revision=_digest([]), present=False)
    try:
        items = [i for i in json.loads(text)["nftables"] if "metainfo" not in i]
    except (ValueError, KeyError, TypeError) as exc:
        raise DriverError(f"{device}: the answer to nft {LIST_TABLE} is not nft's JSON: "
                          f"{text.strip()[:120]!r}") from exc
    ours = [i for i in items if _table_of(i) == TABLE]
    try:
        groups = _groups([i["set"] for i in ours if "set" in i], device)
        rules = _rules([i["rule"] for i in ours if "rule" in i], device)
    except (ValueError, KeyError, TypeError) as exc:
        raise DriverError(f"{device}: cannot read a fabric-intent object from nftables table {TABLE}: {exc}") from exc
    return NftTable(objects=(*groups, *rules), revision=_digest(ours), present=True)


def _table_of(item: dict[str, Any]) -> str | None:
    body: Any = next(iter(item.values()), {})
    if not isinstance(body, dict) or body.get("family") != "inet":
        return None
    return str(body.get("name")) if "table" in item else str(body.get("table"))


def _digest(items: list[dict[str, Any]]) -> str:
    """A revision of the table's content; kernel handles are left out, so re-declaring the same table keeps it."""
    return hashlib.sha256(json.dumps(_without_handles(items), sort_keys=True).encode()).hexdigest()


def _without_handles(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_handles(v) for k, v in value.items() if k != "handle"}
    if isinstance(value, list):
        return [_without_handles(v) for v in value]
    return value


def _groups(sets: list[dict[str, Any]], device: str) -> list[AddressGroup]:
    found: dict[str, dict[str, Any]] = {}
    for body in sets:
        name, _, family = str(body["name"]).rpartition("-v")
        if not name.startswith("FI-") or family not in ("4", "6"):
            continue  # not a set fabric-intent renders; the table is replaced whole at the next apply
        group = found.setdefault(name, {"description": body.get("comment", ""), "addresses": [], "prefixes": []})
        for element in body.get("elem", []):
            _add_element(group, element)
    return [AddressGroup(device=device, name=name, description=g["description"],
                         addresses=tuple(sorted(g["addresses"], key=_address_order)),
                         prefixes=tuple(sorted(g["prefixes"], key=_network_order)))
            for name, g in sorted(found.items())]


def _add_element(group: dict[str, Any], element: Any) -> None:
    if isinstance(element, str):
        group["addresses"].append(ipaddress.ip_address(element))
    elif isinstance(element, dict) and "prefix" in element:
        prefix = element["prefix"]
        group["prefixes"].append(ipaddress.ip_network(f"{prefix['addr']}/{prefix['len']}"))
    else:
        raise ValueError(f"set element {element!r} is neither an address nor a prefix")


def _rules(bodies: list[dict[str, Any]], device: str) -> list[PolicyRule]:
    found: dict[str, PolicyRule] = {}
    for body in bodies:
        name = str(body.get("comment", ""))
        if body.get("chain") in STAGES and name.startswith("FI-") and name not in found:
            found[name] = _rule(body, name, device)  # one rule per family: the first line says it all
    return [found[name] for name in sorted(found)]


def _rule(body: dict[str, Any], name: str, device: str) -> PolicyRule:
    fields: dict[str, Any] = {"device": device, "name": name, "stage": body["chain"]}
    for expression in body["expr"]:
        if "return" in expression or "drop" in expression:
            fields["action"] = "accept" if "return" in expression else "drop"
        elif "match" in expression:
            fields.update(_match(expression["match"]))
        else:
            raise ValueError(f"rule {name}: unexpected statement {expression!r}")
    return PolicyRule(**fields)


def _match(match: dict[str, Any]) -> dict[str, Any]:
    left, right = match["left"], match["right"]
    if "meta" in left and left["meta"].get("key") == "l4proto":
        return {"protocol": str(right).upper()}
    payload = left["payload"]
    if payload["field"] in ("saddr", "daddr"):
        group = str(right).removeprefix("@").rpartition("-v")[0]
        return {"src" if payload["field"] == "saddr" else "dst": group}
    if payload["field"] == "dport":
        first, last = right["range"] if isinstance(right, dict) else (right, right)
        return {"protocol": str(payload["protocol"]).upper(), "ports": (int(first), int(last))}
    raise ValueError(f"unexpected match {match!r}")


# -- rendering -----------------------------------------------------------------------------------

def change_lines(change: Change) -> list[str]:
    """One policy change as nft commands (what it means for the table; `script` says what is sent)."""
    if isinstance(change.after, AddressGroup) or isinstance(change.before, AddressGroup):
        return _group_lines(change)
    return _rule_lines(change)


def _group_lines(change: Change) -> list[str]:
    before, after = change.before, change.after
    if isinstance(after, AddressGroup) and isinstance(before, AddressGroup):
        added = [m for v in (4, 6) for m in members(after, v) if m not in members(before, v)]
        removed = [m for v in (4, 6) for m in members(before, v) if m not in members(after, v)]
        renamed = [f'# set comment "{held_description(after.description)}"'] if (
            after.description != before.description) else []
        return renamed + render_members(after.name, added, removed)
    if isinstance(after, AddressGroup):
        return [_declare_set(after, version) for version in (4, 6)]
    assert isinstance(before, AddressGroup)
    return [f"delete set inet {TABLE} {before.name}-v{v}" for v in (4, 6)]


def _declare_set(group: AddressGroup, version: int) -> str:
    """`add set` for one family of a group, on one line (the same set `render_set` declares in the table)."""
    parts = [f"type {FAMILY[version][1]}", "flags interval", f'comment "{held_description(group.description)}"']
    elements = members(group, version)
    if elements:
        parts.append(f"elements = {{ {', '.join(elements)} }}")
    return f"add set inet {TABLE} {group.name}-v{version} {{ {'; '.join(parts)}; }}"


def _rule_lines(change: Change) -> list[str]:
    lines: list[str] = []
    if isinstance(change.before, PolicyRule):
        lines += [f"# remove from chain {change.before.stage}: {s.strip()}" for s in render_rule(change.before)]
    if isinstance(change.after, PolicyRule):
        verb = "insert" if change.after.action == "accept" else "add"  # accepts go before the stage's drop
        lines += [f"{verb} rule inet {TABLE} {change.after.stage} {s.strip()}" for s in render_rule(change.after)]
    return lines


def members_only(changes: Sequence[Change]) -> bool:
    """Whether the policy changes only add or remove group members (pushed as element lines)."""
    return bool(changes) and all(
        c.action == "update" and isinstance(c.before, AddressGroup) and isinstance(c.after, AddressGroup)
        and c.before.description == c.after.description for c in changes)


def script(held: Iterable[DeviceObject], changes: Sequence[Change]) -> str:
    """The `nft -f` input that takes the table from `held` through `changes`: element lines for member
    changes only, else the whole table re-declared (or deleted when nothing is left)."""
    if members_only(changes):
        return "\n".join(line for c in changes for line in change_lines(c)) + "\n"
    after = list(apply_changes({o.key: o for o in held}, changes).values())
    groups = [o for o in after if isinstance(o, AddressGroup)]
    rules = [o for o in after if isinstance(o, PolicyRule)]
    if not groups and not rules:
        return f"table inet {TABLE}\ndelete table inet {TABLE}\n"
    return render_ruleset(groups, rules)
