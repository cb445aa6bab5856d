"""Pod subnets: duplicate and overlap checks, and a sorted index for address look-ups.

Pure functions over the cluster's Nodes; `build_intent` checks a whole cluster with
`check_pod_subnets`, and the incremental planner keeps a `SubnetIndex` current event by event.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable

from intent.cluster import Node

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_pod_subnets(nodes: Iterable[Node]) -> list[str]:
    """Duplicate or overlapping podCIDRs across nodes, each named once."""
    ranked = sorted(
        ((net.version, int(net.network_address), int(net.broadcast_address), str(net), n.name)
         for n in nodes for net in n.pod_cidrs),
    )
    problems: list[str] = []
    reach: tuple[int, int, str, str] | None = None  # (version, last address, cidr, node) furthest so far
    for version, first, last, cidr, name in ranked:
        if reach is not None and reach[0] == version and first <= reach[1]:
            what = "duplicates" if cidr == reach[2] else "overlaps"
            problems.append(f"Node {name}: podCIDR {cidr} {what} {reach[2]} of Node {reach[3]}")
        if reach is None or reach[0] != version or last > reach[1]:
            reach = (version, last, cidr, name)
    return problems


class SubnetIndex:
    """Sorted pod subnets answering 'which subnet holds this address' in O(log n).

    Pod subnets never overlap in a graph that builds, so the subnet starting last at or before
    an address is the only candidate.
    """

    def __init__(self, nodes: Iterable[Node]) -> None:
        self._rows: dict[int, list[tuple[int, int, str, str]]] = {4: [], 6: []}
        for n in nodes:
            for c in n.pod_cidrs:
                self._rows[c.version].append((int(c.network_address), int(c.broadcast_address), str(c), n.name))
        for rows in self._rows.values():
            rows.sort()
        self._starts = {v: [r[0] for r in rows] for v, rows in self._rows.items()}

    def find(self, address: IPAddress) -> tuple[str, str] | None:
        """(cidr, node) of the pod subnet holding `address`, if any."""
        value, rows = int(address), self._rows[address.version]
        i = bisect.bisect_right(self._starts[address.version], value) - 1
        if i >= 0 and rows[i][0] <= value <= rows[i][1]:
            return rows[i][2], rows[i][3]
        return None

    # -- incremental upkeep: one node's subnets in or out, O(log n) search plus a list insert ------
    @staticmethod
    def _row(node: str, cidr: IPNetwork) -> tuple[int, int, str, str]:
        return (int(cidr.network_address), int(cidr.broadcast_address), str(cidr), node)

    def overlapping(self, cidr: IPNetwork) -> tuple[str, str] | None:
        """(cidr, node) of an indexed subnet sharing an address with `cidr`, if any.

        In a non-overlapping index only the subnet starting last at or before `cidr`'s last address
        can reach into it.
        """
        first, last = int(cidr.network_address), int(cidr.broadcast_address)
        rows = self._rows[cidr.version]
        i = bisect.bisect_right(self._starts[cidr.version], last) - 1
        if i >= 0 and rows[i][1] >= first:
            return rows[i][2], rows[i][3]
        return None

    def add(self, node: Node) -> None:
        for cidr in node.pod_cidrs:
            row, rows = self._row(node.name, cidr), self._rows[cidr.version]
            i = bisect.bisect_left(rows, row)
            rows.insert(i, row)
            self._starts[cidr.version].insert(i, row[0])

    def discard(self, node: Node) -> None:
        for cidr in node.pod_cidrs:
            row, rows = self._row(node.name, cidr), self._rows[cidr.version]
            i = bisect.bisect_left(rows, row)
            if i < len(rows) and rows[i] == row:
                del rows[i], self._starts[cidr.version][i]
