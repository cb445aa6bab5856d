"""`fabric-intent policy`: NetworkPolicy tools. `check` evaluates probes against the compiled rule set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from intent.errors import PolicyError
from intent.policy.probes import check_probes
from reconciler.files import load_cluster

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="NetworkPolicy: check connections against the rule set fabric-intent compiles.")


def _read_probes(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _text(result: dict[str, Any]) -> str:
    verdict = "ALLOW" if result["allowed"] else "DENY "
    head = f"{verdict} {result['from']} -> {result['to']} {result.get('protocol', 'TCP')}/{result['port']}"
    lines = [head]
    for stage in result["rules"]:
        how = stage["match"] or "no rule matches: not isolated"
        lines.append(f"    {stage['stage']:<7} {stage['decision']:<6} {stage['rule'] or '':<15} {how}")
        lines += [f"{'':<36}<- {policy}" for policy in stage["policies"]]
    return "\n".join(lines)


@app.command()
def check(cluster: Annotated[Path, typer.Option("--cluster", help="Namespaces, Pods and NetworkPolicies "
                                                                   "(kubectl YAML/JSON file or folder).")],
          probes: Annotated[Path, typer.Option("--probes", help="JSON list of {from, to, port, protocol}.")],
          fmt: Annotated[str, typer.Option("--format", help="json or text.")] = "text") -> int:
    """Evaluate each probe against the compiled rule set (what enforcing devices receive)."""
    if fmt not in ("json", "text"):
        raise typer.BadParameter(f"{fmt!r} is not one of json, text", param_hint="--format")
    snapshot = load_cluster(cluster)
    results = check_probes(snapshot, _read_probes(probes), str(probes))
    if fmt == "json":
        typer.echo(json.dumps(results, indent=2))
    else:
        typer.echo("\n".join(_text(r) for r in results))
        allowed = sum(1 for r in results if r["allowed"])
        typer.echo(f"{len(results)} probes: {allowed} allowed, {len(results) - allowed} denied")
    return 0
