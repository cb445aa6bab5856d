"""Undo everything a ledger lists: pods, sshds, FRR instances, namespaces (and what runs in them), users, files.

Each step is safe to repeat and ignores what is already gone, so tear-down is idempotent and also
cleans up after a bring-up that failed half way.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lab_cni
import lab_frr
import lab_ssh
from lab_host import Ledger, delete_netns, delete_user, remove_path


def _del_pod(entry: dict[str, Any]) -> None:
    lab_cni.del_pod(entry["node_netns"], entry["netns"], entry["container_id"], Path(entry["conf"]))


def _stop_frr(entry: dict[str, Any]) -> None:
    lab_frr.stop(lab_frr.Instance(entry["pathspace"], entry["hostname"]))


#: (kind, how to undo one entry, in parallel?) in the order tear-down runs them.
STEPS: list[tuple[str, Callable[[dict[str, Any]], None], bool]] = [
    ("pod", _del_pod, True),
    ("sshd", lambda e: lab_ssh.stop_sshd(e["pidfile"], e["config"]), False),
    ("frr", _stop_frr, True),
    ("netns", lambda e: delete_netns(e["name"]), False),
    ("user", lambda e: delete_user(e["name"]), False),
    ("path", lambda e: remove_path(Path(e["path"])), False),
    ("privsep-dir", lambda e: lab_ssh.release_privsep_dir(e["path"]), False),
]


def teardown(ledger: Ledger) -> list[str]:
    """Undo every entry (newest first within a kind); returns the problems met (none: all gone)."""
    problems: list[str] = []
    for kind, undo, parallel in STEPS:
        entries = list(reversed(ledger.of_kind(kind)))
        if parallel and len(entries) > 1:
            with ThreadPoolExecutor(max_workers=8) as pool:
                outcomes = list(pool.map(lambda e, u=undo: _attempt(u, e), entries))
        else:
            outcomes = [_attempt(undo, e) for e in entries]
        problems += [o for o in outcomes if o]
    if not problems:
        ledger.path.unlink(missing_ok=True)
    return problems


def _attempt(undo: Callable[[dict[str, Any]], None], entry: dict[str, Any]) -> str:
    try:
        undo(entry)
    except Exception as exc:  # keep going: one stuck item must not leave the rest behind
        return f"{entry}: {exc}"
    return ""
