"""The NetworkPolicy figures of `fabric-intent bench`, measured in a child process of their own.

* **compile**: every NetworkPolicy of the synthetic cluster over its pods -> address groups and
  rules (the snapshot is loaded first, not timed), then placing them as one device's objects.
* **one pod added**: from the compiled state, one new pod (parsed from its JSON) -> the membership
  change and the nftables `add element` lines that carry it. No rule changes. Also shown, not
  held to the target: rebuilding the changed `AddressGroup` objects whole, as a plan diff does
  (it copies every member of the group, so it grows with the group).
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from pathlib import Path
from typing import Any

TARGET_POLICY_UPDATE_MS = 10.0


def measure(folder: Path) -> dict[str, Any]:
    from drivers.policy.nftables import render_members
    from intent.cluster import parse_snapshot
    from intent.policy import compile_policies, update_pod
    from intent.policy.placement import device_objects, group_object
    from reconciler.files import load_cluster

    snapshot = load_cluster(folder / "cluster")
    cpu, t0 = time.process_time(), time.perf_counter()
    ruleset = compile_policies(snapshot)
    t1, cpu = time.perf_counter(), time.process_time() - cpu
    groups, rules = device_objects(ruleset, "leaf")
    t2 = time.perf_counter()
    members = sum(len(g.addresses) + len(g.prefixes) for g in groups)
    del snapshot
    gc.collect()
    gc.freeze()
    events = json.loads((folder / "events.json").read_text(encoding="utf-8"))["pods"]
    updates, rebuilds, changed, rule_changes = [], [], [], 0
    for batch in events:
        document = batch[0]  # the pod; its EndpointSlice does not concern policy
        start = time.perf_counter()
        pod = next(iter(parse_snapshot([("event", document)]).pods.items()))
        delta, after = update_pod(ruleset, *pod)
        lines = [line for name in sorted(delta.groups) for line in render_members(
            name, [str(ip) for ip in delta.added.get(name, ())], [str(ip) for ip in delta.removed.get(name, ())])]
        updates.append((time.perf_counter() - start) * 1000)
        rule_changes += after.rules != ruleset.rules
        ruleset = after
        start = time.perf_counter()
        for name in delta.groups:
            group_object(ruleset, name, "leaf")
        rebuilds.append((time.perf_counter() - start) * 1000)
        changed.append((len(delta.groups), len(lines)))
    return {"policies": ruleset.policies, "rules": len(rules), "groups": len(groups), "members": members,
            "compile_s": t1 - t0, "compile_cpu_s": cpu, "place_s": t2 - t1, "count": len(updates),
            "median_ms": statistics.median(updates) if updates else 0.0,
            "min_ms": min(updates, default=0.0), "max_ms": max(updates, default=0.0),
            "rebuild_ms": statistics.median(rebuilds) if rebuilds else 0.0,
            "groups_changed": statistics.median_low([g for g, _ in changed]) if changed else 0,
            "lines": statistics.median_low([n for _, n in changed]) if changed else 0, "rule_changes": rule_changes}


def report(p: dict[str, Any], row: Any) -> list[str]:
    """Rows for the bench table (`row` is the table's row formatter)."""
    rows = [row("policy: compile NetworkPolicies -> groups, rules", f"{p['compile_s']:.2f} s", "", None,
                f"{p['policies']:,} policies -> {p['rules']:,} rules, {p['groups']:,} address groups "
                f"({p['members']:,} members); cpu {p['compile_cpu_s']:.2f} s; placing on a device "
                f"{p['place_s']:.2f} s")]
    if not p["count"]:
        return rows + [row("policy: one pod added (membership only)", "n/a", f"<= {TARGET_POLICY_UPDATE_MS:g} ms",
                           None, "no pod event")]
    rows.append(row("policy: one pod added (membership only)", f"{p['median_ms']:.2f} ms",
                    f"<= {TARGET_POLICY_UPDATE_MS:g} ms", p["median_ms"] <= TARGET_POLICY_UPDATE_MS,
                    f"{p['groups_changed']} groups, {p['lines']} nft lines, {p['rule_changes']} rule changes; median "
                    f"of {p['count']} ({p['min_ms']:.2f} .. {p['max_ms']:.2f} ms); whole AddressGroup objects "
                    f"rebuilt: {p['rebuild_ms']:.1f} ms"))
    return rows
