"""The `fabric-intent` command line.

Exit codes: 0 ok, 1 error; `plan --detailed-exitcode`: 0 no changes, 2 changes pending, 1 error.
"""

from __future__ import annotations

import difflib
import json
import sys
import textwrap
from pathlib import Path
from typing import Annotated

import typer

from drivers import registry
from drivers.fabric import Fabric
from intent.build import build_intent
from intent.cluster import ClusterSnapshot
from intent.errors import FabricIntentError
from intent.graphviz import render_dot
from intent.inventory import FabricInventory
from intent.model import IntentGraph
from intent.plan import Plan, check_mass_delete
from intent.report import FORMATS, render, render_text
from reconciler.files import load_cluster, load_inventory, load_plan
from reconciler.policy_cli import app as policy_app
from reconciler.record import record

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Intent-based fabric integration for Kubernetes: plan and apply pod routes, BGP "
                       "peerings and service VIPs on the fabric.")

app.add_typer(policy_app, name="policy")
app.command("record")(record)

ClusterOpt = Annotated[Path, typer.Option("--cluster", help="Cluster snapshot: a kubectl YAML/JSON file or a folder.")]
FabricOpt = Annotated[Path, typer.Option("--fabric", help="Fabric inventory YAML file.")]
MassDeleteOpt = Annotated[bool, typer.Option("--allow-mass-delete",
                                             help="Allow a plan deleting >10 % of owned objects, "
                                                  "or one made from an empty cluster.")]


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _load(cluster: Path, fabric: Path) -> tuple[FabricInventory, ClusterSnapshot, IntentGraph]:
    inventory = load_inventory(fabric)
    snapshot = load_cluster(cluster)
    for notice in snapshot.notices:
        _err(f"notice: {notice}")
    return inventory, snapshot, build_intent(snapshot, inventory)


def _make_plan(cluster: Path, fabric: Path) -> tuple[Fabric, Plan]:
    inventory, snapshot, graph = _load(cluster, fabric)
    fab = Fabric.from_inventory(inventory, fabric.parent)
    return fab, fab.plan(graph, fab.observe(), cluster_nodes=len(snapshot.nodes))


def _write(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        _err(f"wrote {out}")


@app.command()
def validate(cluster: ClusterOpt, fabric: FabricOpt) -> int:
    """Check the snapshot and inventory and build the intent graph, touching no device."""
    inventory, snapshot, graph = _load(cluster, fabric)
    Fabric.from_inventory(inventory, fabric.parent)  # every switch's driver is installed (drivers connect later)
    for warning in graph.warnings:
        _err(f"warning: {warning}")
    realized = sum(1 for _ in graph.realized())
    typer.echo(f"valid: {len(snapshot.nodes)} nodes, {len(snapshot.pods)} pods, {len(snapshot.services)} services "
               f"-> {len(graph)} intent objects ({realized} device objects on {len(inventory.switches)} switches)")
    return 0


@app.command()
def plan(cluster: ClusterOpt, fabric: FabricOpt,
         fmt: Annotated[str, typer.Option("--format", help="text, markdown or json.")] = "text",
         out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file.")] = None,
         detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode",
                                                         help="Exit 0 no changes, 2 changes, 1 error.")] = False,
         allow_mass_delete: MassDeleteOpt = False) -> int:
    """Show what would change on the fabric (dry run)."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    _, result = _make_plan(cluster, fabric)
    _write(render(result, fmt, colour=out is None and fmt == "text" and sys.stdout.isatty()), out)
    check_mass_delete(result, allow_mass_delete=allow_mass_delete)
    return 2 if detailed_exitcode and result.has_changes else 0


@app.command()
def apply(fabric: FabricOpt,
          cluster: Annotated[Path | None, typer.Option("--cluster", help="Cluster snapshot (file or folder).")] = None,
          plan_file: Annotated[Path | None, typer.Option("--plan", help="Apply exactly this saved JSON plan.")] = None,
          auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation.")] = False,
          allow_mass_delete: MassDeleteOpt = False) -> int:
    """Apply the plan to the fabric, device by device."""
    if (cluster is None) == (plan_file is None):
        raise typer.BadParameter("give either --cluster (plan now and apply) or --plan FILE (apply a saved plan)",
                                  param_hint="--cluster / --plan")
    if plan_file is not None:
        inventory = load_inventory(fabric)
        fab, result = Fabric.from_inventory(inventory, fabric.parent), load_plan(plan_file)
        fab.check(result)  # before asking: the plan must fit this fabric as it is now
    else:
        assert cluster is not None
        fab, result = _make_plan(cluster, fabric)
    typer.echo(render_text(result, colour=sys.stdout.isatty()), nl=False)
    check_mass_delete(result, allow_mass_delete=allow_mass_delete)  # refuse before asking; apply checks again
    if not result.has_changes:
        return 0
    if not auto_approve and not typer.confirm("\nApply these changes to the fabric?", default=False):
        _err("Apply cancelled; nothing was changed.")
        return 1
    results = fab.apply(result, progress=lambda device, message: _err(f"{device}: {message}"),
                        allow_mass_delete=allow_mass_delete)
    for r in results:
        if r.device_output.strip():
            _err(f"{r.device}: the device reports:\n" + textwrap.indent(r.device_output.rstrip(), "    "))
    failed = [r for r in results if r.failed]
    applied = sum(len(r.applied) for r in results)
    typer.echo(f"Apply {'failed' if failed else 'complete'}: {applied} change(s) applied on "
               f"{len({r.device for r in results if r.applied})} device(s).")
    for r in failed:
        untouched = len(result.changes) - applied - len(r.not_applied)
        _err(f"error: {r.error}\n  {len(r.not_applied)} change(s) on {r.device} rolled back; {untouched} other "
             "change(s) not attempted; changes reported applied stay applied. Make a new plan.")
    return 1 if failed else 0


@app.command()
def graph(cluster: ClusterOpt, fabric: FabricOpt,
          fmt: Annotated[str, typer.Option("--format", help="json or dot.")] = "json") -> int:
    """Print the intent graph as JSON or Graphviz DOT."""
    if fmt not in ("json", "dot"):
        raise typer.BadParameter(f"{fmt!r} is not one of json, dot", param_hint="--format")
    _, _, result = _load(cluster, fabric)
    typer.echo(result.model_dump_json(indent=2) if fmt == "json" else render_dot(result), nl=fmt == "json")
    return 0


KeyArg = Annotated[str, typer.Argument(
    help="Intent object key, e.g. 'static-route:leaf-a1:10.244.3.0/24@192.168.1.13'.")]


@app.command()
def explain(key: KeyArg,
            cluster: ClusterOpt, fabric: FabricOpt) -> int:
    """Why an object exists: its provenance and the objects that came from the same sources."""
    _, _, result = _load(cluster, fabric)
    obj = result.get(key)
    if obj is None:
        close = difflib.get_close_matches(key, list(result.keys()), n=5, cutoff=0.5)
        hint = ("; did you mean: " + ", ".join(close)) if close else "; `fabric-intent graph` lists every key"
        raise typer.BadParameter(f"no intent object has the key {key!r}{hint}", param_hint="KEY")
    typer.echo(f"{obj.key}\n  {obj.describe()}\n  on: {', '.join(obj.devices)}")
    typer.echo("  because:")
    for ref in obj.provenance:
        typer.echo(f"    <- {ref}")
    sources = {(r.kind, r.namespace, r.name) for r in obj.provenance}
    related = [o for o in result.objects
               if o.key != key and sources & {(r.kind, r.namespace, r.name) for r in o.provenance}]
    if related:
        typer.echo("  from the same sources:")
        for other in related:
            typer.echo(f"    {other.key}")
    config = json.dumps(obj.config(), indent=2).splitlines()
    typer.echo("  configuration:\n" + "\n".join("    " + line for line in config))
    return 0


@app.command()
def drivers() -> int:
    """List installed drivers and their capabilities."""
    for name, cls in registry.available().items():
        caps = cls.capabilities
        typer.echo(f"{name:<10} {caps.description}\n{'':<10} kinds: {', '.join(caps.kinds)}; transactional: "
                   f"{'yes' if caps.transactional else 'no'}; rollback: {'yes' if caps.rollback else 'no'}")
    return 0


@app.command()
def bench(nodes: Annotated[int, typer.Option("--nodes", min=1, help="Nodes in the synthetic cluster.")] = 5_000,
          pods: Annotated[int, typer.Option("--pods", min=0, help="Pods.")] = 150_000,
          services: Annotated[int, typer.Option("--services", min=0, help="Services (a tenth LoadBalancer).")] = 10_000,
          policies: Annotated[int, typer.Option("--policies", min=0, help="NetworkPolicies.")] = 10_000,
          racks: Annotated[int, typer.Option("--racks", min=0, help="Racks of two leaves; 0: one per 40 nodes.")] = 0,
          mode: Annotated[str, typer.Option("--mode", help="Routing mode: static or bgp.")] = "static",
          seed: Annotated[int, typer.Option("--seed", help="Seed of the generator.")] = 1,
          events: Annotated[int, typer.Option("--events", min=1, max=100, help="Incremental events per figure.")] = 9,
          runs: Annotated[int, typer.Option("--runs", min=1, help="Cold runs per figure (the median counts).")] = 3,
          ) -> int:
    """Scale benchmark: cold load -> intent -> plan, peak RSS and incremental planning, against targets."""
    from intent.synthetic import Scale
    from reconciler.bench import run

    if mode not in ("static", "bgp"):
        raise typer.BadParameter(f"{mode!r} is not one of static, bgp", param_hint="--mode")
    try:
        scale = Scale(nodes=nodes, pods=pods, services=services, policies=policies, racks=racks or None,
                      mode=mode, seed=seed)  # type: ignore[arg-type]
        run(scale, repeat=events, runs=runs, echo=typer.echo)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return 0


@app.command("run")
def run_service(
        fabric: FabricOpt,
        kubeconfig: Annotated[Path | None, typer.Option(
            "--kubeconfig", help="Kubeconfig file; in a pod, the pod's own account is used without it.")] = None,
        mode: Annotated[str | None, typer.Option("--mode", help="observe, plan or apply (default apply).")] = None,
        metrics_port: Annotated[int | None, typer.Option(
            "--metrics-port", min=0, max=65535, help="Port of /metrics, /healthz and /readyz (default 9100).")] = None,
        lease_namespace: Annotated[str | None, typer.Option(
            "--lease-namespace", help="Namespace of the leader Lease (default: the pod's, or fabric-intent).")] = None,
        allow_mass_delete: MassDeleteOpt = False) -> int:
    """Watch the cluster and keep the fabric converged (the in-cluster service)."""
    from pydantic import ValidationError

    from reconciler.run import run
    from reconciler.settings import MODES, from_options

    if mode is not None and mode not in MODES:
        raise typer.BadParameter(f"{mode!r} is not one of {', '.join(MODES)}", param_hint="--mode")
    try:
        settings = from_options(mode=mode, metrics_port=metrics_port, allow_mass_delete=allow_mass_delete)
    except ValidationError as exc:
        from intent.inventory import format_validation_error

        raise typer.BadParameter("FABRIC_INTENT_* settings: " + "; ".join(format_validation_error(exc))) from None
    return run(kubeconfig, fabric, settings, lease_namespace)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps every error to a message and exit 1."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="fabric-intent", standalone_mode=False)
    except typer.Abort:
        _err("Aborted; nothing was changed.")
        code = 1
    except typer.TyperException as exc:  # usage errors (typer vendors click since 0.26)
        show = getattr(exc, "show", None)
        show() if show is not None else _err(f"Error: {exc.format_message()}")
        code = 1
    except FabricIntentError as exc:
        for line in str(exc).splitlines():
            _err(f"error: {line}")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
