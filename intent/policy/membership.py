"""Which pods are in which address group, kept up to date one pod at a time.

Groups are indexed by what every member must carry (its namespace, one label), so placing a pod
looks at a handful of groups, not at every policy. A full compile places every pod through the
same `place` the incremental update uses, so the two cannot disagree.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from intent.cluster import Namespace, Pod
from intent.policy.groups import ISOLATED, GroupSpec, IPAddress, enforceable, in_block, resolve_port

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
Placement = dict[str, tuple[IPAddress, ...]]  # group name -> the pod's IPs in it


@dataclass
class MembershipDelta:
    """What one pod event changed: IPs added to and removed from groups, and groups not compiled yet."""

    added: dict[str, set[IPAddress]] = field(default_factory=dict)
    removed: dict[str, set[IPAddress]] = field(default_factory=dict)
    unknown_groups: set[str] = field(default_factory=set)  # a named port resolving to a new number

    @property
    def groups(self) -> set[str]:
        return set(self.added) | set(self.removed)

    @property
    def needs_recompile(self) -> bool:
        """True when rules must change (a new named-port number); membership alone cannot express it."""
        return bool(self.unknown_groups)


def address_order(ip: IPAddress) -> tuple[int, int]:
    return (ip.version, int(ip))


def namespace_labels(namespace: str, known: Mapping[str, Namespace]) -> dict[str, str]:
    """A namespace's labels, with the `kubernetes.io/metadata.name` label the API server always sets."""
    ns = known.get(namespace)
    return {**(ns.labels if ns is not None else {}), NAMESPACE_NAME_LABEL: namespace}


class Membership:
    """Address groups and their members; `place`/`set_pod` put pods in groups."""

    def __init__(self, namespaces: Mapping[str, Namespace]) -> None:
        self.namespaces = dict(namespaces)
        self.specs: dict[str, GroupSpec] = {}
        self.members: dict[str, set[IPAddress]] = {}
        self._fixed: dict[tuple[str, str, str], list[str]] = {}  # (namespace, key, value) -> pod groups
        self._selected: dict[tuple[str, str], list[str]] = {}  # (key, value) -> namespace-selector groups
        self._ports: dict[str, set[tuple[str, str]]] = {}  # base group -> named ports (name, protocol) used
        self._derived: dict[tuple[str, str, str, int], str] = {}
        self._targets: dict[str, set[str]] = {"ingress": set(), "egress": set()}
        self.isolating: dict[str, set[str]] = {"ingress": set(), "egress": set()}  # policies, `ns/name`
        self._ns_match: dict[tuple[str, str], bool] = {}
        self._placed: dict[str, Placement] = {}  # pod key -> where it is
        self._pods: dict[str, Pod] = {}
        self._sorted: dict[str, list[IPAddress]] = {}  # members in address order, kept once asked for

    # -- defining groups -------------------------------------------------------------------------
    def add_group(self, spec: GroupSpec) -> str:
        """Register a group (idempotent); returns its name."""
        name = spec.name
        if name in self.specs:
            return name
        self.specs[name] = spec
        if spec.is_cidr or spec.isolated:
            return name
        self.members[name] = set()
        if spec.named_port is not None:  # filled by its base group's placement, never a candidate itself
            return name
        label = spec.pods.index_label() or ("", "")
        if spec.namespace is not None:
            self._fixed.setdefault((spec.namespace, *label), []).append(name)
        else:
            self._selected.setdefault(label, []).append(name)
        return name

    def watch_port(self, group: str, port: str, protocol: str) -> None:
        """Rules match port `port` by name on this group's pods: keep per-number groups."""
        self._ports.setdefault(group, set()).add((port, protocol))

    def mark_target(self, direction: str, group: str, policy: str) -> None:
        """Pods of `group` are isolated for `direction` (ingress or egress) by `policy`."""
        self._targets[direction].add(group)
        self.isolating[direction].add(policy)
        self.add_group(GroupSpec(isolated=direction))
        self.members.setdefault(ISOLATED[direction], set())

    def named_groups(self, group: str, port: str, protocol: str) -> list[tuple[int, str]]:
        """(number, group) for every number `port` resolves to on the pods of `group`."""
        return sorted((n, name) for (g, p, proto, n), name in self._derived.items()
                      if g == group and p == port and proto == protocol)

    # -- placing pods ----------------------------------------------------------------------------
    def place(self, pod: Pod, create: bool = True, unknown: set[str] | None = None) -> Placement:
        """The groups `pod` belongs in, with its IPs in each. New named-port groups are created
        (`create`) or collected in `unknown`."""
        if not enforceable(pod):
            return {}
        found: Placement = {}
        for name in self._candidates(pod):
            spec = self.specs[name]
            if not spec.pods.matches(pod.labels) or not self._in_namespaces(name, spec, pod.namespace):
                continue
            ips = pod.ips if spec.within is None else tuple(
                ip for ip in pod.ips if in_block(ip, spec.within, spec.excepts))
            if ips:
                found[name] = ips
                self._place_ports(pod, name, ips, found, create, unknown)
        for direction, targets in self._targets.items():
            if not targets.isdisjoint(found):
                found[ISOLATED[direction]] = pod.ips
        return found

    def _candidates(self, pod: Pod) -> Iterable[str]:
        ns, fixed, selected = pod.namespace, self._fixed, self._selected
        names = list(fixed.get((ns, "", ""), ())) + list(selected.get(("", ""), ()))
        for key, value in pod.labels.items():
            names += fixed.get((ns, key, value), ())
            names += selected.get((key, value), ())
        return names

    def _in_namespaces(self, name: str, spec: GroupSpec, namespace: str) -> bool:
        if spec.namespaces is None:
            return spec.namespace == namespace
        hit = self._ns_match.get((name, namespace))
        if hit is None:
            hit = self._ns_match[(name, namespace)] = spec.namespaces.matches(
                namespace_labels(namespace, self.namespaces))
        return hit

    def _place_ports(self, pod: Pod, group: str, ips: tuple[IPAddress, ...], found: Placement, create: bool,
                     unknown: set[str] | None) -> None:
        for port, protocol in self._ports.get(group, ()):
            number = resolve_port(pod, port, protocol)
            if number is None:
                continue
            name = self._derived.get((group, port, protocol, number))
            if name is None:
                spec = replace(self.specs[group], named_port=(port, protocol, number))
                if not create:
                    if unknown is not None:
                        unknown.add(spec.name)
                    continue
                name = self._derived[(group, port, protocol, number)] = self.add_group(spec)
            found[name] = ips

    def load(self, pods: Mapping[str, Pod]) -> None:
        """Place every pod of a snapshot (a full compile: no deltas to report)."""
        members, placed = self.members, self._placed
        for key, pod in pods.items():
            self._pods[key] = pod
            found = self.place(pod)
            if found:
                placed[key] = found
                for name, ips in found.items():
                    members[name].update(ips)

    def set_pod(self, key: str, pod: Pod | None, create: bool = False) -> MembershipDelta:
        """Add, change (`pod`) or remove (None) one pod; returns the membership changes."""
        delta = MembershipDelta()
        before = self._placed.pop(key, {})
        after = self.place(pod, create, delta.unknown_groups) if pod is not None else {}
        if pod is not None:
            self._pods[key] = pod
            if after:
                self._placed[key] = after
        else:
            self._pods.pop(key, None)
        for name in before.keys() | after.keys():
            old, new = set(before.get(name, ())), set(after.get(name, ()))
            gone, added = old - new, new - old
            if gone:
                self.members[name] -= gone
                delta.removed[name] = gone
            if added:
                self.members[name] |= added
                delta.added[name] = added
            self._keep_sorted(name, gone, added)
        return delta

    def sorted_members(self, name: str) -> tuple[IPAddress, ...]:
        """A group's members in address order (kept sorted from then on: a pod event costs a bisect)."""
        ordered = self._sorted.get(name)
        if ordered is None:
            ordered = self._sorted[name] = sorted(self.members.get(name, ()), key=address_order)
        return tuple(ordered)

    def _keep_sorted(self, name: str, gone: set[IPAddress], added: set[IPAddress]) -> None:
        ordered = self._sorted.get(name)
        if ordered is None:
            return
        for ip in gone:
            del ordered[bisect.bisect_left(ordered, address_order(ip), key=address_order)]
        for ip in added:
            bisect.insort(ordered, ip, key=address_order)

    def set_namespace(self, namespace: Namespace) -> MembershipDelta:
        """A namespace's labels changed: every pod in it is placed again."""
        self.namespaces[namespace.name] = namespace
        self._ns_match = {k: v for k, v in self._ns_match.items() if k[1] != namespace.name}
        delta = MembershipDelta()
        for key, pod in list(self._pods.items()):
            if pod.namespace == namespace.name:
                one = self.set_pod(key, pod)
                for name, ips in one.added.items():
                    delta.added.setdefault(name, set()).update(ips)
                for name, ips in one.removed.items():
                    delta.removed.setdefault(name, set()).update(ips)
                delta.unknown_groups |= one.unknown_groups
        return delta
