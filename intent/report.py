"""The dry-run report: what a network engineer reads before anything changes.

Three renderings of one `Plan`: `text` (ANSI colour on a terminal), `markdown` (for a change
review) and `json` (the plan itself, as `apply --plan` reads it; schema in docs/plan.schema.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from intent.model import SourceRef
from intent.plan import Change, DevicePlan, Plan, Summary, digest_of

FORMATS = ("text", "markdown", "json")
_COLOURS = {"+": "32", "~": "33", "-": "31", "!": "35", "dim": "2", "bold": "1"}


def _painter(colour: bool) -> Callable[[str, str], str]:
    def paint(text: str, style: str) -> str:
        return f"\033[{_COLOURS[style]}m{text}\033[0m" if colour else text
    return paint


def headline(plan: Plan) -> str:
    return (f"fabric-intent plan   cluster: {plan.cluster}   fabric: {plan.fabric} (routing: {plan.routing_mode})"
            f"   observed {len(plan.devices)} device{'s' if len(plan.devices) != 1 else ''}")


def summary_line(plan: Plan) -> str:
    return f"{plan.summary}   ({plan.owned_objects} objects owned by fabric-intent before; nothing else is touched)"


DELETED = "no longer wanted by the cluster"


def _why(refs: tuple[SourceRef, ...]) -> list[str]:
    """Provenance lines, one per Kubernetes object: `Node worker-a1 .spec.podCIDRs, .status.addresses (...)`."""
    grouped: dict[tuple[str, str | None, str], list[SourceRef]] = {}
    for ref in refs:
        grouped.setdefault((ref.kind, ref.namespace, ref.name), []).append(ref)
    lines = []
    for group in grouped.values():
        first, rest = str(group[0]), [
            f".{r.field}" + (f" ({r.detail})" if r.detail else "") if r.field else str(r) for r in group[1:]]
        lines.append(", ".join([first, *rest]))
    return lines or ["(no Kubernetes source)"]


def render_text(plan: Plan, colour: bool = False) -> str:
    """Terraform-style text: summary, then per device each change, its provenance and native lines."""
    paint = _painter(colour)
    lines = [paint(headline(plan), "bold"), paint(summary_line(plan), "bold")]
    for device in plan.devices:
        if device.changes or device.conflicts:
            lines += ["", paint(f"{device.device} ({device.driver})", "bold")]
            lines += [line for change in device.changes for line in _text_change(change, paint)]
            lines += [paint(f"  ! left alone: {conflict}", "!") for conflict in device.conflicts]
    lines += _text_warnings(plan, paint)
    return "\n".join(lines) + "\n"


def _text_change(change: Change, paint: Callable[[str, str], str]) -> list[str]:
    head = f"  {change.symbol} {change.summary}"
    why = _why(change.provenance) if change.action != "delete" else [DELETED]
    first = f"{head:<60} <- {why[0]}"
    lines = [paint(first, change.symbol)]
    lines += [paint(f"{'':<60} <- {more}", "dim") for more in why[1:]]
    lines += [paint(f"      {d}", "dim") for d in change.details]
    lines += [f"      {native}" for native in change.native]
    return lines


def _text_warnings(plan: Plan, paint: Callable[[str, str], str]) -> list[str]:
    if not plan.warnings:
        return []
    return ["", paint("Warnings:", "!")] + [paint(f"  ! {w}", "!") for w in plan.warnings]


def render_markdown(plan: Plan) -> str:
    """A change-review page: summary, a table per device, native lines in code blocks."""
    lines = [f"## fabric-intent plan: cluster `{plan.cluster}` on fabric `{plan.fabric}`", "",
             f"Routing: `{plan.routing_mode}`; {len(plan.devices)} devices observed; "
             f"{plan.owned_objects} objects owned by fabric-intent before this plan.", "",
             f"**{plan.summary}**"]
    for device in plan.devices:
        if device.changes or device.conflicts:
            lines += _markdown_device(device)
    if plan.warnings:
        lines += ["", "### Warnings", ""] + [f"- {_md(w)}" for w in plan.warnings]
    return "\n".join(lines) + "\n"


def _markdown_device(device: DevicePlan) -> list[str]:
    lines = ["", f"### {device.device} (`{device.driver}`)", "", "| | Change | Why |", "|---|---|---|"]
    for change in device.changes:
        why = DELETED if change.action == "delete" else "<br>".join(
            _md(w) for w in _why(change.provenance))
        detail = "".join(f"<br>`{_md(d)}`" for d in change.details)
        lines.append(f"| `{change.symbol}` | {_md(change.summary)}{detail} | {why} |")
    lines += [f"| `!` | left alone: {_md(conflict)} | hand-made configuration |" for conflict in device.conflicts]
    native = [n for change in device.changes for n in change.native]
    if native:
        lines += ["", "```text", *native, "```"]
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_json(plan: Plan) -> str:
    """The plan as JSON, with its summary: the same document `apply --plan` reads back."""
    document = json.loads(plan.model_dump_json())
    document["summary"] = plan.summary.model_dump()
    document["digest"] = digest_of(document)
    return json.dumps(document, indent=2) + "\n"


def plan_json_schema() -> dict[str, object]:
    """JSON Schema (draft 2020-12) of what `render_json` writes: the `Plan`, its `summary` and `digest`.

    docs/plan.schema.json is this, as `json.dumps(plan_json_schema(), indent=2)` prints it.
    """
    schema = Plan.model_json_schema()
    schema["$defs"]["Summary"] = {**Summary.model_json_schema(),
                                  "description": "Change counts; must match the changes (checked by `apply --plan`)."}
    schema["properties"]["summary"] = {"$ref": "#/$defs/Summary"}
    schema["properties"]["digest"] = {
        "type": "string", "pattern": "^[0-9a-f]{64}$",
        "description": "SHA-256 of the canonical JSON of every other field but `summary` (checked by `apply --plan`)."}
    schema["required"] = [*schema["required"], "summary", "digest"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "title": f"fabric-intent plan ({Plan.model_fields['format'].default})"}


def render(plan: Plan, fmt: str, colour: bool = False) -> str:
    if fmt == "text":
        return render_text(plan, colour)
    if fmt == "markdown":
        return render_markdown(plan)
    if fmt == "json":
        return render_json(plan)
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
