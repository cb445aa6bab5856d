"""The intent graph as Graphviz DOT: Kubernetes sources -> logical intent -> device configuration."""

from __future__ import annotations

import json

from intent.model import IntentGraph, SourceRef


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid DOT quoted ID


def _source_id(ref: SourceRef) -> str:
    return f"{ref.kind}:{ref.namespace + '/' if ref.namespace else ''}{ref.name}"


def render_dot(graph: IntentGraph) -> str:
    """One box per intent object (grouped per device), one ellipse per Kubernetes object it came from."""
    lines = [f"digraph {_q('fabric-intent ' + graph.fabric + ' / ' + graph.cluster)} {{", "  rankdir=LR;",
             "  node [fontname=Helvetica, fontsize=10];"]
    sources = sorted({_source_id(r) for o in graph.objects for r in o.provenance})
    lines += [f"  {_q(s)} [shape=ellipse, style=filled, fillcolor=lightblue];" for s in sources]
    devices: dict[str, list[str]] = {}
    for obj in graph.objects:
        if obj.realized:
            devices.setdefault(obj.devices[0], []).append(obj.key)
        else:
            lines.append(f"  {_q(obj.key)} [shape=box, style=rounded, label={_q(obj.describe())}];")
    for device, keys in sorted(devices.items()):
        lines.append(f"  subgraph {_q('cluster_' + device)} {{\n    label={_q(device)};")
        lines += [f"    {_q(k)} [shape=box, label={_q(graph[k].describe())}];" for k in keys]
        lines.append("  }")
    edges = sorted({(_source_id(r), o.key, r.field or "") for o in graph.objects for r in o.provenance})
    lines += [f"  {_q(a)} -> {_q(b)} [label={_q(f)}];" for a, b, f in edges]
    return "\n".join(lines + ["}"]) + "\n"
