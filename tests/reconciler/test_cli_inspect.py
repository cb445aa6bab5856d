"""The read-only commands: validate, graph (JSON and DOT), explain, drivers."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest
from cli_support import Run, Workspace

from drivers.sim import SimDriver

ROUTE_A3 = "static-route:leaf-a1:10.244.3.0/24@192.168.1.13"


# -- validate ----------------------------------------------------------------------------------

def test_validate_summarises_and_touches_no_device(ws: Workspace, cli: Run) -> None:
    result = cli("validate", *ws.args())
    assert result.code == 0, result.text
    assert re.fullmatch(r"valid: 9 nodes, 7 pods, 4 services -> \d+ intent objects "
                        r"\(16 device objects on 5 switches\)\n", result.out), result.out
    assert not ws.state_dir.exists()


# -- graph --format json -----------------------------------------------------------------------

def test_graph_json(ws: Workspace, cli: Run) -> None:
    result = cli("graph", *ws.args(), "--format", "json")
    assert result.code == 0, result.err
    graph = json.loads(result.out)
    assert (graph["fabric"], graph["cluster"]) == ("dc1", "prod-east")
    kinds = [o["kind"] for o in graph["objects"]]
    assert kinds.count("pod-subnet") == 9
    assert kinds.count("node-attachment") == 9
    assert kinds.count("service-vip") == 2
    realized = [o for o in graph["objects"] if "device" in o]
    assert len(realized) == 16
    route = next(o for o in realized if o["kind"] == "static-route" and o["prefix"] == "10.244.3.0/24")
    assert (route["device"], route["next_hop"], route["tag"]) == ("leaf-a1", "192.168.1.13", 64512)
    assert {"kind": "Node", "name": "worker-a3", "namespace": None, "field": "spec.podCIDRs", "detail": None} \
        in route["provenance"]
    assert cli("graph", *ws.args()).out == result.out, "json is the default format"


# -- graph --format dot ------------------------------------------------------------------------

TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(->|[{}\[\];,=])|([A-Za-z_][A-Za-z0-9_.]*|-?[0-9.]+))')


@dataclass
class Dot:
    """What a DOT graph declares: node ids with their attributes, edges, subgraphs and their nodes."""

    name: str = ""
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    subgraphs: dict[str, list[str]] = field(default_factory=dict)


def _tokens(text: str) -> list[str]:
    tokens, pos, end = [], 0, len(text.rstrip())
    while pos < end:
        match = TOKEN.match(text, pos)
        assert match and match.end() > pos, f"unexpected DOT text at {pos}: {text[pos:pos + 40]!r}"
        tokens.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return tokens


def _id(token: str) -> str:
    return json.loads(token) if token.startswith('"') else token


def parse_dot(text: str) -> Dot:
    """A strict parser for the DOT subset fabric-intent writes; raises AssertionError if malformed."""
    tokens, dot = _tokens(text), Dot()
    assert tokens[:1] == ["digraph"] and tokens[2] == "{" and tokens[-1] == "}", tokens[:3] + tokens[-1:]
    dot.name = _id(tokens[1])
    pos = _statements(tokens, 3, dot, None)
    assert pos == len(tokens) - 1, f"text after the graph's closing brace: {tokens[pos:]}"
    return dot


def _attrs(tokens: list[str], pos: int) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    if tokens[pos] != "[":
        return attrs, pos
    pos += 1
    while tokens[pos] != "]":
        key, eq, value = tokens[pos:pos + 3]
        assert eq == "=", f"attribute without '=': {tokens[pos:pos + 3]}"
        attrs[_id(key)] = _id(value)
        pos += 3
        if tokens[pos] == ",":
            pos += 1
    return attrs, pos + 1


def _statements(tokens: list[str], pos: int, dot: Dot, subgraph: str | None) -> int:
    while tokens[pos] != "}":
        if tokens[pos] == "subgraph":
            name = _id(tokens[pos + 1])
            assert tokens[pos + 2] == "{", "a subgraph needs a body"
            dot.subgraphs[name] = []
            pos = _statements(tokens, pos + 3, dot, name) + 1
            continue
        if tokens[pos] in ("node", "edge", "graph"):
            _, pos = _attrs(tokens, pos + 1)
        elif tokens[pos + 1] == "=":
            pos += 3
        elif tokens[pos + 1] == "->":
            attrs, after = _attrs(tokens, pos + 3)
            dot.edges.append((_id(tokens[pos]), _id(tokens[pos + 2]), attrs))
            pos = after
        else:
            node = _id(tokens[pos])
            assert node not in dot.nodes, f"node {node} declared twice"
            dot.nodes[node], pos = _attrs(tokens, pos + 1)
            if subgraph is not None:
                dot.subgraphs[subgraph].append(node)
        assert tokens[pos] == ";", f"statement not ended by ';' at {tokens[pos - 2:pos + 1]}"
        pos += 1
    return pos


def test_the_dot_parser_rejects_malformed_dot() -> None:
    # Guards the test below against a parser that accepts anything.
    for broken in ('digraph "g" {\n  "a" -> "b" [label="x"]\n}\n',  # missing ';'
                   'digraph "g" {\n  "a";\n',  # unclosed
                   'digraph "g" {\n  "a" [label="x];\n}\n',  # unterminated string
                   'digraph "g" {\n  "a";\n  "a";\n}\n'):  # declared twice
        with pytest.raises(AssertionError):
            parse_dot(broken)


def _dot(ws: Workspace, cli: Run) -> str:
    result = cli("graph", *ws.args(), "--format", "dot")
    assert result.code == 0, result.err
    return result.out


def test_graph_dot_is_well_formed(ws: Workspace, cli: Run) -> None:
    dot = parse_dot(_dot(ws, cli))
    graph = json.loads(cli("graph", *ws.args()).out)
    assert dot.name == "fabric-intent dc1 / prod-east"
    # every intent object is a box, every Kubernetes object it came from an ellipse
    boxes = {n for n, a in dot.nodes.items() if a.get("shape") == "box"}
    ellipses = {n for n, a in dot.nodes.items() if a.get("shape") == "ellipse"}
    assert len(boxes) == len(graph["objects"]) == 36
    assert ROUTE_A3 in boxes and "pod-subnet:10.244.3.0/24" in boxes
    assert {"Node:worker-a3", "Service:shop/frontend", "EndpointSlice:shop/frontend-abcde"} <= ellipses
    assert dot.edges, "sources point at what they produced"
    for source, target, _ in dot.edges:
        assert source in ellipses and target in boxes, (source, target)
    assert ("Node:worker-a3", ROUTE_A3, {"label": "spec.podCIDRs"}) in dot.edges
    assert set(dot.subgraphs) == {"cluster_leaf-a1", "cluster_leaf-b1", "cluster_leaf-c1"}
    assert len(dot.subgraphs["cluster_leaf-a1"]) == 5 and ROUTE_A3 in dot.subgraphs["cluster_leaf-a1"]
    assert sum(len(v) for v in dot.subgraphs.values()) == 16


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed (Debian package graphviz)")
def test_graphviz_accepts_the_dot(ws: Workspace, cli: Run) -> None:
    proc = subprocess.run(["dot", "-Tsvg"], input=_dot(ws, cli), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    svg = html.unescape(proc.stdout)  # Graphviz writes '-' as '&#45;'
    assert "<svg" in svg and "node worker-a3 at 192.168.1.13" in svg


# -- explain -----------------------------------------------------------------------------------

def test_explain_shows_provenance(ws: Workspace, cli: Run) -> None:
    result = cli("explain", ROUTE_A3, *ws.args())
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[:3] == [ROUTE_A3, "  static route 10.244.3.0/24 via 192.168.1.13", "  on: leaf-a1"]
    assert "    <- Node worker-a3 .spec.podCIDRs" in lines
    assert "    <- Node worker-a3 .status.addresses (next hop 192.168.1.13)" in lines
    related = lines[lines.index("  from the same sources:") + 1:lines.index("  configuration:")]
    assert [r.strip() for r in related] == ["node-attachment:worker-a3", "pod-subnet:10.244.3.0/24"]
    config = json.loads("\n".join(lines[lines.index("  configuration:") + 1:]))
    assert config == {"device": "leaf-a1", "kind": "static-route", "vrf": "default", "prefix": "10.244.3.0/24",
                      "next_hop": "192.168.1.13", "tag": 64512}


def test_explain_a_service_vip(ws: Workspace, cli: Run) -> None:
    result = cli("explain", "service-vip:198.51.100.10", *ws.args())
    assert result.code == 0, result.err
    assert "<- Service shop/frontend .status.loadBalancer.ingress (externalTrafficPolicy Local)" in result.out
    assert "<- EndpointSlice shop/frontend-abcde .endpoints (ready on worker-a1, worker-a2, worker-b1)" in result.out


def test_explain_unknown_key_suggests(ws: Workspace, cli: Run) -> None:
    result = cli("explain", "static-route:leaf-a1:10.244.3.0/24@192.168.1.31", *ws.args())
    assert result.code == 1
    assert "no intent object has the key 'static-route:leaf-a1:10.244.3.0/24@192.168.1.31'" in result.err
    suggestions = result.err.split("did you mean: ")[1].split(", ")
    assert suggestions[0].strip() == ROUTE_A3
    far = cli("explain", "nothing-like-it", *ws.args())
    assert far.code == 1
    assert "`fabric-intent graph` lists every key" in far.err


# -- drivers -----------------------------------------------------------------------------------

def test_drivers_lists_sim_with_capabilities(cli: Run) -> None:
    result = cli("drivers")
    assert result.code == 0
    lines = result.out.splitlines()
    sim = next(i for i, line in enumerate(lines) if line.split()[0] == "sim")
    assert "simulated fabric" in lines[sim]
    caps = lines[sim + 1].strip()
    assert caps == f"kinds: {', '.join(SimDriver.capabilities.kinds)}; transactional: yes; rollback: yes"
    assert {"static-route", "bgp-peering", "prefix-list", "vrf"} <= set(SimDriver.capabilities.kinds)
