"""`fabric-intent bench`: the scale benchmark.

A synthetic cluster (`intent.synthetic`) is written to a temporary folder as the JSON files
`kubectl get <kind> -A -o json` prints (not timed). Then each measurement runs in a fresh child
process, so it starts cold and its peak RSS is its own:

* **cold**: read the inventory and the cluster files (`load_cluster`), build the intent graph,
  plan against what the devices hold: once against an empty fabric, once against a converged one
  (the state `apply` would leave, read from a sim state file before the clock starts). Observing
  devices is I/O that depends on the devices, so it is not in the figure.
* **incremental**: from a converged `IncrementalPlanner`, the time one event takes to yield its
  plan (parse the watched object, update the intent, diff the touched keys, render the native
  lines): one node added; one pod added (the pod, then its EndpointSlice gaining the endpoint).
  The median of several events, each a different node or pod.
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from intent import synthetic

TARGET_COLD_S = 3.0
TARGET_RSS_MIB = 1024.0
TARGET_INCREMENTAL_MS = 10.0
CONVERGED = "converged-state.json"  # what a converged fabric holds; the inventory's own state file stays absent


@dataclass
class Figures:
    """What the children measured, by phase."""

    cold_empty: dict[str, Any]
    cold_converged: dict[str, Any]
    incremental: dict[str, Any]
    policy: dict[str, Any] | None = None


# -- the parent: generate, run the children, print ------------------------------------------------
def run(scale: synthetic.Scale, repeat: int = 9, runs: int = 3, echo: Callable[[str], None] = print) -> Figures:
    """Generate the cluster, measure in child processes, print the table; returns the figures.

    Each cold figure is the median of `runs` fresh processes; generating (in a child too, so that
    this process stays small) and writing the converged state are not timed.
    """
    lay = synthetic.layout(scale)
    echo(f"fabric-intent bench   {scale.nodes:,} nodes, {scale.pods:,} pods, {scale.services:,} services, "
         f"{scale.policies:,} network policies   ({lay.racks} racks of {scale.leaves_per_rack} leaves, "
         f"{scale.mode} routing, seed {scale.seed})")
    with tempfile.TemporaryDirectory(prefix="fabric-intent-bench-") as tmp:
        folder = Path(tmp)
        made = _child("generate", folder, json.dumps({**asdict(scale), "repeat": repeat}))
        echo(f"generated {made['bytes'] / 2**20:.1f} MiB of kubectl JSON in {made['seconds']:.1f} s (not timed); "
             f"each figure below comes from fresh processes")
        _child("state", folder)
        figures = Figures(cold_empty=_median([_child("cold-empty", folder) for _ in range(runs)]),
                          cold_converged=_median([_child("cold-converged", folder) for _ in range(runs)]),
                          incremental=_child("incremental", folder), policy=_child("policy", folder))
    for line in report(figures):
        echo(line)
    return figures


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median total time, with the spread of all runs and the highest peak RSS."""
    ranked = sorted(results, key=lambda r: r["total_s"])
    return {**ranked[len(ranked) // 2], "runs": len(ranked), "min_s": ranked[0]["total_s"],
            "max_s": ranked[-1]["total_s"], "rss_mib": max(r["rss_mib"] for r in results)}


def _generate(folder: Path, params: str) -> dict[str, Any]:
    fields = json.loads(params)
    repeat = fields.pop("repeat")
    started = time.perf_counter()
    size = write_inputs(synthetic.Scale(**fields), folder, repeat)
    return {"bytes": size, "seconds": time.perf_counter() - started}


def write_inputs(scale: synthetic.Scale, folder: Path, repeat: int) -> int:
    """The cluster files, the inventory and the incremental events; the bytes of cluster JSON written."""
    docs = synthetic.generate(scale)
    (folder / "cluster").mkdir()
    size = 0
    for stem, document in docs.items():
        text = json.dumps(document, separators=(",", ":"))
        (folder / "cluster" / f"{stem}.json").write_text(text, encoding="utf-8")
        size += len(text)
    (folder / "fabric.json").write_text(json.dumps(synthetic.inventory(scale)), encoding="utf-8")
    events = {"nodes": [synthetic.node_object(synthetic.layout(scale), scale.nodes + i) for i in range(repeat)],
              "pods": _pod_events(scale, docs, repeat)}
    (folder / "events.json").write_text(json.dumps(events), encoding="utf-8")
    return size


def _pod_events(scale: synthetic.Scale, docs: dict[str, Any], repeat: int) -> list[list[dict[str, Any]]]:
    """Each event a new ready pod on a node not serving its Service yet, then its EndpointSlice gaining
    the endpoint; LoadBalancer Services first (Local first), as their VIPs then change."""
    lay, rng = synthetic.layout(scale), synthetic.Rng(scale.seed)
    slices = {(s["metadata"]["namespace"], s["metadata"]["labels"]["kubernetes.io/service-name"]): s
              for s in docs["endpointslices"]["items"] if len(s["endpoints"]) < synthetic.ENDPOINTS_PER_SLICE}

    def rank(svc: dict[str, Any]) -> tuple[bool, bool]:
        return svc["spec"]["type"] != "LoadBalancer", svc["spec"].get("externalTrafficPolicy") != "Local"

    events: list[list[dict[str, Any]]] = []
    for svc in sorted(docs["services"]["items"], key=rank):
        namespace, app = svc["metadata"]["namespace"], svc["metadata"]["name"]
        eps = slices.get((namespace, app))
        if eps is None:
            continue
        if len(events) == repeat:
            break
        serving = {e["nodeName"] for e in eps["endpoints"]}
        index = next((i for i in range(scale.nodes) if synthetic.node_name(i) not in serving), 0)
        top = lay.pod_cidr(index).network_address + 2 ** (32 - lay.pod_prefixlen) - 2  # free: pods fill from .2 up
        pod = synthetic.pod_object(namespace, f"{app}-bench", app, synthetic.node_name(index), str(top - len(events)),
                                   True, rng)
        events.append([pod, {**eps, "endpoints": [*eps["endpoints"], synthetic.endpoint(pod)]}])
    return events


def _child(phase: str, folder: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "reconciler.bench", phase, str(folder), *args],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench phase {phase} failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(f: Figures) -> list[str]:
    """The table: one line per figure, with its target and PASS or MISS."""
    def row(label: str, value: str, target: str, ok: bool | None, note: str = "", phases: str = "") -> str:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        return f"{label:<50}{phases:<27}{value:>10}   {target:<10}{verdict:<6}{note}".rstrip()

    rows = [row("figure", "value", "target", None, phases=f"{'load':>9}{'build':>9}{'plan':>9}")]
    for label, c in (("cold: load -> intent -> plan, empty fabric", f.cold_empty),
                     ("cold: load -> intent -> plan, converged fabric", f.cold_converged)):
        phases = "".join(f"{c[k]:>7.2f} s" for k in ("load_s", "build_s", "plan_s"))
        spread = f"; median of {c['runs']} ({c['min_s']:.2f} .. {c['max_s']:.2f} s)" if c["runs"] > 1 else ""
        rows.append(row(label, f"{c['total_s']:.2f} s", f"<= {TARGET_COLD_S:g} s", c["total_s"] <= TARGET_COLD_S,
                        f"{c['changes']:,} changes{spread}", phases))
    for label, c in (("peak RSS, cold run on the empty fabric", f.cold_empty),
                     ("peak RSS, cold run on the converged fabric", f.cold_converged)):
        rows.append(row(label, f"{c['rss_mib']:.0f} MiB", "<= 1 GiB", c["rss_mib"] <= TARGET_RSS_MIB))
    for key, label in (("node", "incremental: one node added"),
                       ("pod", "incremental: one pod added (pod, EndpointSlice)")):
        i = f.incremental[key]
        if not i["count"]:
            rows.append(row(label, "n/a", f"<= {TARGET_INCREMENTAL_MS:g} ms", None, "no EndpointSlice to add a pod to"))
            continue
        rows.append(row(label, f"{i['median_ms']:.2f} ms", f"<= {TARGET_INCREMENTAL_MS:g} ms",
                        i["median_ms"] <= TARGET_INCREMENTAL_MS,
                        f"{i['changes']} changes; median of {i['count']} ({i['min_ms']:.2f} .. {i['max_ms']:.2f} ms)"))
    if f.policy is not None:
        from reconciler.policy_bench import report as policy_rows
        rows += policy_rows(f.policy, row)
    e = f.cold_empty
    intent = (f"intent: {e['objects']:,} objects, {e['device_objects']:,} of them device configuration, "
              f"on {e['devices']} devices")
    timing = (f"cold figures are wall clock from a fresh process (cpu {e['cpu_s']:.2f} s on the empty fabric); "
              f"observing the devices is not in them; a process holds {e['rss_start_mib']:.0f} MiB after imports")
    rows += ["", intent, timing]
    return rows


# -- the children ---------------------------------------------------------------------------------
def _rss_mib() -> float:
    """Peak RSS of this process. Linux's VmHWM is this process's own (ru_maxrss may carry the
    parent's from before exec); elsewhere ru_maxrss (KiB on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _cold(folder: Path, converged: bool) -> dict[str, Any]:
    from drivers.fabric import Fabric
    from intent.build import build_intent
    from reconciler.files import load_cluster, load_inventory

    rss_start = _rss_mib()
    inventory = load_inventory(folder / "fabric.json")
    if converged:
        states = _read_states(folder / CONVERGED, inventory)
    else:
        states = Fabric.from_inventory(inventory, folder).observe()  # an empty fabric: no state file
    cpu, t0 = time.process_time(), time.perf_counter()
    inventory = load_inventory(folder / "fabric.json")
    snapshot = load_cluster(folder / "cluster")
    t1 = time.perf_counter()
    graph = build_intent(snapshot, inventory)
    t2 = time.perf_counter()
    fabric = Fabric.from_inventory(inventory, folder)
    plan = fabric.plan(graph, states, cluster_nodes=len(snapshot.nodes))
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "build_s": t2 - t1, "plan_s": t3 - t2, "total_s": t3 - t0,
            "cpu_s": time.process_time() - cpu, "changes": len(plan.changes), "objects": len(graph),
            "device_objects": sum(1 for _ in graph.realized()), "devices": len(plan.devices),
            "rss_mib": _rss_mib(), "rss_start_mib": rss_start}


def _read_states(path: Path, inventory: Any) -> dict[str, Any]:
    """What a converged fabric's devices report, read from the sim state file once for all of them."""
    from pydantic import TypeAdapter

    from drivers.sim import revision_of
    from intent.model import OWNER, Realized
    from intent.plan import FabricState

    devices = json.loads(path.read_text(encoding="utf-8"))["devices"]
    realized: TypeAdapter[Any] = TypeAdapter(Realized)
    states = {}
    for switch in inventory.switches:
        entries = devices.get(switch.name, [])
        owned = [realized.validate_python({k: v for k, v in e.items() if k != "owner"})
                 for e in entries if e.get("owner") == OWNER]
        states[switch.name] = FabricState(device=switch.name, revision=revision_of(entries), objects=tuple(owned))
    return states


def _write_state(folder: Path) -> dict[str, Any]:
    """The sim state file a full apply would leave (each device's owned objects, in key order)."""
    from drivers.sim import FORMAT
    from intent.build import build_intent
    from intent.model import OWNER
    from reconciler.files import load_cluster, load_inventory

    graph = build_intent(load_cluster(folder / "cluster"), load_inventory(folder / "fabric.json"))
    devices: dict[str, list[Any]] = {}
    for obj in sorted(graph.realized(), key=lambda o: o.key):
        devices.setdefault(obj.device, []).append({**obj.config(), "owner": OWNER})
    (folder / CONVERGED).write_text(json.dumps({"format": FORMAT, "devices": devices}), encoding="utf-8")
    return {"devices": len(devices)}


def _incremental(folder: Path) -> dict[str, Any]:
    from drivers.fabric import Fabric
    from intent.build import build_intent
    from intent.incremental import IncrementalPlanner, event_from_object
    from intent.plan import with_native
    from reconciler.files import load_cluster, load_inventory

    inventory = load_inventory(folder / "fabric.json")
    snapshot = load_cluster(folder / "cluster")
    graph = build_intent(snapshot, inventory)
    planner = IncrementalPlanner(snapshot, inventory, observed=graph.realized())
    drivers = Fabric.from_inventory(inventory, folder).drivers
    del graph
    gc.collect()
    gc.freeze()  # the steady state a long-running reconciler is in after its initial sync
    events = json.loads((folder / "events.json").read_text(encoding="utf-8"))

    def one(objects: list[dict[str, Any]]) -> tuple[float, int]:
        start = time.perf_counter()
        changes = []
        for obj in objects:
            update = planner.apply(event_from_object(obj))
            changes += [with_native(c, drivers[c.device].render(c)) for c in update.changes]
        elapsed = time.perf_counter() - start
        planner.acknowledge(changes)
        return elapsed * 1000, len(changes)

    result: dict[str, dict[str, Any]] = {}
    for key, batches in (("node", [[n] for n in events["nodes"]]), ("pod", events["pods"])):
        runs = [one(objects) for objects in batches]
        times = [t for t, _ in runs]
        if not runs:  # a cluster without a Service to add a pod to
            result[key] = {"count": 0}
            continue
        result[key] = {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
                       "count": len(runs), "changes": statistics.median_low([n for _, n in runs])}
    return result


_PHASES: dict[str, Callable[..., dict[str, Any]]] = {
    "generate": _generate,
    "state": _write_state,
    "cold-empty": lambda folder: _cold(folder, converged=False),
    "cold-converged": lambda folder: _cold(folder, converged=True),
    "incremental": _incremental,
    "policy": lambda folder: __import__("reconciler.policy_bench", fromlist=["measure"]).measure(folder),
}


if __name__ == "__main__":  # a child: python -m reconciler.bench PHASE FOLDER [ARGUMENT]
    print(json.dumps(_PHASES[sys.argv[1]](Path(sys.argv[2]), *sys.argv[3:])))
