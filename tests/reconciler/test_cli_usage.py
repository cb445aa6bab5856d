"""Usage errors exit 1, never click's 2: exit 2 means "changes pending" for `plan --detailed-exitcode`."""

from __future__ import annotations

import pytest
from cli_support import Run, Workspace

# (arguments with {cluster}/{fabric} placeholders, a fragment of the message)
USAGE_ERRORS = [
    (["plan", "--fabric", "{fabric}"], "Missing option '--cluster'"),
    (["plan", "--cluster", "{cluster}"], "Missing option '--fabric'"),
    (["plan", "--cluster", "{cluster}", "--fabric", "{fabric}", "--format", "xml"],
     "'xml' is not one of text, markdown, json"),
    (["plan", "--cluster", "{cluster}", "--fabric", "{fabric}", "--format"], "--format"),
    (["plan", "--cluster", "{cluster}", "--fabric", "{fabric}", "--detailed-exit-code"],
     "No such option: --detailed-exit-code"),
    (["graph", "--cluster", "{cluster}", "--fabric", "{fabric}", "--format", "svg"], "'svg' is not one of json, dot"),
    (["graph", "--cluster", "{cluster}", "--fabric", "{fabric}", "--format", "text"], "'text' is not one of json, dot"),
    (["apply", "--fabric", "{fabric}"], "give either --cluster (plan now and apply) or --plan FILE"),
    (["apply", "--fabric", "{fabric}", "--cluster", "{cluster}", "--plan", "plan.json"], "give either --cluster"),
    (["apply", "--cluster", "{cluster}"], "Missing option '--fabric'"),
    (["explain", "--cluster", "{cluster}", "--fabric", "{fabric}"], "Missing argument"),
    (["validate", "--cluster", "{cluster}", "--fabric", "{fabric}", "extra"], "unexpected extra argument"),
    (["deploy"], "No such command 'deploy'"),
    ([], "Usage: fabric-intent"),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS,
                         ids=[" ".join(a) or "no-arguments" for a, _ in USAGE_ERRORS])
def test_usage_errors_exit_1(args: list[str], message: str, ws: Workspace, cli: Run) -> None:
    argv = [a.format(cluster=ws.cluster, fabric=ws.fabric) for a in args]
    result = cli(*argv)
    assert result.code == 1, result.text
    assert message.lower() in result.text.lower(), result.text
    assert not ws.state_dir.exists()


@pytest.mark.parametrize("missing", ["cluster", "fabric"])
def test_missing_input_files_are_named(missing: str, ws: Workspace, cli: Run) -> None:
    gone = ws.root / f"no-such-{missing}"
    args = {"cluster": ws.cluster, "fabric": ws.fabric, missing: gone}
    result = cli("plan", "--cluster", args["cluster"], "--fabric", args["fabric"])
    assert result.code == 1
    assert f"error: {gone}: no such file" in result.err


def test_missing_plan_file_is_named(ws: Workspace, cli: Run) -> None:
    result = cli("apply", "--plan", ws.root / "nope.json", "--fabric", ws.fabric, "--auto-approve")
    assert result.code == 1
    assert f"{ws.root / 'nope.json'}: no such file" in result.err


def test_help_exits_0(cli: Run) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("validate", "plan", "apply", "graph", "explain", "drivers"):
        assert command in result.out
    assert cli("plan", "--help").code == 0
